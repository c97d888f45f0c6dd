"""What a transaction has already done, remembered until it ends, and
forgotten with a SAVEPOINT that is rolled back.

A caller that does something once per transaction (``hoststate.bump`` adds
one to a host's generation once, however many changes concern the host)
asks ``first_time`` which of its keys are new. A key is remembered in the
innermost open savepoint: released, the savepoint hands its keys to the one
around it; rolled back, its keys are forgotten with the rows it wrote, so the
next change makes them again.

The savepoints are followed through the Engine's connection events (every
engine: they are listened for on the class) as a stack: savepoints end in
the reverse order they began (``begin_nested`` as a context manager). The
keys of a transaction go with its root transaction object.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection

# The keys of each open savepoint, innermost last (the transaction's own first).
Frames = list[set[Hashable]]

K = TypeVar("K", bound=Hashable)

_frames: weakref.WeakKeyDictionary[Any, Frames] = weakref.WeakKeyDictionary()


def _frames_of(conn: Connection) -> Frames | None:
    root = conn.get_transaction()
    if root is None:
        return None
    frames = _frames.get(root)
    if frames is None:
        frames = _frames[root] = [set()]
    return frames


def _close(conn: Connection, *, keep: bool) -> None:
    """End the innermost savepoint: its keys go to the frame around it if ``keep``."""
    frames = _frames_of(conn)
    if frames is not None and len(frames) > 1:
        ended = frames.pop()
        if keep:
            frames[-1] |= ended


@event.listens_for(Engine, "savepoint")
def _on_savepoint(conn: Connection, _name: str | None) -> None:
    frames = _frames_of(conn)
    if frames is not None:
        frames.append(set())


@event.listens_for(Engine, "release_savepoint")
def _on_release(conn: Connection, _name: str, _context: Any) -> None:
    _close(conn, keep=True)


@event.listens_for(Engine, "rollback_savepoint")
def _on_rollback(conn: Connection, _name: str, _context: Any) -> None:
    _close(conn, keep=False)


def first_time(conn: AsyncConnection, keys: Iterable[K]) -> list[K]:
    """The ``keys`` (in order, without repeats) this transaction has not yet
    remembered, now remembered in its innermost savepoint. Outside a
    transaction every key is new and nothing is remembered."""
    sync = conn.sync_connection
    frames = _frames_of(sync) if sync is not None else None
    wanted = list(dict.fromkeys(keys))
    if frames is None:
        return wanted
    fresh = [k for k in wanted if not any(k in done for done in frames)]
    frames[-1].update(fresh)
    return fresh
