"""Read-your-writes tokens at the HTTP edge, when a read replica is configured.

Every response to a write (any method but GET and HEAD) carries the position
in the primary's WAL that the client's reads must reflect from now on, as the
``X-Quark-Read-After`` header and the ``quark_read_after`` cookie (what
keystoneauth / openstacksdk sessions, httpx clients and browsers send back by
themselves). A request that brings either back has its lag-tolerant reads
served by the replica only once the replica has replayed that position
(quark.db.consistency, quark.db.replica): a client's list after its own
create sees the create, whichever process or API host answers it.

This module only turns the token into the request's ``ReadHint`` and back:
which reads may lag and where they run is the db layer's.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from quark.api.faults import error_body, send_json
from quark.db.consistency import HINT, ReadHint, format_lsn, parse_lsn
from quark.db.replica import UNKNOWN

HEADER = b"x-quark-read-after"
COOKIE = "quark_read_after"
READS = ("GET", "HEAD")


def _cookie_lsn(raw: bytes | None) -> int:
    """The cookie's position; a malformed cookie counts as none (the header is the explicit input)."""
    if not raw:
        return 0
    try:
        morsel = SimpleCookie(raw.decode("latin-1")).get(COOKIE)
        return parse_lsn(morsel.value) if morsel is not None else 0
    except (CookieError, ValueError):
        return 0


class ReadConsistency:
    """``max_age``: seconds a token cookie is kept (past the replica's lag bound it is moot)."""

    def __init__(self, app, max_age: int) -> None:
        self.app = app
        self.max_age = max_age

    async def __call__(self, scope, receive, send) -> None:
        ctx = scope.get("state", {}).get("ctx")
        if scope["type"] != "http" or ctx is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        after = _cookie_lsn(headers.get(b"cookie"))
        if HEADER in headers:
            try:
                after = max(after, parse_lsn(headers[HEADER].decode("latin-1")))
            except ValueError:
                message = "Invalid X-Quark-Read-After header: a WAL position such as 16/B374D848 is expected"
                await send_json(send, 400, error_body("HTTPBadRequest", message))
                return
        hint = ReadHint(client=ctx.project_id, after=after)
        router = scope["app"].state.services.db.replica
        write = scope["method"] not in READS

        async def send_token(message) -> None:
            if write and message["type"] == "http.response.start" and router is not None:
                lsn = router.token(hint.client, hint.after)
                if 0 < lsn < UNKNOWN:
                    value = format_lsn(lsn)
                    cookie = f"{COOKIE}={value}; Path=/; Max-Age={self.max_age}; HttpOnly; SameSite=Lax"
                    message["headers"] = list(message.get("headers", ())) + [
                        (HEADER, value.encode()),
                        (b"set-cookie", cookie.encode()),
                    ]
            await send(message)

        reset = HINT.set(hint)
        try:
            await self.app(scope, receive, send_token)
        finally:
            HINT.reset(reset)
