"""The policy engine: oslo.policy's Enforcer over Quark's defaults and the
operator's ``policy_file``, and what the API layer asks of it.

The file is re-read when it changes (oslo.policy compares its mtime; Quark
asks at most once per ``RECHECK`` seconds so a list of a thousand objects
costs one stat, not a thousand). Rules are also analysed once per load:
whether a rule looks at the target at all (if not, one decision serves every
object of a request) and whether it needs the facts of a parent (a port's
network) that the API layer loads only when they can change the answer.
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Any

from oslo_config import cfg
from oslo_policy import _checks, opts, policy

from quark.context import Context
from quark.policy import checks
from quark.policy.defaults import all_rules

LOG = logging.getLogger(__name__)
RECHECK = 1.0
ADMIN_RULE = "context_is_admin"
# Keys of a target that come from a parent resource, not from the object.
_PARENT_KEYS = ("network:", "security_group:", "ext_parent:")


class Parent(enum.Enum):
    """How a rule depends on the facts of the target's parent."""

    NONE = 0  # never looks at them
    MONOTONE = 1  # only positively: a pass without them stands
    ANY = 2  # under a negation: they must be known before deciding


class _Enforcer(policy.Enforcer):
    """oslo.policy's Enforcer, asking the file system at most every ``RECHECK`` seconds."""

    _checked = 0.0
    # No policy file at all: only the defaults (no search of oslo.config's directories).
    without_file = False

    def _get_policy_path(self, path: str) -> str:
        if self.without_file:
            raise cfg.ConfigFilesNotFoundError([path])
        return super()._get_policy_path(path)

    def load_rules(self, force_reload: bool = False) -> None:
        now = time.monotonic()
        if force_reload or not self.rules or now - self._checked >= RECHECK:
            self._checked = now
            super().load_rules(force_reload)


class Policy:
    def __init__(self, policy_file: str = "") -> None:
        checks.register()
        conf = cfg.ConfigOpts()
        conf([], project="quark", default_config_files=[], default_config_dirs=[])
        opts.set_defaults(conf, enforce_scope=True, enforce_new_defaults=True)
        self.policy_file = policy_file
        self.enforcer = _Enforcer(conf, policy_file=policy_file or "policy.yaml")
        self.enforcer.without_file = not policy_file
        self.enforcer.register_defaults(all_rules())
        self.enforcer.load_rules()
        self._analysed: Any = None
        self._target_free: dict[str, bool] = {}
        self._parent: dict[str, Parent] = {}

    # --- decisions -------------------------------------------------------------

    def check(self, name: str, target: dict[str, Any], creds: dict[str, Any]) -> bool:
        """Whether ``name`` allows the caller (``creds``) on ``target``; a scope
        mismatch (a system-scoped token on a project rule) is a refusal.

        The same decision as ``Enforcer.enforce``, evaluated here because
        oslo.policy inspects every check's signature on every call (~70 µs
        per node): too slow for a list of a thousand ports."""
        enforcer = self.enforcer
        enforcer.load_rules()
        registered = enforcer.registered_rules.get(name)
        if registered is not None and registered.scope_types and _scope(creds) not in registered.scope_types:
            return False
        try:
            rule = enforcer.rules[name]
        except KeyError:
            return False
        return _evaluate(rule, target, creds, enforcer)

    def has_rule(self, name: str) -> bool:
        self.enforcer.load_rules()
        return name in self.enforcer.rules

    def registered(self, name: str) -> bool:
        return name in self.enforcer.registered_rules

    def is_admin(self, ctx: Context) -> bool:
        """Neutron's ``context_is_admin``: what makes a context an admin one."""
        return self.check(ADMIN_RULE, {}, ctx.policy_credentials())

    # --- analysis of the loaded rules -----------------------------------------

    def _fresh(self) -> None:
        self.enforcer.load_rules()
        if self._analysed is not self.enforcer.rules:
            self._analysed = self.enforcer.rules
            self._target_free.clear()
            self._parent.clear()

    def target_free(self, name: str) -> bool:
        """Whether the rule decides from the caller alone (the same for every object)."""
        self._fresh()
        if name not in self._target_free:
            self._target_free[name] = not _uses_target(self._rule(name), self.enforcer.rules, set())
        return self._target_free[name]

    def parent_use(self, name: str) -> Parent:
        self._fresh()
        if name not in self._parent:
            self._parent[name] = _parent_use(self._rule(name), self.enforcer.rules, False, set())
        return self._parent[name]

    def _rule(self, name: str) -> Any:
        try:
            return self.enforcer.rules[name]
        except KeyError:
            return _checks.FalseCheck()


def _scope(creds: dict[str, Any]) -> str:
    if creds.get("system_scope"):
        return "system"
    if creds.get("domain_id") and not creds.get("project_id"):
        return "domain"
    return "project"


_LEAVES = (
    _checks.RoleCheck,
    _checks.GenericCheck,
    _checks.TrueCheck,
    _checks.FalseCheck,
    checks.OwnerCheck,
    checks.FieldCheck,
)


def _evaluate(check: Any, target: dict[str, Any], creds: dict[str, Any], enforcer: Any) -> bool:
    kind = type(check)
    if kind is _checks.OrCheck:
        return any(_evaluate(c, target, creds, enforcer) for c in check.rules)
    if kind is _checks.AndCheck:
        return all(_evaluate(c, target, creds, enforcer) for c in check.rules)
    if kind is _checks.NotCheck:
        return not _evaluate(check.rule, target, creds, enforcer)
    if kind is _checks.RuleCheck:
        try:
            inner = enforcer.rules[check.match]
        except KeyError:
            return False
        return _evaluate(inner, target, creds, enforcer)
    if kind in _LEAVES:
        return bool(check(target, creds, enforcer))
    return bool(_checks._check(check, target, creds, enforcer, None))


def _children(check: Any) -> list[Any]:
    if isinstance(check, (_checks.AndCheck, _checks.OrCheck)):
        return list(check.rules)
    if isinstance(check, _checks.NotCheck):
        return [check.rule]
    return []


def _resolve(check: Any, rules: Any, seen: set[str]) -> Any:
    """The rule a ``rule:<name>`` check stands for (None when already being walked)."""
    if check.match in seen:
        return None
    seen.add(check.match)
    try:
        return rules[check.match]
    except KeyError:
        return _checks.FalseCheck()


def _uses_target(check: Any, rules: Any, seen: set[str]) -> bool:
    if isinstance(check, _checks.RuleCheck):
        inner = _resolve(check, rules, seen)
        return inner is not None and _uses_target(inner, rules, seen)
    if isinstance(check, (_checks.TrueCheck, _checks.FalseCheck)):
        return False
    if isinstance(check, (_checks.AndCheck, _checks.OrCheck, _checks.NotCheck)):
        return any(_uses_target(c, rules, seen) for c in _children(check))
    if isinstance(check, (_checks.RoleCheck, _checks.GenericCheck)) or type(check) is checks.OwnerCheck:
        return "%(" in str(check.match)
    return True  # field checks, remote checks: assume they read the target


def _parent_use(check: Any, rules: Any, negated: bool, seen: set[str]) -> Parent:
    if isinstance(check, _checks.RuleCheck):
        inner = _resolve(check, rules, set(seen))
        return Parent.NONE if inner is None else _parent_use(inner, rules, negated, seen | {check.match})
    if isinstance(check, _checks.NotCheck):
        return _parent_use(check.rule, rules, not negated, seen)
    if isinstance(check, (_checks.AndCheck, _checks.OrCheck)):
        return max((_parent_use(c, rules, negated, seen) for c in _children(check)), key=lambda p: p.value)
    if _reads_parent(check):
        return Parent.ANY if negated else Parent.MONOTONE
    return Parent.NONE


def _reads_parent(check: Any) -> bool:
    if isinstance(check, checks.FieldCheck):
        return check.resource == "networks"
    match = str(getattr(check, "match", ""))
    return isinstance(check, (_checks.GenericCheck, checks.OwnerCheck)) and any(
        f"%({key}" in match for key in _PARENT_KEYS
    )
