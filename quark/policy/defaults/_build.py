"""Helpers that turn the rule tables of ``defaults/`` into oslo.policy rule defaults.

A table row is ``(name, check string)``; the operations (method and path)
and a plain description are derived from the name and the resource's path,
so the tables read as data and the sample file documents every rule.
"""

from __future__ import annotations

from typing import Any

from oslo_policy import policy

from quark.policy import checks

checks.register()  # the check strings below are parsed when the defaults are built

VERBS = {"create": "Create", "get": "Get", "update": "Update", "delete": "Delete"}
SCOPE = ["project"]


def _operations(verb: str, path: str, attribute: str | None) -> Any:
    item = f"{path}/{{id}}"
    if attribute == "tags":
        tags, tag = f"{item}/tags", f"{item}/tags/{{tag_id}}"
        return {
            "create": [{"method": "POST", "path": tags}],
            "get": [{"method": "GET", "path": tags}, {"method": "GET", "path": tag}],
            "update": [{"method": "PUT", "path": tags}, {"method": "PUT", "path": tag}],
            "delete": [{"method": "DELETE", "path": tags}, {"method": "DELETE", "path": tag}],
        }[verb]
    return {
        "create": [{"method": "POST", "path": path}],
        "get": [{"method": "GET", "path": path}, {"method": "GET", "path": item}],
        "update": [{"method": "PUT", "path": item}],
        "delete": [{"method": "DELETE", "path": item}],
    }[verb]


def _description(verb: str, noun: str, attribute: str | None) -> str:
    if attribute is None:
        return f"{VERBS[verb]} {'an' if noun[0] in 'aeiou' else 'a'} {noun}"
    if attribute == "tags":
        return f"{VERBS[verb]} the tags of {'an' if noun[0] in 'aeiou' else 'a'} {noun}"
    doing = {"create": "when creating", "update": "when updating", "get": "shown in"}[verb]
    return f"``{attribute}`` {doing} {'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def documented(resource: str, path: str, noun: str, table: list[tuple[str, str]]) -> list[policy.RuleDefault]:
    """Rules named ``<verb>_<resource>[:<attribute>]`` of a collection at ``path``."""
    out: list[policy.RuleDefault] = []
    for name, check in table:
        action, _, attribute = name.partition(":")
        verb = action.split("_", 1)[0]
        out.append(
            policy.DocumentedRuleDefault(
                name=name,
                check_str=check,
                description=_description(verb, noun, attribute or None),
                operations=_operations(verb, path, attribute or None),
                scope_types=SCOPE,
            )
        )
    return out


def custom(name: str, check: str, description: str, operations: list[tuple[str, str]]) -> policy.RuleDefault:
    """A rule of a route outside the generic collections."""
    return policy.DocumentedRuleDefault(
        name=name,
        check_str=check,
        description=description,
        operations=[policy.Operation(method=m, path=p) for m, p in operations],
        scope_types=SCOPE,
    )


def plain(name: str, check: str, description: str) -> policy.RuleDefault:
    """A rule other rules refer to (``rule:<name>``)."""
    return policy.RuleDefault(name=name, check_str=check, description=description)
