"""Floating IPs and routers (Neutron's defaults: neutron/conf/policies/floatingip.py, router.py)."""

from __future__ import annotations

from quark.policy.defaults._build import custom, documented
from quark.policy.personas import (
    ADMIN,
    ADMIN_OR_PROJECT_MANAGER,
    ADMIN_OR_PROJECT_MEMBER,
    ADMIN_OR_PROJECT_READER,
)

_FLOATINGIP = documented(
    "floatingip",
    "/floatingips",
    "floating IP",
    [
        ("create_floatingip", ADMIN_OR_PROJECT_MEMBER),
        ("create_floatingip:floating_ip_address", ADMIN_OR_PROJECT_MANAGER),
        ("create_floatingip:tags", ADMIN_OR_PROJECT_MEMBER),
        ("get_floatingip", ADMIN_OR_PROJECT_READER),
        ("get_floatingip:tags", ADMIN_OR_PROJECT_READER),
        ("update_floatingip", ADMIN_OR_PROJECT_MEMBER),
        ("update_floatingip:tags", ADMIN_OR_PROJECT_MEMBER),
        ("delete_floatingip", ADMIN_OR_PROJECT_MEMBER),
        ("delete_floatingip:tags", ADMIN_OR_PROJECT_MEMBER),
    ],
)

_GATEWAY = "external_gateway_info"
_ROUTER = documented(
    "router",
    "/routers",
    "router",
    [
        ("create_router", ADMIN_OR_PROJECT_MEMBER),
        ("create_router:distributed", ADMIN),
        ("create_router:ha", ADMIN),
        (f"create_router:{_GATEWAY}", ADMIN_OR_PROJECT_MEMBER),
        (f"create_router:{_GATEWAY}:network_id", ADMIN_OR_PROJECT_MEMBER),
        (f"create_router:{_GATEWAY}:enable_snat", ADMIN),
        (f"create_router:{_GATEWAY}:external_fixed_ips", ADMIN),
        ("create_router:tags", ADMIN_OR_PROJECT_MEMBER),
        ("get_router", ADMIN_OR_PROJECT_READER),
        ("get_router:distributed", ADMIN),
        ("get_router:ha", ADMIN),
        ("get_router:tags", ADMIN_OR_PROJECT_READER),
        ("update_router", ADMIN_OR_PROJECT_MEMBER),
        ("update_router:distributed", ADMIN),
        ("update_router:ha", ADMIN),
        (f"update_router:{_GATEWAY}", ADMIN_OR_PROJECT_MEMBER),
        (f"update_router:{_GATEWAY}:network_id", ADMIN_OR_PROJECT_MEMBER),
        (f"update_router:{_GATEWAY}:enable_snat", ADMIN),
        (f"update_router:{_GATEWAY}:external_fixed_ips", ADMIN),
        ("update_router:tags", ADMIN_OR_PROJECT_MEMBER),
        ("delete_router", ADMIN_OR_PROJECT_MEMBER),
        ("delete_router:tags", ADMIN_OR_PROJECT_MEMBER),
    ],
)

_ACTIONS = [
    custom(
        f"{verb}_{what}",
        ADMIN_OR_PROJECT_MEMBER,
        description,
        [("PUT", f"/routers/{{id}}/{verb}_{what}")],
    )
    for verb, what, description in (
        ("add", "router_interface", "Add an interface to a router"),
        ("remove", "router_interface", "Remove an interface from a router"),
        ("add", "extraroutes", "Add extra routes to a router"),
        ("remove", "extraroutes", "Remove extra routes from a router"),
    )
]

RULES = _FLOATINGIP + _ROUTER + _ACTIONS
