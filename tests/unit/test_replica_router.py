"""The replica router's decisions without a database: WAL positions, the lag
bound measured in positions, and each client's last write (quark.db.replica)."""

from __future__ import annotations

import pytest

from quark.db.consistency import format_lsn, parse_lsn
from quark.db.replica import UNKNOWN, ReplicaRouter

URL = "postgresql+asyncpg://postgres@127.0.0.1:1/none"  # never connected to


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def router(max_lag: float = 5.0) -> tuple[ReplicaRouter, Clock]:
    clock = Clock()
    from sqlalchemy.ext.asyncio import create_async_engine

    primary = create_async_engine(URL)
    return ReplicaRouter(URL, primary, max_lag=max_lag, pool_size=1, max_overflow=0, clock=clock), clock


def observe(replica: ReplicaRouter, clock: Clock, flushed: int, replayed: int) -> None:
    """What one probe records (quark.db.replica.ReplicaRouter.probe without its two queries)."""
    replica.samples.append((clock.now, flushed))
    while len(replica.samples) > 1 and replica.samples[1][0] <= clock.now - replica.max_lag:
        replica.samples.popleft()
    replica.replayed = max(replica.replayed, replayed)
    replica.checked_at = clock.now


def test_positions_round_trip_in_postgresql_text_form():
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(parse_lsn("0/3430FF0")) == "0/3430FF0"
    for bad in ("", "16", "16/", "x/1", "1/2/3", "123456789/0"):
        with pytest.raises(ValueError):
            parse_lsn(bad)


def test_an_idle_primary_is_no_lag_however_long_it_lasts():
    replica, clock = router(max_lag=5)
    for _ in range(100):
        observe(replica, clock, flushed=500, replayed=500)
        clock.now += 0.5
    assert replica.within_lag(clock.now)


def test_a_replica_stuck_behind_a_moving_primary_goes_out_after_the_bound():
    replica, clock = router(max_lag=5)
    observe(replica, clock, flushed=500, replayed=500)
    flushed = 500
    for step in range(20):  # the primary writes on, the replica replays nothing more
        clock.now += 0.5
        flushed += 10
        observe(replica, clock, flushed=flushed, replayed=500)
        # In until the first unreplayed position (flushed at 1000.5) is more than 5 s old.
        assert replica.within_lag(clock.now) == (clock.now - 1000.5 < 5), step


def test_no_recent_probe_means_an_unknown_lag():
    replica, clock = router(max_lag=5)
    assert not replica.within_lag(clock.now)  # never probed
    observe(replica, clock, flushed=500, replayed=500)
    assert replica.within_lag(clock.now)
    clock.now += 6
    assert not replica.within_lag(clock.now)


def test_a_clients_last_write_only_moves_forward_but_replaces_an_unknown_one():
    replica, _ = router()
    replica.remember("p", 900)
    replica.remember("p", 800)  # a concurrent write of the same client that committed earlier
    assert replica.token("p", 0) == 900
    assert replica.token("p", 950) == 950  # the client's own token is higher
    replica.remember("p", UNKNOWN)
    assert replica.token("p", 0) == UNKNOWN
    replica.remember("p", 1000)
    assert replica.token("p", 0) == 1000
    assert replica.token("someone else", 0) == 0


def test_a_replica_needs_postgresql_and_a_positive_lag_bound(tmp_path):
    from quark.config import load_settings
    from quark.db.engine import Database

    with pytest.raises(ValueError, match="PostgreSQL"):
        Database(f"sqlite+aiosqlite:///{tmp_path}/q.db", replica_url=URL)
    with pytest.raises(ValueError, match="replica_max_lag"):
        load_settings(replica_max_lag=0)
    assert Database("postgresql+asyncpg://postgres@127.0.0.1:1/x", replica_url=URL).replica is not None
