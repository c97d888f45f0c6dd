"""Issue 5's end-to-end proof against a real `quark serve`: two hosts
(namespaces on a veth underlay) with an agent each, DHCP on host A, a VXLAN
network whose two VMs get their IPAM addresses by DHCP and ping each other,
a flat network, an agent restart that restores a wiped host with no API
call, and a port delete that removes device and DHCP entry.

See tests/dataplane/scenario.py for the steps; bench/e2e_dataplane.py runs
the same scenario and prints timings.

It runs twice: with noauth, and with Keystone on (auth_strategy = "keystone"
against the kit's Keystone, tests/keystone.py): the scenario calls the API
with an admin token, and both agents authenticate as the quark-service user
of the kit's clouds.yaml."""

from __future__ import annotations

import httpx
import pytest

from quark.agent.dhcp import DhcpConfig
from quark.agent.l2 import L2AgentConfig
from quark.db import migrate
from tests.dataplane import kernel as k
from tests.dataplane.scenario import Dataplane, Timings, run_scenario
from tests.keystone import quark_toml
from tests.servers import quark_server

pytestmark = pytest.mark.slow

# How long `quark agent` and `quark dhcp` hold a long-poll (their watch_wait).
WATCH_WAIT = min(L2AgentConfig.watch_wait, DhcpConfig.watch_wait)


@pytest.fixture(params=["noauth", "keystone"])
def auth(request):
    """(server env, scenario admin token, agents' env) of the auth strategy."""
    if request.param == "noauth":
        return {}, "", {}
    ks = request.getfixturevalue("keystone")
    config = quark_toml(ks, request.getfixturevalue("tmp_path_factory").mktemp("e2e-keystone"))
    agents = {**ks.client_env(), "QUARK_AGENT_CLOUD": "quark-service"}
    return {"QUARK_CONFIG": str(config)}, ks.token("admin"), agents


@pytest.fixture
def server(root, tmp_path, auth):
    k.require_tools("dnsmasq", "dhclient", "ping")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    env = {"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0", **auth[0]}
    with quark_server(url, env=env) as srv:
        yield srv


def test_two_hosts_vxlan_flat_dhcp_restart_and_delete(server, tmp_path, auth):
    _, token, agent_env = auth
    if token:  # Keystone is really on: nothing is served without a token
        assert httpx.get(server.url + "/v2.0/hosts/hostA/desired_state?wait=0").status_code == 401
    dp = Dataplane(server.url, tmp_path, token=token, agent_env=agent_env)
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
