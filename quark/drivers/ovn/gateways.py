"""Which chassis host a router's gateway port, in which order, and the NB rows that say so.

Two schemes, as Neutron's OVN driver has had them: ``Gateway_Chassis`` rows
of the gateway ``Logical_Router_Port`` (the older one, Quark's default), or
one ``HA_Chassis_Group`` per router (``quark-<router id>``, Neutron:
``neutron-<router id>``) that the port names in ``ha_chassis_group``, with
one ``HA_Chassis`` per chassis (priorities 32767 downwards, as Neutron's).
A port holds one or the other, never both (northd would take the group).

The order (``schedule``): ``ordered`` gives every gateway port the chassis
list as configured; ``leastloaded`` (Neutron's ``OVNGatewayLeastLoadedScheduler``
in spirit) puts first the chassis that is the active one (highest priority)
of the fewest other gateway ports, then the rest by the same count, ties
by name. A port already scheduled keeps the order of its chassis that are
still candidates (a rewrite of the port must not move its traffic); new
candidates go after them, by load.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.nb import current, find_named, insert, rows, set_columns

HIGHEST_PRIORITY = 32767  # Neutron's HA_CHASSIS_GROUP_HIGHEST_PRIORITY
SCHEDULERS = ("ordered", "leastloaded")


def group_name(router_id: str) -> str:
    return m.router_name(router_id)


def _ranked(pairs: Sequence[tuple[str, int]]) -> list[str]:
    """Chassis names by priority, highest first."""
    return [name for name, _ in sorted(pairs, key=lambda pair: -pair[1])]


def current_order(port: Any) -> list[str]:
    """The chassis of a gateway router port now, highest priority first (either scheme)."""
    group = current(port, "ha_chassis_group")
    if group:
        return _ranked([(str(c.chassis_name), int(c.priority)) for c in group[0].ha_chassis])
    return _ranked([(str(c.chassis_name), int(c.priority)) for c in current(port, "gateway_chassis")])


def active_load(api: Any, skip: Any) -> Counter[str]:
    """How many of Quark's gateway ports (other than ``skip``) each chassis is active for."""
    load: Counter[str] = Counter()
    for port in rows(api, "Logical_Router_Port"):
        if port.uuid == skip.uuid or port.external_ids.get(f"{m.PREFIX}gateway") != "true":
            continue
        order = current_order(port)
        if order:
            load[order[0]] += 1
    return load


def schedule(candidates: Sequence[str], held: Sequence[str], load: Mapping[str, int], scheduler: str) -> list[str]:
    """The order of ``candidates`` for one gateway port (see the module's docstring)."""
    if scheduler != "leastloaded":
        return list(candidates)
    kept = [name for name in held if name in candidates]
    fresh = sorted((name for name in candidates if name not in kept), key=lambda name: (load.get(name, 0), name))
    return kept + fresh


def write_gateway(txn: Any, api: Any, router: Any, port: Any, options: Mapping[str, Any]) -> None:
    """Schedule the gateway port over ``options["gateway_chassis"]`` and write it in the
    configured scheme, clearing the other one."""
    held = current_order(port)
    load = active_load(api, port) if options.get("gateway_scheduler") == "leastloaded" else {}
    order = schedule(options["gateway_chassis"], held, load, str(options.get("gateway_scheduler", "ordered")))
    if options.get("ha_chassis_group"):
        if current(port, "gateway_chassis"):
            port.gateway_chassis = []
        _ha_group(txn, api, router, port, order)
        return
    for group in current(port, "ha_chassis_group"):  # a root row: it would outlive the reference
        port.ha_chassis_group = []
        group.delete()
    _gateway_chassis(txn, api, port, order)


def _ha_group(txn: Any, api: Any, router: Any, port: Any, order: Sequence[str]) -> None:
    """The router's ``HA_Chassis_Group``: one ``HA_Chassis`` per chassis, kept by name."""
    router_id = str(router.external_ids.get(m.id_key("router"), ""))
    name = group_name(router_id)
    group = find_named(api, "HA_Chassis_Group", name)
    if group is None:
        group = insert(txn, api, "HA_Chassis_Group", {"name": name, "external_ids": {m.id_key("router"): router_id}})
        held: dict[str, Any] = {}
    else:
        held = {str(c.chassis_name): c for c in group.ha_chassis}
    wanted = []
    for i, chassis in enumerate(order):
        columns = {"chassis_name": chassis, "priority": HIGHEST_PRIORITY - i, "external_ids": {}}
        row = held.get(chassis)
        if row is None:
            row = insert(txn, api, "HA_Chassis", columns)
        elif int(row.priority) != columns["priority"]:
            row.priority = columns["priority"]
        wanted.append(row)
    if sorted(r.uuid for r in wanted) != sorted(r.uuid for r in held.values()):
        group.ha_chassis = wanted
    if [g.uuid for g in current(port, "ha_chassis_group")] != [group.uuid]:
        port.ha_chassis_group = group


def _gateway_chassis(txn: Any, api: Any, port: Any, chassis: Sequence[str]) -> None:
    """The gateway port's ``Gateway_Chassis``: rows kept by name (a unique index), updated in place."""
    held = {gc.name: gc for gc in current(port, "gateway_chassis")}
    wanted = []
    for columns in m.gateway_chassis(port.name, chassis):
        row = held.get(columns["name"])
        if row is None:
            row = insert(txn, api, "Gateway_Chassis", columns)
        else:
            set_columns(row, columns)
        wanted.append(row)
    if [r.uuid for r in wanted] != [r.uuid for r in held.values()]:
        port.gateway_chassis = wanted


def drop_group(api: Any, router_id: str) -> None:
    """Delete a router's ``HA_Chassis_Group`` (a root row: it outlives its router otherwise)."""
    group = find_named(api, "HA_Chassis_Group", group_name(router_id))
    if group is None:
        return
    for port in rows(api, "Logical_Router_Port"):  # the router's ports go with it, but only after the check
        if any(g.uuid == group.uuid for g in current(port, "ha_chassis_group")):
            port.ha_chassis_group = []
    group.delete()
