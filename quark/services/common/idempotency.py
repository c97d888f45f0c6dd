"""Idempotency-Key: claims before a create, its answer in the create's transaction.

A create that carries a key (docs/idempotency.md) goes through three steps:

1. ``IdempotencyKeys.claim`` (its own short transaction) finds the key's row
   of the caller's project. None (or an expired one): a claim row is written
   — ``status`` NULL, a fresh ``token``, a lease — and the request runs
   (one ``INSERT`` that does nothing if the key exists, then the lookup). A row
   with the same fingerprint and an answer: the answer is replayed. Another
   fingerprint: 422. A claim whose lease runs: 409 (the first request is still
   running). A claim whose lease ran out (its worker died, or it lost its
   database): the retry takes it over with a new token.
2. The create's own transaction calls ``record`` as its last write (the
   services wrap their transaction with ``answered``): the claim row becomes
   the answer — status and rendered body — if the row still holds this
   request's token. Resources and answer commit together or not at all; a
   claim that was taken over meanwhile fails the transaction (409), so two
   holders of one key can never both create.
3. After a failure the claim is dropped (``release``) so a retry does the
   work; a failure to drop it only delays the retry until the lease ends.

The lease only decides when a retry may stop waiting for a silent first
request; correctness rests on the token check of step 2, so a lease shorter
than a slow request costs a 409 and a retry, never a duplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import Clock, utcnow
from quark.context import Context, IdempotencyClaim
from quark.db.dialect import insert_ignore
from quark.db.idempotency_model import idempotency_keys as keys
from quark.services.common import periodic

LOG = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds a 409 for a key in flight tells the client to wait before retrying.
RETRY_AFTER = 1


@dataclass(frozen=True)
class Replay:
    """The stored answer of a key's first request."""

    status: int
    body: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _this_claim(claim: IdempotencyClaim):
    return (
        keys.c.project_id == claim.project_id,
        keys.c.key_hash == claim.key_hash,
        keys.c.token == claim.token,
        keys.c.status.is_(None),
    )


async def record(conn: AsyncConnection, ctx: Context, result: Any) -> None:
    """Turn the request's claim into its answer, in the create's transaction."""
    claim = ctx.idempotency
    if claim is None or claim.render is None:
        return
    body = claim.render(result)
    done = await conn.execute(update(keys).where(*_this_claim(claim)).values(status=claim.status, body=body))
    if done.rowcount != 1:
        # A retry took the claim over (our lease ran out): it creates, we must not.
        raise errors.IdempotencyKeyInFlight(retry_after=RETRY_AFTER)
    claim.recorded, claim.body = True, body


def answered(
    ctx: Context, work: Callable[[AsyncConnection], Awaitable[T]]
) -> Callable[[AsyncConnection], Awaitable[T]]:
    """``work`` (a create's transaction) followed by ``record`` of what it returns."""
    if ctx.idempotency is None:
        return work

    async def recorded(conn: AsyncConnection) -> T:
        result = await work(conn)
        await record(conn, ctx, result)
        return result

    return recorded


class IdempotencyKeys:
    """Claims, their release, and the purge of expired keys."""

    def __init__(self, db, settings, clock: Clock = utcnow) -> None:
        self.db = db
        self.retention = timedelta(seconds=settings.idempotency_key_retention)
        self.lease = timedelta(seconds=settings.idempotency_lease)
        self.purge_interval = settings.idempotency_purge_interval
        self.clock = clock

    async def claim(self, project_id: str, key: str, fingerprint: str) -> IdempotencyClaim | Replay:
        """The request's claim on ``key``, or the answer to replay (422, 409 raised)."""
        hashed = key_hash(key)
        if self.db.dialect != "sqlite":  # SQLite's writes take the file lock in their BEGIN
            claim = IdempotencyClaim(project_id, hashed, str(uuid.uuid4()))
            async with self.db.engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                # A new key, the usual case: one statement, its own commit, no transaction.
                if (await auto.execute(self._insert(auto, claim, fingerprint))).rowcount == 1:
                    return claim
        return await self.db.run_write(lambda conn: self._claim_in(conn, project_id, hashed, fingerprint))

    def _fresh(self, claim: IdempotencyClaim, fingerprint: str) -> dict:
        now = self.clock()
        return {
            "fingerprint": fingerprint,
            "token": claim.token,
            "lease_until": now + self.lease,
            "expires_at": now + self.retention,
        }

    def _insert(self, conn: AsyncConnection, claim: IdempotencyClaim, fingerprint: str):
        """The claim row of a new key; nothing if the key has a row (a concurrent
        first use waits for the other's claim to commit, then finds it)."""
        return insert_ignore(
            conn, keys, project_id=claim.project_id, key_hash=claim.key_hash, **self._fresh(claim, fingerprint)
        )

    async def _claim_in(
        self, conn: AsyncConnection, project_id: str, hashed: str, fingerprint: str
    ) -> IdempotencyClaim | Replay:
        now = self.clock()
        claim = IdempotencyClaim(project_id, hashed, str(uuid.uuid4()))
        if (await conn.execute(self._insert(conn, claim, fingerprint))).rowcount == 1:
            return claim
        where = (keys.c.project_id == project_id, keys.c.key_hash == hashed)
        row = (await conn.execute(select(keys).where(*where).with_for_update())).first()
        if row is None:  # released between the two statements: try again
            raise errors.RetryRequest()
        if row.expires_at <= now:  # lazily purged: the key is new again
            await conn.execute(
                update(keys).where(*where).values(status=None, body=None, **self._fresh(claim, fingerprint))
            )
            return claim
        if row.fingerprint != fingerprint:
            raise errors.IdempotencyKeyReused()
        if row.status is not None:
            return Replay(row.status, row.body)
        if row.lease_until > now:
            # Most first requests end within a second; only a dead one keeps its key to the lease's end.
            raise errors.IdempotencyKeyInFlight(retry_after=RETRY_AFTER)
        # The first request's lease ran out: its worker died or lost the database.
        await conn.execute(update(keys).where(*where).values(token=claim.token, lease_until=now + self.lease))
        return claim

    async def release(self, claim: IdempotencyClaim) -> None:
        """Drop a failed request's claim so its retry does the work (an answer stays)."""
        await self.db.run_write(lambda conn: conn.execute(delete(keys).where(*_this_claim(claim))))

    async def keep_answer(self, claim: IdempotencyClaim, status: int, body: str) -> None:
        """Store the answer of a request whose transaction did not (no create transaction)."""
        stmt = update(keys).where(*_this_claim(claim)).values(status=status, body=body)
        await self.db.run_write(lambda conn: conn.execute(stmt))

    async def purge(self) -> int:
        """Delete every key whose retention is over; how many."""
        stmt = delete(keys).where(keys.c.expires_at <= self.clock())
        result = await self.db.run_write(lambda conn: conn.execute(stmt))
        return result.rowcount or 0

    async def run(self, stop: asyncio.Event) -> None:
        """Purge expired keys every ``idempotency_purge_interval`` seconds until ``stop``."""
        await periodic.every(self.purge_interval, stop, self.purge, "purge of expired idempotency keys")
