"""Floating IPs and routers (Neutron's defaults: neutron/conf/policies/floatingip.py, router.py)."""

from __future__ import annotations

from quark.policy.defaults._build import custom, documented
from quark.policy.personas import (
    ADMIN,
    ADMIN_OR_PARENT_OWNER_MEMBER,
    ADMIN_OR_PARENT_OWNER_READER,
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

_FLOATINGIP_POOL = documented(
    "floatingip_pool", "/floatingip_pools", "floating IP pool", [("get_floatingip_pool", ADMIN_OR_PROJECT_READER)]
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

# A floating IP's port forwardings (neutron/conf/policies/floatingip_port_forwarding.py):
# the floating IP's project, as the parent's owner.
_PF_COLLECTION = "/floatingips/{floatingip_id}/port_forwardings"
_PF_MEMBER = _PF_COLLECTION + "/{port_forwarding_id}"
_PORT_FORWARDING = [
    custom(name, check, description, operations)
    for name, check, description, operations in (
        (
            "create_floatingip_port_forwarding",
            ADMIN_OR_PARENT_OWNER_MEMBER,
            "Create a floating IP port forwarding",
            [("POST", _PF_COLLECTION)],
        ),
        (
            "get_floatingip_port_forwarding",
            ADMIN_OR_PARENT_OWNER_READER,
            "Get a floating IP port forwarding",
            [("GET", _PF_COLLECTION), ("GET", _PF_MEMBER)],
        ),
        (
            "update_floatingip_port_forwarding",
            ADMIN_OR_PARENT_OWNER_MEMBER,
            "Update a floating IP port forwarding",
            [("PUT", _PF_MEMBER)],
        ),
        (
            "delete_floatingip_port_forwarding",
            ADMIN_OR_PARENT_OWNER_MEMBER,
            "Delete a floating IP port forwarding",
            [("DELETE", _PF_MEMBER)],
        ),
    )
]

# auto-allocated-topology (neutron/conf/policies/auto_allocated_topology.py)
_AUTO_TOPOLOGY = "/auto-allocated-topology/{project_id}"
_AUTO_ALLOCATE = [
    custom(
        "get_auto_allocated_topology",
        ADMIN_OR_PROJECT_READER,
        "Get a project's auto-allocated topology",
        [("GET", _AUTO_TOPOLOGY)],
    ),
    custom(
        "delete_auto_allocated_topology",
        ADMIN_OR_PROJECT_MEMBER,
        "Delete a project's auto-allocated topology",
        [("DELETE", _AUTO_TOPOLOGY)],
    ),
]

RULES = _FLOATINGIP + _FLOATINGIP_POOL + _ROUTER + _ACTIONS + _PORT_FORWARDING + _AUTO_ALLOCATE
