"""Quark's ``instances`` extension: a device's ports in one request."""

from __future__ import annotations

from quark.policy.defaults._build import custom
from quark.policy.personas import ADMIN_OR_PROJECT_MEMBER, ADMIN_OR_PROJECT_READER, ADMIN_OR_SERVICE, SERVICE, any_of

RULES = [
    custom(
        "create_instance",
        any_of(ADMIN_OR_PROJECT_MEMBER, SERVICE),
        "Create all the ports of a device in one transaction (each port is also checked as a port create)",
        [("POST", "/instances")],
    ),
    custom(
        "create_instance:binding:host_id",
        ADMIN_OR_SERVICE,
        "``binding:host_id`` when creating an instance's ports (binds them)",
        [("POST", "/instances")],
    ),
    custom(
        "get_instance",
        any_of(ADMIN_OR_PROJECT_READER, SERVICE),
        "Read a device's network information",
        [("GET", "/instances/{device_id}")],
    ),
    custom(
        "delete_instance",
        any_of(ADMIN_OR_PROJECT_MEMBER, SERVICE),
        "Delete all the ports of a device",
        [("DELETE", "/instances/{device_id}")],
    ),
]
