"""The custom checks Neutron registers with oslo.policy, for Quark's targets.

* ``project_id:%(network:project_id)s`` (and ``tenant_id:...``): the owner of
  the target or of its parent. Neutron loads the parent in the check; Quark's
  API layer puts the parent's facts in the target beforehand
  (``network:project_id``, ``security_group:project_id`` ...), batched per
  request, so the check itself never touches the database.
* ``field:networks:shared=True``, ``field:networks:router:external=True``,
  ``field:port:device_owner=~^network:``: a field of the target, or for a
  network's field on another resource (a port, a subnet) the field of its
  network (``network:shared``).
"""

from __future__ import annotations

import re
from typing import Any

from oslo_policy import policy

_FIELD_REF = re.compile(r"^%\((.+)\)s$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class OwnerCheck(policy.Check):
    """``project_id:%(<key>)s``: the caller's project equals the target's ``<key>``."""

    def __init__(self, kind: str, match: str) -> None:
        super().__init__(kind, match)
        found = _FIELD_REF.match(match)
        self.key = found.group(1) if found else None

    def __call__(self, target: Any, creds: Any, enforcer: Any, current_rule: str | None = None) -> bool:
        mine = creds.get(self.kind)
        if mine is None:
            return False
        if self.key is None:
            return self.match == str(mine)
        try:
            value = target[self.key]
        except KeyError:
            return False
        return value is not None and str(value) == str(mine)


class FieldCheck(policy.Check):
    """``field:<collection>:<field>=<value>`` (``~<regex>`` for a pattern)."""

    def __init__(self, kind: str, match: str) -> None:
        resource, _, rest = match.partition(":")
        field, _, value = rest.rpartition("=")
        super().__init__(kind, f"{resource}:{field}:{value}")
        self.resource, self.field = resource, field
        self.regex = re.compile(value[1:]) if value.startswith("~") else None
        self.value = value

    def _target_value(self, target: Any) -> Any:
        try:
            return target[self.field]
        except KeyError:
            pass
        if self.resource == "networks":
            return target.get(f"network:{self.field}")
        return None

    def __call__(self, target: Any, creds: Any, enforcer: Any, current_rule: str | None = None) -> bool:
        value = self._target_value(target)
        if value is None:
            return False
        if self.regex is not None:
            return isinstance(value, str) and bool(self.regex.match(value))
        if isinstance(value, bool):
            wanted = self.value.lower()
            return (value and wanted in _TRUE) or (not value and wanted in _FALSE)
        return _text(value) == self.value


def register() -> None:
    """Make oslo.policy parse these kinds with Quark's checks (idempotent)."""
    policy.register("project_id", OwnerCheck)
    policy.register("tenant_id", OwnerCheck)
    policy.register("field", FieldCheck)


# Rule defaults parse their check strings when built: the kinds must be known first.
register()
