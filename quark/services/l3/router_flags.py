"""A router's ``ha`` and ``distributed`` flags (Neutron's ``l3-ha`` and ``dvr``):
their defaults and the rules for changing them, as Neutron's
(neutron/db/l3_hamode_db.py ``_validate_migration``, l3_dvr_db.py
``_validate_router_migration`` with ``router-admin-state-down-before-update``).

Who may give them is the policy's (admin only by default). What they mean
on hosts: ``ha`` is the L3 scheduler's (several hosts, one active: docs/l3.md);
``distributed`` is stored and shown, and realised centrally like any router
(Quark's agents are a network-node design: docs/routers.md).
"""

from __future__ import annotations

from typing import Any

from quark.config import Settings
from quark.services.l3.router_errors import RouterBadRequest

HA_ACTIVE = "Cannot change HA attribute of active routers. Please set router admin_state_up to False prior to upgrade"
DVR_ACTIVE = (
    "Cannot change the 'distributed' attribute of active routers. "
    "Please set router admin_state_up to False prior to upgrade"
)


def initial(attrs: dict, settings: Settings) -> dict[str, bool]:
    """The flags of a new router: as given, else the deployment's defaults."""
    ha = attrs.get("ha")
    distributed = attrs.get("distributed")
    return {
        "ha": settings.l3_ha if ha is None else bool(ha),
        "distributed": settings.router_distributed if distributed is None else bool(distributed),
    }


def changes(router: Any, attrs: dict) -> dict[str, bool]:
    """The flags an update changes, checked: ``ha`` changes only on a router
    that is admin-down after the update (Neutron checks the desired state),
    ``distributed`` only on one that is admin-down before and after it (the
    ``router-admin-state-down-before-update`` rule); 400 otherwise."""
    up_after = bool(attrs.get("admin_state_up", router.admin_state_up))
    out: dict[str, bool] = {}
    if attrs.get("ha") is not None and bool(attrs["ha"]) != router.ha:
        if up_after:
            raise RouterBadRequest(msg=HA_ACTIVE)
        out["ha"] = bool(attrs["ha"])
    if attrs.get("distributed") is not None and bool(attrs["distributed"]) != router.distributed:
        if router.admin_state_up or up_after:
            raise RouterBadRequest(msg=DVR_ACTIVE)
        out["distributed"] = bool(attrs["distributed"])
    return out
