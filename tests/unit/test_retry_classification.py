"""Which database errors re-run a transaction: by the server's error code where
the driver gives one (MySQL/MariaDB numbers, PostgreSQL SQLSTATEs), so a Galera
certification failure or a PostgreSQL serialization failure is retried whatever
its message says, and nothing else is."""

from __future__ import annotations

import asyncmy.errors
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError, IntegrityError

from quark.db.engine import is_outage, is_retryable
from quark.db.failover import error_code


def wrapped(orig: BaseException) -> DBAPIError:
    return DBAPIError("COMMIT", None, orig)


class PgError(Exception):
    """An asyncpg error as SQLAlchemy's adapter exposes it: the SQLSTATE in ``sqlstate``."""

    def __init__(self, sqlstate: str, message: str = "some message") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "orig",
    [
        # Galera's certification failure on commit: 1213 with the deadlock text...
        asyncmy.errors.OperationalError(1213, "Deadlock found when trying to get lock; try restarting transaction"),
        # ...and the same code with a message no substring rule knows.
        asyncmy.errors.OperationalError(1213, "conflict"),
        asyncmy.errors.OperationalError(1205, "Lock wait timeout exceeded; try restarting transaction"),
        asyncmy.errors.OperationalError(1047, "WSREP has not yet prepared node for application use"),
        asyncmy.errors.OperationalError(1020, "Record has changed since last read in table 'ports'"),
        asyncmy.errors.OperationalError(1105, "WSREP detected deadlock/conflict and aborted the transaction."),
        PgError("40001", "could not serialize access due to concurrent update"),
        PgError("40P01", "deadlock detected"),
        PgError("55P03", "canceling statement due to lock timeout"),
        PgError("40001", "an unusual message"),
    ],
)
def test_conflicts_are_retried(orig):
    assert is_retryable(wrapped(orig))


@pytest.mark.parametrize(
    "orig",
    [
        asyncmy.errors.OperationalError(1064, "You have an error in your SQL syntax"),
        asyncmy.errors.OperationalError(1146, "Table 'quark.nope' doesn't exist"),
        PgError("42601", "syntax error at or near"),
        PgError("23503", "insert or update violates foreign key constraint"),
    ],
)
def test_other_errors_are_not_retried(orig):
    assert not is_retryable(wrapped(orig))


def test_an_integrity_error_is_never_retried_even_with_a_retryable_code():
    err = IntegrityError("INSERT", None, asyncmy.errors.IntegrityError(1213, "odd"))
    assert not is_retryable(err)


def test_error_code_reads_mysql_numbers_and_postgresql_sqlstates():
    assert error_code(asyncmy.errors.OperationalError(1213, "x")) == 1213
    assert error_code(PgError("40P01")) == "40P01"
    assert error_code(Exception("no code")) is None
    assert error_code(Exception("1213 as text")) is None


def test_sqlalchemys_asyncpg_adapter_exposes_the_sqlstate():
    """The attribute error_code reads is the one SQLAlchemy's asyncpg adapter sets."""

    class Orig(Exception):
        sqlstate = "40001"

    adapted = AsyncAdapt_asyncpg_dbapi.Error("could not serialize", Orig("could not serialize"))
    assert error_code(adapted) == "40001"


def test_a_node_outside_the_primary_component_is_an_outage_for_reads():
    assert is_outage(
        wrapped(asyncmy.errors.OperationalError(1047, "WSREP has not yet prepared node for application use"))
    )
