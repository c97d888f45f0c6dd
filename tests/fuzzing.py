"""The schemathesis settings of the bounded fuzz run (tests/api/test_fuzz_openapi.py).

Bounded: a fixed seed and deterministic generation (the same requests on every
run, so a failure is a regression, not bad luck), and few examples per
operation, so that both identities together stay within a few minutes on a
two-core machine. QUARK_FUZZ_EXAMPLES / QUARK_FUZZ_SEED widen or move the run
for a manual exploration; the failure output carries the seed and a curl.
"""

from __future__ import annotations

import os
import re
import uuid

import schemathesis
from hypothesis import HealthCheck, settings

from quark import errors
from quark.api import idempotency
from quark.context import NOAUTH_PROJECT

# Examples per operation in the fuzzing phase; the coverage phase adds its own
# boundary and negative cases (each value the schema names, each bound ± 1).
EXAMPLES = int(os.environ.get("QUARK_FUZZ_EXAMPLES", "6"))
SEED = int(os.environ.get("QUARK_FUZZ_SEED", "16"))
# Steps and scenarios of the stateful phase (create → show/update/delete chains).
STATEFUL_STEPS = int(os.environ.get("QUARK_FUZZ_STEPS", "6"))
STATEFUL_SCENARIOS = int(os.environ.get("QUARK_FUZZ_SCENARIOS", "20"))

# Who the fuzzer is, in noauth mode (quark/api/middleware.py): no project header
# is the admin of NOAUTH_PROJECT; a member is a project of its own.
IDENTITIES = {
    "admin": {"X-Project-Id": NOAUTH_PROJECT, "X-Roles": "admin"},
    "member": {"X-Project-Id": "fuzz-member", "X-Roles": "member"},
}


def replay_line() -> str:
    """The settings of this run, as the environment that replays it."""
    return (
        f"QUARK_FUZZ_SEED={SEED} QUARK_FUZZ_EXAMPLES={EXAMPLES} "
        f"QUARK_FUZZ_SCENARIOS={STATEFUL_SCENARIOS} QUARK_FUZZ_STEPS={STATEFUL_STEPS}"
    )


def fuzz_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # A long poll (the hosts' watch endpoints) waits at most 60 s by contract.
            "request-timeout": 70,
            "suppress-health-check": ["too_slow", "filter_too_much"],
            # Failures must be reproducible as printed: no "[Filtered]" in the curl.
            "output": {"sanitization": {"enabled": False}},
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
                # NUL in any string is refused with 400 on purpose (issue 16: PostgreSQL
                # cannot store it; tests/api/test_bad_input.py). The document cannot say so
                # of the free-form JSON values (binding:profile, unknown keys of extra
                # properties), so the positive cases leave NUL out.
                "allow-x00": False,
            },
            "checks": {"enabled": True},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
            },
        }
    )


def state_machine_settings() -> settings:
    return settings(
        max_examples=STATEFUL_SCENARIOS,
        stateful_step_count=STATEFUL_STEPS,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


def _as_list(value: object) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def pair_sort_directions(query: dict | None) -> dict | None:
    """Give each sort_key its sort_dir, as the document says (the query parameters' text).

    Neutron pairs the two by position and refuses unequal counts with 400 (the
    contract, §2.3; quark/api/query.py). OpenAPI 3.0 cannot state a rule across two
    parameters, so the generator would send, as "valid", a sort_dir with no sort_key.
    Only well-formed directions are paired: a case whose sort_dir is itself invalid
    (a negative case) is sent as drawn and must still be refused.
    """
    if not query or "sort_dir" not in query:
        return query
    keys = _as_list(query.get("sort_key", []))
    dirs = _as_list(query["sort_dir"])
    if not all(d in ("asc", "desc") for d in dirs):
        return query
    paired = dict(query)
    if keys:
        paired["sort_dir"] = (dirs + ["asc"] * len(keys))[: len(keys)]
    else:
        del paired["sort_dir"]
    return paired


# Longest hold of a watch request during the fuzz run, in seconds.
FUZZ_MAX_WAIT = 1


def hold_long_polls_briefly(query: dict | None) -> dict | None:
    """Hold a watch request (``wait``, up to 60 s by the document) at most FUZZ_MAX_WAIT.

    A valid ``wait`` on a host whose generation equals ``since`` is answered only
    when it runs out: drawn up to 60 s, a handful of them would take the run's
    whole budget. The long poll's timing has its own tests (tests/api/test_dataplane.py);
    an out-of-range or malformed ``wait`` (a negative case) is sent as drawn.
    """
    if not query or "wait" not in query:
        return query
    wait = query["wait"]
    if isinstance(wait, int) and not isinstance(wait, bool) and 0 <= wait:
        return {**query, "wait": min(wait, FUZZ_MAX_WAIT)}
    return query


def _objects(body: object) -> list[dict]:
    """Every JSON object of a body, nested ones too (a network's nested subnet bodies)."""
    if isinstance(body, list):
        return [o for item in body for o in _objects(item)]
    if not isinstance(body, dict):
        return []
    return [body, *(o for value in body.values() for o in _objects(value))]


def align_project_ids(body: object) -> object:
    """Give tenant_id the value of project_id when a body names both (as text).

    tenant_id is Neutron's older name of project_id: both may be sent, but two
    different values are a 400 ("'project_id' and 'tenant_id' do not match"), a rule
    across two attributes that OpenAPI 3.0 cannot state (the document says it in
    the attribute's description). A wrongly typed one (a negative case) is left as drawn.
    """
    for item in _objects(body):
        project, tenant = item.get("project_id"), item.get("tenant_id")
        if isinstance(project, str) and isinstance(tenant, str) and project != tenant:
            item["tenant_id"] = project
    return body


def fresh_idempotency_key(headers: dict | None) -> dict | None:
    """Make a well-formed drawn ``Idempotency-Key`` new to the server (a bare token).

    The generator draws few distinct keys ("0", "a", ...) for many different
    bodies: the server rightly answers the second body under a used key with 422
    (IdempotencyKeyReused, docs/idempotency.md), a rule across requests the
    document cannot state. Replay, 409 and 422 have their own tests
    (tests/api/test_idempotency.py); a malformed key (a negative case) is sent as drawn.
    """
    if not headers or idempotency.HEADER not in headers:
        return headers
    try:
        if idempotency.parse_key([headers[idempotency.HEADER]]) is None:
            return headers
    except errors.QuarkError:
        return headers
    return {**headers, idempotency.HEADER: f"fuzz-{uuid.uuid4().hex}"}


def shape_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """The ``map_case`` hook of the run (every phase applies it; ``map_query`` only some)."""
    if case.query:
        case.query = hold_long_polls_briefly(pair_sort_directions(case.query))
    if isinstance(case.body, dict):
        case.body = align_project_ids(case.body)
    case.headers = fresh_idempotency_key(case.headers)
    return case


# Rules across several values of one request that OpenAPI 3.0 cannot state, by
# operation: a schema-valid request that breaks one is refused with 400 and this
# message, which is right (the server must refuse it), so the fuzzer's
# positive_data_acceptance failure for it is dropped. Any other 400 to a
# schema-valid request still fails the run.
# A subnet's cidr, ip_version, gateway, pools, host routes, nameservers and IPv6 modes are
# checked together by the service (quark/services/core/subnets.py), each refusal an
# InvalidInput ("Invalid input for operation: ..."); the parser's own checks of each value
# (types, lengths, enums: what the document states) are HTTPBadRequest and still count.
# Subnets come in their own POST and nested in a network's.
SUBNET_RULES = r"^Invalid input for operation: |^Bad subnets request: "
_PF_COLLECTION = "/v2.0/floatingips/{floatingip_id}/port_forwardings"
_PF_RANGE = r"^Invalid input for \w+_port_range\. Reason: Invalid port range"
_PF_RULES = r"^Bad port_forwarding request: "

# From a subnet pool (docs/subnet_pools.md): the size within the pool's bounds, one pool per
# network and IP version.
SUBNET_POOL_RULES = (
    r"^Unable to allocate subnet with prefix length",
    r"^Subnets hosted on the same network must be allocated from the same subnet pool",
)
# A pool's prefixes (one IP version, not empty, IPv6 spellings the pattern cannot tell) and
# bounds (min <= default <= max <= the version's width) are checked together; one default
# pool per IP version; an update keeps every prefix; a prefix in use stays.
POOL_RULES = (
    r"^Illegal prefix bounds: ",
    r"^Cannot mix IPv4 and IPv6 prefixes",
    r"^Empty subnet pool prefix list",
    r"is not a valid IP subnet",
    r"^Illegal update to prefixes: ",
    r"^Illegal subnetpool",
    r"A default subnetpool for this IP family has already been set",
)
# An address group's addresses: IPv6 spellings the pattern cannot tell; an address added twice.
ADDRESS_GROUP_RULES = (r"is not a valid IP subnet", r"^Addresses .* already exist in the address group")
RBAC_RULES = (
    r"is not a valid RBAC object type",
    r"^Invalid action '",
    r"is not a valid target project ID",
    r"^Invalid input for operation: Only admins can manipulate",
    r"^Invalid input for operation: .* could not be found",
    r"Required attribute 'target_tenant' not specified",
    # a pool in an address scope: only to projects the scope is shared with (Neutron)
    r"^Failed to create RBAC policy on object .* because ",
)
NETWORK_SERVICE_RULES = (
    r"is not an installed driver",
    r"does not realise \w+ networks",
    r"is (required|not allowed) for a \w+ network service",
)
# A rule's (and a default rule template's) ports, protocol, ethertype, prefix and remote
# are checked together (quark/services/security/rule_checks.py, Neutron's order).
RULE_RULES = (
    r"^Only remote_ip_prefix or remote_group_id may be provided",
    r"^Security group rule protocol .* not supported",
    r"^Must also specify protocol if port range is given",
    r"^For TCP/UDP protocols, port_range_min must be <= port_range_max",
    r"^ICMP code \(port-range-max\)",
    r"^Invalid value for ICMP",
    r"^Conflicting value ethertype",
    r"^Invalid value for port",
    r"^Ports cannot be specified for protocol",
    r"^Invalid ethertype",
    r"is neither PARENT nor a group id",
    r"is not a valid IP prefix",
)
# A network segment range's bounds depend on its network_type, a vlan one names its
# physical network, minimum <= maximum; gre/geneve are Neutron's types without Quark ranges.
NETWORK_SEGMENT_RANGE_RULES = (
    r"is (required|not allowed) for a \w+ range",
    r"is outside the \w+ ids",
    r"is greater than maximum",
    r"does not support network segment ranges",
)
# provider attributes depend on network_type (physical_network only for flat/vlan, ...),
# for a network and for a segment alike (docs/segments.md)
PROVIDER_RULES = (
    r"specified for \w+ network",
    r"is required for a \w+ (network|range)",
    r"not allowed for \w+ (provider )?networks?",
    r"required for \w+ provider network",
    r"segmentation_id out of range",
)
# a subnet's segment_id: a segment of its network; a network's subnets all on segments or none
SEGMENT_SUBNET_RULES = (
    r"must either all be associated with segments",
    r"doesn't match the network_id of segment",
)

# /v2.0/ipam (docs/neutron_ipam_driver.md): addresses, CIDRs and pools are checked by the
# service (the document states only strings); a registered id keeps its network and CIDR;
# one allocation's subnets are of one network.
IPAM_RULES = (
    r"is not a valid IP (subnet|address)",
    r"is registered with another network or CIDR",
    r"must all be subnets of one network",
)
CROSS_FIELD_RULES: dict[tuple[str, str], tuple[str, ...]] = {
    # check_limit compares a new limit with the project's usage, which the other operations
    # change (an admin's security-group list filtered by project makes its default group)
    ("PUT", "/v2.0/quotas/{project_id}"): (r"must be greater than or equal to already used",),
    ("PUT", "/v2.0/ipam/subnets/{id}"): IPAM_RULES,
    ("POST", "/v2.0/ipam/allocations"): IPAM_RULES,
    ("DELETE", "/v2.0/ipam/subnets/{id}/allocations/{ip_address}"): IPAM_RULES,
    ("POST", "/v2.0/network_segment_ranges"): NETWORK_SEGMENT_RANGE_RULES,
    ("PUT", "/v2.0/network_segment_ranges/{id}"): NETWORK_SEGMENT_RANGE_RULES,
    ("POST", "/v2.0/network-segment-ranges"): NETWORK_SEGMENT_RANGE_RULES,  # the same collection
    ("PUT", "/v2.0/network-segment-ranges/{id}"): NETWORK_SEGMENT_RANGE_RULES,
    ("POST", "/v2.0/default-security-group-rules"): RULE_RULES,
    ("POST", "/v2.0/networks"): (
        *PROVIDER_RULES,
        r"provider:network_type required",
        r"does not realise \w+ networks",  # network_plugin × network type (docs/network_services.md)
        # multi-provider segments: not with provider:*, no duplicates (docs/segments.md)
        r"^Segments and provider values cannot both be set",
        r"^Duplicate segment entry in request",
        SUBNET_RULES,
        *SUBNET_POOL_RULES,
    ),
    ("POST", "/v2.0/segments"): PROVIDER_RULES,
    ("POST", "/v2.0/subnets"): (SUBNET_RULES, *SUBNET_POOL_RULES, *SEGMENT_SUBNET_RULES),
    # subnet-segmentid-writable: only a network's one subnet, onto its one segment, once (docs/segments.md)
    ("PUT", "/v2.0/subnets/{id}"): (
        SUBNET_RULES,
        *SEGMENT_SUBNET_RULES,
        r"cannot have its segment association changed",
        r"has multiple segments",
    ),
    # availability_zone_hints: at most 255 characters as one JSON list (Neutron's column)
    # ... and a flavor_id of another service than L3_ROUTER_NAT (l3-flavors, docs/flavors.md)
    ("POST", "/v2.0/routers"): (
        r"^Invalid input for operation: Too many availability_zone_hints specified",
        r"^Invalid service type",
        # a flavor's provider sets ha/distributed: not both in one request (l3-flavors)
        r"Cannot specify both 'flavor_id' and 'ha' or 'distributed'",
    ),
    # a service profile needs a driver or metainfo (Neutron's ServiceProfileEmpty)
    ("POST", "/v2.0/service_profiles"): (r"^Service Profile needs either a driver or metainfo",),
    ("POST", "/v2.0/subnetpools"): POOL_RULES,
    ("PUT", "/v2.0/subnetpools/{id}"): POOL_RULES,
    ("PUT", "/v2.0/subnetpools/{id}/add_prefixes"): POOL_RULES,
    ("PUT", "/v2.0/subnetpools/{id}/remove_prefixes"): POOL_RULES,
    ("POST", "/v2.0/address-groups"): ADDRESS_GROUP_RULES,
    ("PUT", "/v2.0/address-groups/{id}/add_addresses"): ADDRESS_GROUP_RULES,
    ("PUT", "/v2.0/address-groups/{id}/remove_addresses"): ADDRESS_GROUP_RULES,
    # delete by filter is refused without a filter (docs/instances.md)
    ("DELETE", "/v2.0/ports"): (r"needs at least one filter",),
    # not across fields, but unstatable too: OpenAPI 3.0 has no propertyNames, and the
    # keys of this map are port ids (1-36 characters)
    ("PUT", "/v2.0/hosts/{host}/port_status"): (r"^Invalid port id",),
    ("PUT", "/v2.0/hosts/{host}/l3_status"): (r"^Invalid id",),  # router / floating IP ids, as above
    # a range is cidr or first/last, first before last, no multicast address in it
    ("POST", "/v2.0/mac_address_ranges"): (r"^Invalid MAC address range",),
    # a policy targets subnet_ids or network_ids; exclude holds CIDRs (checked by ipaddress)
    ("POST", "/v2.0/ip_policies"): (
        r"needs subnet_ids or network_ids",
        r"to subnets or to networks, not both",
        r"needs at least one CIDR",
        r"not a valid CIDR",
    ),
    # RBAC policies: the object types are a registry filled at start (more as resources
    # become shareable), actions depend on the type, the target is '*' or UUID-like, the
    # object must exist and be the caller's (Neutron's InvalidInput, docs/rbac.md)
    ("POST", "/v2.0/rbac-policies"): RBAC_RULES,
    ("PUT", "/v2.0/rbac-policies/{id}"): RBAC_RULES,
    # a vlan range names its physical network (a vxlan one none); the ids' bounds depend on
    # network_type; minimum <= maximum
    # a port range is N or N:M with N <= M (the pattern cannot order them); the plugin's
    # refusals across fields and rows (single ports or ranges, N-N or N-1, collisions, the
    # router between the port and the floating IP) are Neutron's BadRequest of port_forwarding
    ("GET", _PF_COLLECTION): (_PF_RANGE,),
    ("POST", _PF_COLLECTION): (_PF_RANGE, _PF_RULES),
    ("PUT", _PF_COLLECTION + "/{id}"): (_PF_RANGE, _PF_RULES),
    # a network service: its driver installed and declaring the kind's type; the physical
    # network by kind (docs/network_services.md)
    ("POST", "/v2.0/network-services"): NETWORK_SERVICE_RULES,
    ("PUT", "/v2.0/network-services/{id}"): NETWORK_SERVICE_RULES,
    ("POST", "/v2.0/segment_allocation_ranges"): (
        r"is (required|not allowed) for a \w+ range",
        r"is outside the \w+ ids",
        r"is greater than maximum",
    ),
}


def _message(response: object) -> str:
    try:
        return str(response.json()["NeutronError"]["message"])  # type: ignore[attr-defined]
    except (ValueError, KeyError, TypeError):
        return ""


# Refusals of any operation: NUL is refused everywhere (allow-x00 = false above; a phase
# that still puts one in a nested string, seen in the coverage phase, gets this 400), and a
# member naming another project in a body is a 400 in Neutron (the document has no
# per-role schemas).
ANY_OPERATION = ("the NUL character", r"other than the authenticated project in request requires admin")


def keep_failure(context: schemathesis.HookContext, failure: object, case: schemathesis.Case, response: object) -> bool:
    """The ``filter_failure`` hook: drop only a 400 for a rule of CROSS_FIELD_RULES, and
    use_after_free on a tag list.

    DELETE /{id}/tags removes every tag (Neutron's "remove all tags"), not the list:
    a GET of it then answers 200 with {"tags": []}, as Neutron does, where
    use_after_free expects the 404 of a deleted resource.
    """
    if type(failure).__name__ == "UseAfterFree" and case.path.endswith("/tags"):
        return False
    if type(failure).__name__ != "RejectedPositiveData" or getattr(response, "status_code", 0) != 400:
        return True
    rules = (*ANY_OPERATION, *CROSS_FIELD_RULES.get((case.method.upper(), case.path), ()))
    return not any(re.search(rule, _message(response)) for rule in rules)
