"""Every default rule, as data, one module per area (Neutron's rule names and
check strings for Neutron's resources; the same style for Quark's own)."""

from __future__ import annotations

from oslo_policy import policy

from quark.policy.defaults import (
    addressing,
    base,
    compute,
    dataplane,
    flavors,
    jobs,
    l3,
    network_services,
    networks,
    pools,
    ports,
    quotas,
    rbac,
    security,
    subnets,
)

MODULES = (
    base,
    networks,
    subnets,
    ports,
    security,
    l3,
    pools,
    addressing,
    dataplane,
    compute,
    quotas,
    jobs,
    rbac,
    network_services,
    flavors,
)


def all_rules() -> list[policy.RuleDefault]:
    return [rule for module in MODULES for rule in module.RULES]
