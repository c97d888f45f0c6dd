"""The ``Idempotency-Key`` header of creates (IETF httpapi draft; docs/idempotency.md).

Every create (a POST on a collection, bulk included, and ``POST
/v2.0/instances``) runs through ``guarded``: without the header it runs as
ever; with it, the key is checked (400), claimed for the caller's project
(``quark.services.common.idempotency``: a replay of the stored answer with
``Idempotent-Replayed: true``, 422 for another body, 409 while the first
request runs), and the create gets a Context carrying the claim, so its
transaction stores the answer with the resources. A failed create drops its
claim: only a success is ever replayed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from quark import errors, metrics
from quark.api.responses import JSONResponse
from quark.context import Context, IdempotencyClaim
from quark.services.common.idempotency import IdempotencyKeys, Replay

LOG = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# An sf-string (RFC 8941 §3.3.3): printable ASCII in quotes, only \" and \\ escaped.
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_ESCAPE = re.compile(r"\\([\"\\])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_key(values: list[str]) -> str | None:
    """The key of the request's headers: an sf-string or a bare token; None without one."""
    if not values:
        return None
    if len(values) > 1:
        raise errors.InvalidIdempotencyKey(reason="the header must be sent once")
    value = values[0].strip()
    if value.startswith('"'):
        quoted = _SF_STRING.fullmatch(value)
        if quoted is None:
            raise errors.InvalidIdempotencyKey(reason="a quoted key must be a valid sf-string")
        value = _ESCAPE.sub(r"\1", quoted.group(1))
    if not value:
        raise errors.InvalidIdempotencyKey(reason="the key is empty")
    if len(value) > MAX_KEY_LENGTH:
        raise errors.InvalidIdempotencyKey(reason=f"the key is longer than {MAX_KEY_LENGTH} characters")
    if _CONTROL.search(value):
        raise errors.InvalidIdempotencyKey(reason="the key contains a control character")
    return value


def fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 of the canonical JSON (keys sorted) of the method, path and parsed body:
    the same request whatever the key order or spacing of its body."""
    request = [method, path, body]
    try:
        canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


class Keyed:
    """What a guarded create hands its service: the Context, with the request's
    claim when it has a key, and how its answer is rendered from what the
    create's transaction returns (the view, or the list of views)."""

    def __init__(self, ctx: Context, claim: IdempotencyClaim | None) -> None:
        self.ctx = ctx
        self.claim = claim

    def context(self, render: Callable[[Any], Any]) -> Context:
        if self.claim is None:
            return self.ctx
        self.claim.render = lambda result: bytes(JSONResponse(render(result)).body).decode()
        return dataclasses.replace(self.ctx, idempotency=self.claim)

    def respond(self, render: Callable[[Any], Any], result: Any, status: int = 201) -> Response:
        """The create's answer: the body its transaction stored with the key when it
        did (rendered once, and byte for byte what a replay answers), else ``render``."""
        if self.claim is not None and self.claim.recorded and self.claim.body is not None:
            return Response(self.claim.body, status, media_type="application/json")
        return JSONResponse(render(result), status_code=status)


# quark_idempotency_refusals_total's reason for each refusal a key causes
REFUSALS: dict[type[Exception], str] = {
    errors.InvalidIdempotencyKey: "invalid_key",
    errors.IdempotencyKeyReused: "key_reused",
    errors.IdempotencyKeyInFlight: "in_flight",
}


def count_refusal(exc: Exception) -> None:
    reason = REFUSALS.get(type(exc))
    if reason is not None:
        metrics.IDEMPOTENCY_REFUSALS.labels(reason).inc()


async def guarded(
    request: Request, ctx: Context, body: Any, perform: Callable[[Keyed], Awaitable[Response]]
) -> Response:
    """Run the create ``perform`` under the request's Idempotency-Key, if any."""
    try:
        key = parse_key(request.headers.getlist(HEADER))
    except errors.InvalidIdempotencyKey as exc:
        count_refusal(exc)
        raise
    if key is None:
        return await perform(Keyed(ctx, None))
    keys: IdempotencyKeys = request.app.state.services.idempotency
    try:
        outcome = await keys.claim(ctx.project_id, key, fingerprint(request.method, request.url.path, body))
    except errors.QuarkError as exc:
        count_refusal(exc)
        raise
    if isinstance(outcome, Replay):
        metrics.IDEMPOTENT_REPLAYS.inc()
        return Response(outcome.body, outcome.status, {REPLAYED: "true"}, media_type="application/json")
    try:
        response = await perform(Keyed(ctx, outcome))
    except Exception as exc:
        count_refusal(exc)  # in_flight: a retry took the claim over while this one ran
        await _release(keys, outcome)
        raise
    if response.status_code >= 400:
        await _release(keys, outcome)
    elif not outcome.recorded:  # a create whose transaction did not store it: not atomic, say so
        LOG.warning("%s %s stored its Idempotency-Key answer after its commit", request.method, request.url.path)
        await keys.keep_answer(outcome, response.status_code, bytes(response.body).decode())
    return response


async def _release(keys: IdempotencyKeys, claim: IdempotencyClaim) -> None:
    try:
        await keys.release(claim)
    except Exception:
        LOG.warning("could not release an idempotency claim; it frees itself when its lease ends", exc_info=True)
