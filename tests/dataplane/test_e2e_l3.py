"""Issue 17's end-to-end L3 proof against a real `quark serve` (noauth): a
router realised by host A's agent (`quark agent --l3`) between two private
VXLAN networks and an external flat one; SNAT, floating IPs that move, port
forwardings of one floating IP to two VMs, metadata through the router, an agent restart on a wiped host, a router delete. The steps are in
tests/dataplane/l3_scenario.py; bench/e2e_l3.py prints the timings."""

from __future__ import annotations

import pytest

from quark.agent.metadata.spawn import ProxySpec, stop_proxy
from quark.db import migrate
from tests.dataplane import kernel as k
from tests.dataplane.l3_scenario import L3Timings, metadata_env, run_l3_scenario
from tests.dataplane.nova_metadata import NovaMetadata
from tests.dataplane.scenario import Dataplane
from tests.dataplane.test_metadata_kernel import SECRET
from tests.servers import quark_server

pytestmark = pytest.mark.slow


@pytest.fixture
def server(root, tmp_path):
    k.require_tools("dnsmasq", "dhclient", "ping", "nft", "curl")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    with quark_server(url, env={"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}) as srv:
        yield srv


@pytest.fixture
def nova():
    stand_in = NovaMetadata(SECRET).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


def test_router_snat_floating_ips_restart_and_delete(server, tmp_path, nova):
    dp = Dataplane(server.url, tmp_path, agent_env=metadata_env(tmp_path, nova, SECRET))
    try:
        timings = run_l3_scenario(dp, nova)
    except BaseException:
        print(dp.logs())
        print(server.log_text()[-4000:])
        raise
    finally:
        dp.close()
        # a proxy outlives its agent (as dnsmasq): none is left behind, whatever failed
        state = tmp_path / "l3"
        for path in state.iterdir() if state.is_dir() else ():
            stop_proxy(ProxySpec("", "", path, router_id=path.name))
    print("router create -> reachable:", L3Timings.summary(timings.router_to_reachable))
    print("floating IP associate -> reachable:", L3Timings.summary(timings.associate_to_reachable))
    print("floating IP move -> reachable:", L3Timings.summary(timings.move_to_reachable))
    print("port forwarding create -> reachable:", L3Timings.summary(timings.forwarding_to_reachable))
    print("agent restart on a wiped host -> reachable:", L3Timings.summary(timings.restart_to_reachable))
    # a change reaches the agent by its long-poll, not by a timeout (30 s): a generous bound
    # on a loaded 2-core machine; bench/e2e_l3.py has the figures
    assert max(timings.associate_to_reachable + timings.move_to_reachable + timings.forwarding_to_reachable) < 10, (
        timings
    )
