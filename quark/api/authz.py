"""The policy, applied the same way to every resource (Neutron's API semantics).

* create: ``create_<resource>`` on the body (its project filled in from the
  caller), then ``create_<resource>:<attribute>`` for each attribute the body
  sets to something other than its default, and ``...:<attribute>:<key>`` for
  the keys of list-of-dict attributes (``fixed_ips:ip_address``): 403.
* show / list: ``get_<resource>`` per object; an object it refuses is not
  found (404) or left out of the list; ``get_<resource>:<attribute>`` rules
  that refuse remove the attribute from the response.
* update / delete (and tags): ``update_<resource>`` (+ attributes present in
  the body) on the stored object merged with the body; refused → 403 when the
  caller may see the object, else 404.

Targets carry the facts of a parent when a rule needs them
(``network:project_id``, ``network:shared``, ``security_group:project_id``),
loaded in one query per request and only when they can change the answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quark import errors
from quark.api.definitions.base import UNSET, Resource
from quark.api.definitions.core import NESTED_CREATE
from quark.context import Context
from quark.policy import Parent, Policy
from quark.services.common.listing import ListQuery

# Attributes the policy may read even when a client asked for other ``fields``.
POLICY_KEYS = ("id", "project_id", "tenant_id", "network_id", "security_group_id", "shared", "router:external")


@dataclass(frozen=True)
class ParentRef:
    prefix: str  # "network": the target keys are "network:<column>"
    key: str  # the object's reference to it
    service: str  # attribute of quark.services.registry.Services
    columns: tuple[str, ...]
    missing: Callable[[str], errors.QuarkError]
    # The parent is reached through another row: (service, its column naming the parent).
    hop: tuple[str, str] | None = None


_NETWORK = ParentRef(
    "network",
    "network_id",
    "networks",
    ("project_id", "shared", "router:external"),
    lambda i: errors.NetworkNotFound(net_id=i),
)
_GROUP = ParentRef(
    "security_group",
    "security_group_id",
    "security_groups",
    ("project_id",),
    lambda i: errors.SecurityGroupNotFound(id=i),
)
# A subnet route's network, through its subnet.
_ROUTE_NETWORK = dataclasses.replace(
    _NETWORK, key="subnet_id", missing=lambda i: errors.SubnetNotFound(subnet_id=i), hop=("subnets", "network_id")
)
PARENTS: dict[str, ParentRef] = {
    "port": _NETWORK,
    "subnet": _NETWORK,
    "ip_address": _NETWORK,
    "route": _ROUTE_NETWORK,
    "security_group_rule": _GROUP,
}


# Owners of parents, by (prefix, reference): a project never changes (Neutron's
# project_id is not updatable), so a pass decided from the owner alone holds
# across requests; other facts (``shared``) are read per request. Bounded.
_OWNERS: dict[tuple[str, str], str] = {}
_OWNERS_MAX = 100_000


def _remember_owner(prefix: str, ref_id: str, project_id: str) -> None:
    if len(_OWNERS) >= _OWNERS_MAX:
        _OWNERS.clear()
    _OWNERS[(prefix, ref_id)] = project_id


def with_policy_fields(resource: Resource, query: ListQuery) -> ListQuery:
    """The query with the attributes the policy reads added to asked ``fields``."""
    if not query.fields:
        return query
    extra = [k for k in POLICY_KEYS if k in resource.by_name and k not in query.fields]
    return dataclasses.replace(query, fields=[*query.fields, *extra]) if extra else query


def explicit_attributes(resource: Resource, item: dict) -> list[str]:
    """Attributes a create sets to something else than their default (Neutron checks only these)."""
    out = []
    for name, value in item.items():
        attr = resource.by_name.get(name)
        if (
            attr is not None
            and name not in NESTED_CREATE.get(resource.name, {})
            and (attr.default is UNSET or value != attr.default)
        ):
            out.append(name)
    return out


class Authorizer:
    """One request's decisions: the caller's credentials, read once, and the
    decisions of rules that do not look at the target, made once."""

    def __init__(self, policy: Policy, ctx: Context, services: Any) -> None:
        self.policy = policy
        self.ctx = ctx
        self.services = services
        self.creds = ctx.policy_credentials()
        self._fixed: dict[str, bool] = {}
        self._facts: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._hidden: dict[str, dict[str, str]] = {}

    # --- single decisions --------------------------------------------------------

    def allowed(self, name: str, target: dict[str, Any]) -> bool:
        if name in self._fixed:
            return self._fixed[name]
        result = self.policy.check(name, target, self.creds)
        if self.policy.target_free(name):
            self._fixed[name] = result
        return result

    async def decide(self, resource_name: str, name: str, targets: list[dict[str, Any]]) -> list[bool]:
        """``name`` on each target; parents' facts loaded (one query) only for the
        targets whose answer they may change."""
        ref = PARENTS.get(resource_name)
        use = self.policy.parent_use(name)
        results: list[bool] = [False] * len(targets)
        pending: list[int] = []
        for i, target in enumerate(targets):
            if ref is None or use is Parent.NONE or f"{ref.prefix}:project_id" in target:
                results[i] = self.allowed(name, target)
            elif use is Parent.MONOTONE and self._passes_without_facts(ref, name, target):
                results[i] = True
            else:
                pending.append(i)
        if pending and ref is not None:
            filled = await self.with_parents(ref, [targets[i] for i in pending])
            for i, target in zip(pending, filled, strict=True):
                targets[i] = target
                results[i] = self.allowed(name, target)
        return results

    def _passes_without_facts(self, ref: ParentRef, name: str, target: dict[str, Any]) -> bool:
        """A monotone rule that passes on what is known (the target, the parent's
        remembered owner) passes with every fact: no query needed."""
        if self.allowed(name, target):
            return True
        owner = _OWNERS.get((ref.prefix, target.get(ref.key) or ""))
        if owner is None:
            return False
        return self.allowed(name, {**target, f"{ref.prefix}:project_id": owner, f"{ref.prefix}:tenant_id": owner})

    async def with_parents(self, ref: ParentRef, targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copies of ``targets`` with their parent's facts (none when it does not exist)."""
        unknown = {t[ref.key] for t in targets if t.get(ref.key) and (ref.prefix, t[ref.key]) not in self._facts}
        if unknown:
            hops = {i: i for i in unknown}
            if ref.hop is not None:
                through = await getattr(self.services, ref.hop[0]).facts(unknown, (ref.hop[1],))
                hops = {i: row[ref.hop[1]] for i, row in through.items()}
            found = await getattr(self.services, ref.service).facts(set(hops.values()), ref.columns, self.ctx)
            for ref_id in unknown:
                facts = found.get(hops.get(ref_id, ""))
                self._facts[(ref.prefix, ref_id)] = facts
                if facts is not None and facts.get("project_id"):
                    _remember_owner(ref.prefix, ref_id, facts["project_id"])
        out = []
        for target in targets:
            facts = self._facts.get((ref.prefix, target.get(ref.key) or ""))
            filled = dict(target)
            if facts is not None:
                filled.update({f"{ref.prefix}:{k}": v for k, v in facts.items()})
                filled[f"{ref.prefix}:tenant_id"] = facts["project_id"]
            out.append(filled)
        return out

    # --- what a request may do ---------------------------------------------------

    def require(self, name: str, target: dict[str, Any]) -> None:
        """403 unless ``name`` allows the caller on ``target`` (routes outside the collections)."""
        if not self.allowed(name, target):
            raise errors.PolicyNotAuthorized(action=f"rule:{name}")

    async def create(self, resource: Resource, items: list[dict[str, Any]]) -> None:
        own = {"project_id": self.ctx.project_id or None, "tenant_id": self.ctx.project_id or None}
        targets = [{**own, **item} for item in items]
        if "tenant_id" in resource.by_name:
            for target in targets:
                target["tenant_id"] = target["project_id"] = target.get("project_id") or target.get("tenant_id")
        action = f"create_{resource.name}"
        for target, ok in zip(targets, await self.decide(resource.name, action, targets), strict=True):
            if not ok:
                await self._refuse_create(resource, action, target)
        for index, item in enumerate(items):
            for name in self.attribute_rules(action, resource, item, explicit_attributes(resource, item)):
                one = [targets[index]]
                if not (await self.decide(resource.name, name, one))[0]:
                    await self._refuse_create(resource, name, one[0])
                targets[index] = one[0]
            await self._create_nested(resource, item, targets[index])

    async def _create_nested(self, resource: Resource, item: dict[str, Any], parent: dict[str, Any]) -> None:
        """Children created with their parent (a network's ``subnets``): each checked
        as its own create, the parent being the one in the same body."""
        for attribute, (child, _) in NESTED_CREATE.get(resource.name, {}).items():
            children = item.get(attribute) or []
            ref = PARENTS.get(child.name)
            if not children or ref is None:
                continue
            facts = {f"{ref.prefix}:{c}": parent.get(c) for c in ref.columns}
            facts[f"{ref.prefix}:tenant_id"] = parent.get("project_id")
            await self.create(child, [{"project_id": parent.get("project_id"), **facts, **c} for c in children])

    async def _refuse_create(self, resource: Resource, name: str, target: dict[str, Any]) -> None:
        """403, or the parent's 404 when the caller cannot see the parent at all."""
        ref = PARENTS.get(resource.name)
        if ref is not None and target.get(ref.key):
            filled = (await self.with_parents(ref, [target]))[0]
            if not self._parent_visible(ref, filled):
                raise ref.missing(target[ref.key])
        raise errors.PolicyNotAuthorized(action=f"rule:{name}")

    def _parent_visible(self, ref: ParentRef, target: dict[str, Any]) -> bool:
        """Whether the caller may see the parent (a missing one it may not): a rule on
        a group or network that does not exist answers that it is not found, as Neutron."""
        owner = target.get(f"{ref.prefix}:project_id")
        if owner is None:
            return False
        if self.ctx.is_admin or owner == self.ctx.project_id:
            return True
        return ref.prefix == "network" and bool(target.get("network:shared") or target.get("network:router:external"))

    def attribute_rules(self, action: str, resource: Resource, item: dict[str, Any], names: list[str]) -> list[str]:
        """``<action>:<attribute>`` rules (registered ones, as Neutron) for ``names``,
        and ``<action>:<attribute>:<key>`` for the keys of dict and list-of-dict values."""
        out = []
        for name in names:
            rule = f"{action}:{name}"
            if self.policy.registered(rule):
                out.append(rule)
            value = item.get(name)
            if isinstance(value, list):
                keys = dict.fromkeys(k for entry in value if isinstance(entry, dict) for k in entry)
                out += [f"{rule}:{k}" for k in keys if self.policy.registered(f"{rule}:{k}")]
            elif isinstance(value, dict):  # a router's external_gateway_info:enable_snat
                out += [f"{rule}:{k}" for k in value if self.policy.registered(f"{rule}:{k}")]
        return out

    async def change(
        self, resource: Resource, verb: str, current: dict[str, Any], attrs: dict[str, Any], missing: errors.QuarkError
    ) -> None:
        """``<verb>_<resource>`` (and its attribute rules) on the object as it would be."""
        if verb == "update":  # Neutron's update loads the object without these
            current = {k: v for k, v in current.items() if k not in resource.unseen_by_update}
        target = {**current, **attrs}
        action = f"{verb}_{resource.name}"
        names = [action, *self.attribute_rules(action, resource, attrs, list(attrs))]
        for name in names:
            one = [target]
            if not (await self.decide(resource.name, name, one))[0]:
                if not (await self.decide(resource.name, f"get_{resource.name}", [dict(current)]))[0]:
                    raise missing
                raise errors.PolicyNotAuthorized(action=f"rule:{name}")
            target = one[0]

    async def sub_action(
        self, resource: Resource, name: str, current: dict[str, Any], missing: errors.QuarkError
    ) -> None:
        """A rule on an object the caller must first be able to see (tags)."""
        await self.show(resource, current, missing)
        if not (await self.decide(resource.name, name, [dict(current)]))[0]:
            raise errors.PolicyNotAuthorized(action=f"rule:{name}")

    # --- what a response may show -----------------------------------------------

    async def show(self, resource: Resource, obj: dict[str, Any], missing: errors.QuarkError) -> None:
        if not (await self.decide(resource.name, f"get_{resource.name}", [obj]))[0]:
            raise missing

    def refuses_all(self, resource: Resource) -> bool:
        """Whether ``get_<resource>`` refuses this caller whatever the object
        (a member listing agents): the list is empty without asking the database."""
        name = f"get_{resource.name}"
        return self.policy.target_free(name) and not self.allowed(name, {})

    async def visible(self, resource: Resource, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        allowed = await self.decide(resource.name, f"get_{resource.name}", list(objs))
        return [obj for obj, ok in zip(objs, allowed, strict=True) if ok]

    def strip(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` without the attributes whose ``get_<resource>:<attribute>`` rule refuses.
        Without the parent's facts, a rule that needs them refuses (hidden, never leaked)."""
        rules = self._hidden.get(resource.name)
        if rules is None:
            rules = {
                a: f"get_{resource.name}:{a}"
                for a in resource.by_name
                if self.policy.has_rule(f"get_{resource.name}:{a}")
            }
            self._hidden[resource.name] = rules
        drop = [a for a, rule in rules.items() if a in obj and not self.allowed(rule, obj)]
        if not drop:
            return obj
        return {k: v for k, v in obj.items() if k not in drop}


def present(authz: Authorizer, resource: Resource, obj: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """What the caller may read of ``obj``, then only the asked ``fields``."""
    obj = authz.strip(resource, obj)
    if fields:
        obj = {k: obj[k] for k in fields if k in obj}
    return obj
