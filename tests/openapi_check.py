"""Validate a body against the /openapi.json schema of one operation and status
(OpenAPI 3.0 ``nullable`` turned into JSON Schema's null type)."""

from __future__ import annotations

from typing import Any

import jsonschema


def _to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "anyOf" in out and "type" not in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    return out


def response_schema(document: dict, path: str, method: str, status: int) -> dict:
    responses = document["paths"][path][method]["responses"]
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return {**_to_json_schema(schema), "$defs": _to_json_schema(document["components"]["schemas"])}


def request_schema(document: dict, path: str, method: str) -> dict:
    schema = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return {**_to_json_schema(schema), "$defs": _to_json_schema(document["components"]["schemas"])}


def validate(document: dict, path: str, method: str, status: int, body: Any) -> None:
    schema = response_schema(document, path, method, status)
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted({f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _leaves(validator, body)})
    assert not problems, f"{method.upper()} {path} {status}:\n" + "\n".join(problems)


def _leaves(validator: jsonschema.Draft202012Validator, body: Any) -> list[jsonschema.ValidationError]:
    """The innermost errors (a oneOf's reasons rather than the oneOf itself)."""
    out: list[jsonschema.ValidationError] = []
    for error in validator.iter_errors(body):
        out += [c for c in error.context if not c.context] if error.context else [error]
    return out
