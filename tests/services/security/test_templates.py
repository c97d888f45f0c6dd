"""Default security-group rule templates, without HTTP: what a new group gets
follows the templates (``PARENT`` → the group), its rules count against the
rule quota as many as they are (a group whose template rules do not fit is
refused whole), and a refused template leaves nothing."""

from __future__ import annotations

from sqlalchemy import select

from quark import errors
from quark.db import models
from quark.services.security.templates import DefaultSecurityGroupRuleExists
from tests.services.conftest import ADMIN, member

rules = models.security_group_rules
sg = models.security_groups


async def rules_of(env, group_id: str) -> set[tuple]:
    rows = await env.read(select(rules).where(rules.c.security_group_id == group_id))
    return {(r.direction, r.ethertype, r.protocol, r.port_range_min, r.remote_group_id) for r in rows}


async def test_new_groups_follow_the_templates_and_their_quota(env):
    templates = env.services.default_security_group_rules
    await templates.create(ADMIN, {"direction": "ingress", "protocol": "tcp", "port_range_min": 22,
                                   "port_range_max": 22, "used_in_default_sg": True})  # fmt: skip
    await templates.create(ADMIN, {"direction": "ingress", "protocol": "icmp", "remote_group_id": "PARENT",
                                   "used_in_non_default_sg": False, "used_in_default_sg": True})  # fmt: skip
    ctx = member()
    group = await env.services.security_groups.create(ctx, {"name": "web"})
    assert await rules_of(env, group["id"]) == {
        ("egress", "IPv4", None, None, None),
        ("egress", "IPv6", None, None, None),
        ("ingress", "IPv4", "tcp", 22, None),
    }
    (default_id,) = await env.read(select(sg.c.id).where(sg.c.project_id == ctx.project_id, sg.c.name == "default"))
    assert await rules_of(env, default_id[0]) == {
        ("egress", "IPv4", None, None, None),
        ("egress", "IPv6", None, None, None),
        ("ingress", "IPv4", None, None, default_id[0]),
        ("ingress", "IPv6", None, None, default_id[0]),
        ("ingress", "IPv4", "tcp", 22, None),
        ("ingress", "IPv4", "icmp", None, default_id[0]),
    }
    # Three rules per new group now: a rule quota with room for two refuses the group whole.
    other = member()
    await env.services.quotas.update(ADMIN, other.project_id, {"security_group_rule": 2})
    await env.refused(errors.OverQuota, env.services.security_groups.create(other, {"name": "web"}))


async def test_a_refused_template_leaves_nothing(env):
    templates = env.services.default_security_group_rules
    await env.refused(DefaultSecurityGroupRuleExists, templates.create(ADMIN, {"direction": "egress"}))
    ssh = {"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}
    await templates.create(ADMIN, {**ssh, "used_in_default_sg": True, "used_in_non_default_sg": True})
    for flags in ((True, False), (False, True)):  # shares a flag with the first: the same template
        again = {**ssh, "used_in_default_sg": flags[0], "used_in_non_default_sg": flags[1]}
        await env.refused(DefaultSecurityGroupRuleExists, templates.create(ADMIN, again))
    rdp = {"direction": "ingress", "protocol": "tcp", "port_range_min": 3389, "port_range_max": 3389}
    await templates.create(ADMIN, {**rdp, "used_in_default_sg": True, "used_in_non_default_sg": False})
    await templates.create(ADMIN, {**rdp, "used_in_default_sg": False, "used_in_non_default_sg": True})
    bad = {"direction": "ingress", "port_range_min": 80}
    await env.refused(errors.SecurityGroupProtocolRequiredWithPorts, templates.create(ADMIN, bad))
