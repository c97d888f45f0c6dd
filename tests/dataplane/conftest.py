"""Fixtures of the dataplane tests: a fake agent API, namespaces that are
always removed, and agent/DHCP subprocesses that are always killed."""

from __future__ import annotations

import shutil

import pytest

from tests.dataplane import kernel
from tests.dataplane.fake_api import FakeAgentApi
from tests.dataplane.l3_scenario import failover_server


@pytest.fixture
def root():
    kernel.require_root()
    kernel.require_tools("ip", "bridge")


@pytest.fixture
def fake_api():
    api = FakeAgentApi().start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def netns(root):
    spaces = kernel.Namespaces()
    try:
        yield spaces
    finally:
        spaces.cleanup()


@pytest.fixture
def dhcp_state_dir():
    path = kernel.state_dir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def procs():
    with kernel.processes() as started:
        yield started


@pytest.fixture
def l3_failover_server(root, tmp_path):
    """A server of its own whose dead L3 agents' routers move within a second or so
    (tests/dataplane/l3_scenario.py's failover_server, FAILOVER_DOWN_TIME)."""
    with failover_server(tmp_path) as srv:
        yield srv
