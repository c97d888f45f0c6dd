"""Issue 5's end-to-end proof against a real `quark serve`: two hosts
(namespaces on a veth underlay) with an agent each, DHCP on host A, a VXLAN
network whose two VMs get their IPAM addresses by DHCP and ping each other,
a flat network, an agent restart that restores a wiped host with no API
call, and a port delete that removes device and DHCP entry.

See tests/dataplane/scenario.py for the steps; bench/e2e_dataplane.py runs
the same scenario and prints timings."""

from __future__ import annotations

import pytest

from quark.agent.dhcp import DhcpConfig
from quark.agent.l2 import L2AgentConfig
from quark.db import migrate
from tests.dataplane import kernel as k
from tests.dataplane.scenario import Dataplane, Timings, run_scenario
from tests.servers import quark_server

pytestmark = pytest.mark.slow

# How long `quark agent` and `quark dhcp` hold a long-poll (their watch_wait).
WATCH_WAIT = min(L2AgentConfig.watch_wait, DhcpConfig.watch_wait)


@pytest.fixture
def server(root, tmp_path):
    k.require_tools("dnsmasq", "dhclient", "ping")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    with quark_server(url, env={"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}) as srv:
        yield srv


def test_two_hosts_vxlan_flat_dhcp_restart_and_delete(server, tmp_path):
    dp = Dataplane(server.url, tmp_path)
    try:
        timings = run_scenario(dp)
    except BaseException:
        print(dp.logs())
        print(server.log_text()[-4000:])
        raise
    finally:
        dp.close()
    print("bind -> ACTIVE:", Timings.summary(timings.bind_to_active))
    print("port create -> DHCP entry:", Timings.summary(timings.create_to_dhcp_entry))
    print("delete -> device gone:", Timings.summary(timings.delete_to_device_gone))
    print("delete -> DHCP entry gone:", Timings.summary(timings.delete_to_entry_gone))
    # Each change reached the agents by their long-poll's wake, not when a wait ran out: a
    # generous bound (the figures, a few hundred ms at most, are bench/e2e_dataplane.py's),
    # half the agents' long-poll wait, met by every one of the samples.
    assert max(timings.create_to_dhcp_entry) < WATCH_WAIT / 2, timings.create_to_dhcp_entry
    assert max(timings.bind_to_active) < WATCH_WAIT / 2, timings.bind_to_active
