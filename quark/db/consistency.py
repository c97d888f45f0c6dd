"""What a request's reads must reflect: read-your-writes beside a read replica.

A request's ``ReadHint`` names its client (the project: every caller of one
project shares its writes) and the PostgreSQL WAL position its reads must
have caught up with: the highest of the token the client sent back (the
``X-Quark-Read-After`` header or the ``quark_read_after`` cookie, handed out
with every write's response) and the position the request's own writes
reached. The HTTP layer opens the hint (``HINT.set``) and reads it when it
answers; ``Database`` raises ``after`` when the request commits a write and
``quark.db.replica`` sends a read that tolerates lag to the replica only once
the replica has replayed ``after``. Services never see it: they only say
which of their reads may lag (``Database.read(lag_ok=True)``).

A context variable rather than a Context field, because the write side is
inside ``Database.write`` (which is given no Context) and a group commit's
transaction runs in a task of its own (the hint object is shared with it).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

# PostgreSQL's text form of an LSN: two hexadecimal 32-bit halves, "16/B374D848".
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


@dataclass
class ReadHint:
    client: str
    after: int = 0  # the WAL position (an LSN as an integer) reads must reflect; 0: none

    def raise_to(self, lsn: int) -> None:
        self.after = max(self.after, lsn)


HINT: ContextVar[ReadHint | None] = ContextVar("quark_read_hint", default=None)


def parse_lsn(text: str) -> int:
    """The integer of an LSN in PostgreSQL's text form; ValueError if it is not one."""
    match = _LSN.match(text.strip())
    if match is None:
        raise ValueError(f"not a WAL position: {text!r}")
    return (int(match[1], 16) << 32) | int(match[2], 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
