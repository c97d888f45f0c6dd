"""Drivers by name (entry points of group ``quark.drivers``) and the base class's dispatch."""

from __future__ import annotations

import asyncio

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
