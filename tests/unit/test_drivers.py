"""Drivers by name (entry points of group ``quark.drivers``) and the base class's dispatch."""

from __future__ import annotations

import asyncio
from contextlib import closing

import pytest

from quark.drivers import loading
from quark.drivers.base import Change, Driver, DriverError
from quark.drivers.fault import FaultDriver
from quark.drivers.simple import AgentDriver, UnmanagedDriver


def test_the_shipped_drivers_are_found_by_name():
    assert {"agent", "unmanaged", "fault"} <= set(loading.names())
    assert loading.driver_class("agent") is AgentDriver and loading.driver_class("unmanaged") is UnmanagedDriver
    assert isinstance(loading.load("fault", {"latency": 0}), FaultDriver)
    assert (loading.needs_backend("agent"), loading.needs_backend("unmanaged"), loading.needs_backend("fault")) == (
        False,
        False,
        True,
    )
    with pytest.raises(loading.UnknownDriver):
        loading.load("no-such-driver")
    assert loading.needs_backend("no-such-driver")  # its jobs fail visibly, its writes do not


def test_each_change_reaches_its_method_and_apply_by_default():
    seen = []

    class Recording(Driver):
        async def create_port(self, change: Change) -> None:
            seen.append(("create_port", change.revision))

        async def apply(self, change: Change) -> None:
            seen.append(("apply", change.kind, change.operation))

    driver = Recording("rec")
    asyncio.run(driver.call(Change("port", "create", "p", 3, {})))
    asyncio.run(driver.call(Change("router", "delete", "r", 1, {})))
    assert seen == [("create_port", 3), ("apply", "router", "delete")]
    with pytest.raises(DriverError):
        asyncio.run(driver.call(Change("volume", "create", "v", 0, {})))


def test_a_lease_no_longer_than_a_call_is_refused():
    from quark.config import load_settings

    with pytest.raises(ValueError, match="worker_lease"):
        load_settings(None, worker_lease=10.0, worker_call_timeout=10.0)
    assert load_settings(None, worker_lease=11.0, worker_call_timeout=10.0).worker_lease == 11.0


def test_a_sync_batch_covers_its_kind_and_id_range_only():
    from quark.drivers.base import SyncBatch, covers

    middle = SyncBatch("port", [], after="b", until="d")
    assert [covers(middle, "port", i) for i in ("a", "b", "c", "d", "e")] == [False, False, True, True, False]
    assert not covers(middle, "network", "c")
    assert covers(SyncBatch("port"), "port", "zzz") and covers(SyncBatch("port", after="x"), "port", "y")
    assert covers([Change("port", "create", "a", 0, {})], "network", "q")  # a plain list covers everything


def test_only_drivers_with_their_own_sync_are_synced():
    assert loading.can_sync("statefile")
    assert not any(loading.can_sync(name) for name in ("agent", "unmanaged", "fault", "no-such-driver"))


def test_statefile_writes_compare_and_swap_on_the_revision(tmp_path):
    from quark.drivers import statefile

    driver = loading.load("statefile", {"path": str(tmp_path / "b.db")})

    def held() -> list:
        with closing(statefile.connect(str(tmp_path / "b.db"))) as conn:
            return list(conn.execute("SELECT id, revision, body FROM objects"))

    asyncio.run(driver.call(Change("port", "update", "p", 3, {"name": "new"})))
    asyncio.run(driver.call(Change("port", "update", "p", 2, {"name": "old"})))  # a late, older call
    asyncio.run(driver.call(Change("port", "create", "p", 3, {"name": "again"})))  # the same revision again
    assert held() == [("p", 3, '{"name": "new"}')]
    asyncio.run(driver.call(Change("port", "delete", "p", 3, {})))
    assert held() == []
    with pytest.raises(DriverError):
        loading.load("statefile", {})


def test_a_negative_sync_interval_is_refused():
    from quark.config import load_settings

    with pytest.raises(ValueError, match="backend_sync_interval"):
        load_settings(None, backend_sync_interval=-1)
    assert load_settings(None, backend_sync_interval=0).backend_sync_interval == 0


def test_the_sync_comparison_finds_drift_and_repairs_leaves_first_on_delete_roots_first_on_write():
    from quark.drivers.base import SyncBatch
    from quark.drivers.sync_compare import compare

    wanted = [Change("port", "create", "p1", 2, {}), Change("network", "create", "n1", 1, {})]
    held = {"network": {"n2": 1}, "port": {"p1": 1, "p9": 1}, "subnet": {"s1": 1}}
    found = compare(wanted, held)
    assert (found.report.missing, found.report.stale) == (["n1"], ["p1"])
    assert sorted(found.report.extra) == ["n2", "p9", "s1"]
    assert [c.resource_id for c in found.writes] == ["n1", "p1"]  # the network before its port
    assert found.deletes == [("port", "p9"), ("subnet", "s1"), ("network", "n2")]  # leaves first
    page = compare(SyncBatch("port", wanted[:1], after="p0", until="p5"), held)
    assert page.report.extra == [] and page.report.stale == ["p1"]  # p9 is another page's

    calls: list[object] = []

    async def write(change: Change) -> bool:
        calls.append(change.resource_id)
        return change.resource_id != "p1"  # the backend had it already

    async def delete(kind: str, resource_id: str) -> bool:
        calls.append((kind, resource_id))
        return True

    report = asyncio.run(found.repair(write, delete))
    assert calls == [("port", "p9"), ("subnet", "s1"), ("network", "n2"), "n1", "p1"]
    assert report.repaired == 4
