"""Neutron's service providers (``GET /v2.0/service-providers``, alias
``service-type``): which backends can realise which service.

In Quark the providers are the installed backend drivers (entry points of
``quark.drivers``): each realises the core resources (networks, subnets,
ports, security groups: ``CORE``) of the networks that name it, and routers
(``L3_ROUTER_NAT``); the deployment's ``backend_driver`` is the default of
both. The list is derived from what is installed, never configured apart, so
it cannot name a provider that is not there.
"""

from __future__ import annotations

from quark.drivers import loading

SERVICE_TYPES = ("CORE", "L3_ROUTER_NAT")


def service_providers(default_driver: str) -> list[dict[str, object]]:
    return [
        {"service_type": service_type, "name": name, "default": name == default_driver}
        for service_type in SERVICE_TYPES
        for name in loading.names()
    ]
