"""Ports (Neutron's defaults): the network owner's attributes, the service's bindings."""

from __future__ import annotations

from quark.policy.defaults._build import documented, plain
from quark.policy.personas import (
    ADMIN,
    ADMIN_OR_PROJECT_MEMBER,
    ADMIN_OR_SERVICE,
    NET_OWNER,
    PROJECT_MEMBER,
    PROJECT_READER,
    SERVICE,
    any_of,
    either,
)

_NET_MEMBER = f"role:member and {NET_OWNER}"
_ADMIN_SERVICE_OWNER = any_of(either(ADMIN, SERVICE), _NET_MEMBER)
_ADMIN_SERVICE_OWNER_SHARED = any_of(_ADMIN_SERVICE_OWNER, "rule:shared")
_PAIRS = any_of(either(ADMIN, _NET_MEMBER), SERVICE)
_OWN_OR_SERVICE = any_of(ADMIN_OR_PROJECT_MEMBER, SERVICE)
_DEVICE_OWNER = any_of("not rule:network_device", either(ADMIN, SERVICE), _NET_MEMBER)
_ADVSVC = "rule:context_is_advsvc"

RULES = [
    plain("network_device", "field:port:device_owner=~^network:", "The port belongs to a network service"),
    plain(
        "admin_or_data_plane_int",
        "rule:context_is_admin or role:data_plane_integrator",
        "An admin or the data plane integrator",
    ),
    *documented(
        "port",
        "/ports",
        "port",
        [
            ("create_port", _ADMIN_SERVICE_OWNER_SHARED),
            ("create_port:device_id", _OWN_OR_SERVICE),
            ("create_port:device_owner", _DEVICE_OWNER),
            ("create_port:mac_address", _ADMIN_SERVICE_OWNER),
            ("create_port:fixed_ips", _ADMIN_SERVICE_OWNER_SHARED),
            ("create_port:fixed_ips:ip_address", _ADMIN_SERVICE_OWNER),
            ("create_port:fixed_ips:subnet_id", _ADMIN_SERVICE_OWNER_SHARED),
            ("create_port:port_security_enabled", _ADMIN_SERVICE_OWNER),
            ("create_port:binding:host_id", ADMIN_OR_SERVICE),
            ("create_port:binding:profile", SERVICE),
            ("create_port:binding:vnic_type", _OWN_OR_SERVICE),
            ("create_port:allowed_address_pairs", _PAIRS),
            ("create_port:allowed_address_pairs:mac_address", _PAIRS),
            ("create_port:allowed_address_pairs:ip_address", _PAIRS),
            ("create_port:hints", ADMIN),
            ("create_port:trusted", ADMIN),
            ("create_port:tags", any_of(ADMIN_OR_PROJECT_MEMBER, _ADVSVC)),
            ("get_port", any_of(either(ADMIN, SERVICE), f"role:reader and {NET_OWNER}", PROJECT_READER)),
            ("get_port:binding:vif_type", ADMIN_OR_SERVICE),
            ("get_port:binding:vif_details", ADMIN_OR_SERVICE),
            ("get_port:binding:host_id", ADMIN_OR_SERVICE),
            ("get_port:binding:profile", ADMIN_OR_SERVICE),
            ("get_port:resource_request", ADMIN),
            ("get_port:hints", ADMIN),
            ("get_port:trusted", ADMIN),
            ("get_port:tags", any_of(_ADVSVC, either(ADMIN, f"role:reader and {NET_OWNER}"), PROJECT_READER)),
            ("update_port", any_of(either(ADMIN, SERVICE), PROJECT_MEMBER)),
            ("update_port:device_id", _OWN_OR_SERVICE),
            ("update_port:device_owner", _DEVICE_OWNER),
            ("update_port:mac_address", any_of(either(ADMIN, SERVICE), f"role:manager and {NET_OWNER}")),
            ("update_port:fixed_ips", _ADMIN_SERVICE_OWNER),
            ("update_port:fixed_ips:ip_address", _ADMIN_SERVICE_OWNER),
            ("update_port:fixed_ips:subnet_id", _ADMIN_SERVICE_OWNER_SHARED),
            ("update_port:port_security_enabled", _ADMIN_SERVICE_OWNER),
            ("update_port:binding:host_id", ADMIN_OR_SERVICE),
            ("update_port:binding:profile", SERVICE),
            ("update_port:binding:vnic_type", any_of(either(ADMIN, SERVICE), PROJECT_MEMBER)),
            ("update_port:allowed_address_pairs", _PAIRS),
            ("update_port:allowed_address_pairs:mac_address", _PAIRS),
            ("update_port:allowed_address_pairs:ip_address", _PAIRS),
            ("update_port:data_plane_status", "rule:admin_only or role:data_plane_integrator"),
            ("update_port:hints", ADMIN),
            ("update_port:trusted", ADMIN),
            ("update_port:tags", any_of(ADMIN_OR_PROJECT_MEMBER, _ADVSVC)),
            ("delete_port", any_of(either(ADMIN, SERVICE), _NET_MEMBER, PROJECT_MEMBER)),
            ("delete_port:tags", any_of(_ADVSVC, PROJECT_MEMBER, either(ADMIN, _NET_MEMBER))),
        ],
    ),
]
