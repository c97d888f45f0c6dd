"""Agents (Neutron's defaults) and the hosts' API of Quark's dataplane (service and admin only)."""

from __future__ import annotations

from quark.policy.defaults._build import custom, documented
from quark.policy.personas import ADMIN, ADMIN_OR_SERVICE

RULES = [
    *documented(
        "agent",
        "/agents",
        "agent",
        [
            ("create_agent", ADMIN),
            ("get_agent", ADMIN),
            ("update_agent", ADMIN),
            ("delete_agent", ADMIN),
        ],
    ),
    # Neutron's l3_agent_scheduler (neutron/conf/policies/agent.py): admin only.
    custom("get_l3-agents", ADMIN, "List L3 agents hosting a router", [("GET", "/routers/{router_id}/l3-agents")]),
    custom("get_l3-routers", ADMIN, "List routers hosted by an L3 agent", [("GET", "/agents/{agent_id}/l3-routers")]),
    custom("create_l3-router", ADMIN, "Add a router to an L3 agent", [("POST", "/agents/{agent_id}/l3-routers")]),
    custom(
        "delete_l3-router",
        ADMIN,
        "Remove a router from an L3 agent",
        [("DELETE", "/agents/{agent_id}/l3-routers/{router_id}")],
    ),
    # Neutron's: any reader (a zone belongs to no project).
    *documented(
        "availability_zone", "/availability_zones", "availability zone", [("get_availability_zone", "role:reader")]
    ),
    custom(
        "create_agent_report",
        ADMIN_OR_SERVICE,
        "Report an agent's state (its heartbeat; registers the agent)",
        [("POST", "/agents/report")],
    ),
    custom(
        "get_desired_state",
        ADMIN_OR_SERVICE,
        "Read (long-poll) the desired state of a host's ports and networks",
        [("GET", "/hosts/{host}/desired_state")],
    ),
    custom(
        "get_dhcp_state",
        ADMIN_OR_SERVICE,
        "Read (long-poll) the DHCP state of a host",
        [("GET", "/hosts/{host}/dhcp_state")],
    ),
    custom(
        "update_port_status",
        ADMIN_OR_SERVICE,
        "Report the status of a host's ports",
        [("PUT", "/hosts/{host}/port_status")],
    ),
    custom(
        "update_l3_status",
        ADMIN_OR_SERVICE,
        "Report the status of a host's routers and floating IPs",
        [("PUT", "/hosts/{host}/l3_status")],
    ),
]
