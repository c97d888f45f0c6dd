"""A database that refuses new connections because it is full is an outage (503
with Retry-After), not an internal error: the bench saw PostgreSQL's "sorry, too
many clients already" answered as 500 when several servers shared one PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from quark.db.engine import is_outage, is_retryable


def wrapped(orig: BaseException) -> DBAPIError:
    return DBAPIError("SELECT 1", None, orig)


@pytest.mark.parametrize(
    "orig",
    [
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.TooManyConnectionsError("remaining connection slots are reserved for superuser"),
        asyncpg.exceptions.TooManyConnectionsError('too many connections for role "quark"'),
        Exception("(1040, 'Too many connections')"),  # MariaDB / MySQL
    ],
)
def test_a_full_database_is_an_outage_not_a_retry(orig):
    assert is_outage(wrapped(orig))
    assert is_outage(orig) if type(orig).__module__.startswith("asyncpg") else True  # unwrapped, on connect
    assert not is_retryable(wrapped(orig))  # not re-run inside the request: the client retries after Retry-After


def test_a_constraint_or_syntax_error_is_no_outage():
    assert not is_outage(wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key value")))
    assert not is_outage(wrapped(Exception("syntax error at or near")))
