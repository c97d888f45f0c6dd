"""Transaction re-runs are counted and logged (one WARNING line each), so the
benchmarks can bound the retry rate from the server log."""

from __future__ import annotations

import logging

import pytest

from quark import errors
from quark.db.engine import Database


async def test_a_retried_transaction_is_counted_and_logged(database_url, caplog):
    db = Database(database_url, pool_size=1, max_overflow=0)
    attempts = []

    async def work(conn):
        attempts.append(1)
        if len(attempts) == 1:
            raise errors.RetryRequest()
        return "done"

    try:
        with caplog.at_level(logging.WARNING, logger="quark.db.engine"):
            assert await db.run_write(work) == "done"
    finally:
        await db.dispose()
    assert len(attempts) == 2 and db.retries == 1
    assert [r.levelno for r in caplog.records if "transaction retry" in r.getMessage()] == [logging.WARNING]


async def test_the_number_of_attempts_is_the_db_max_attempts_setting(database_url, monkeypatch):
    from quark.config import load_settings

    monkeypatch.setenv("QUARK_DB_MAX_ATTEMPTS", "3")
    settings = load_settings()
    assert settings.db_max_attempts == 3
    db = Database(database_url, pool_size=1, max_overflow=0, max_attempts=settings.db_max_attempts)
    attempts = []

    async def work(conn):
        attempts.append(1)
        raise errors.RetryRequest()

    try:
        with pytest.raises(errors.ServiceUnavailable):
            await db.run_write(work)
    finally:
        await db.dispose()
    assert len(attempts) == 3 and db.retries == 2
