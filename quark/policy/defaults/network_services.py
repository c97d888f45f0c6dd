"""Quark's network services per project (docs/network_services.md).

The services themselves (their drivers and physical networks are the
deployment's business, as Neutron keeps provider attributes to admins) are
admin-only. A project's association is managed by admins and *read* by the
project's readers: a project may learn which service its networks get, by
id, without seeing the service's details.
"""

from __future__ import annotations

from quark.policy.defaults._build import documented
from quark.policy.personas import ADMIN, ADMIN_OR_PROJECT_READER

RULES = [
    *documented(
        "network_service",
        "/network-services",
        "network service",
        [(f"{verb}_network_service", ADMIN) for verb in ("create", "get", "update", "delete")],
    ),
    *documented(
        "network_service_association",
        "/network-service-associations",
        "network service association",
        [
            ("create_network_service_association", ADMIN),
            ("get_network_service_association", ADMIN_OR_PROJECT_READER),
            ("update_network_service_association", ADMIN),
            ("delete_network_service_association", ADMIN),
        ],
    ),
]
