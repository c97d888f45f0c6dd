"""An address group enforced on a host (docs/address_groups.md), against a real
`quark serve` and a real `quark agent` in a host namespace: two VMs on one
bridge; an ICMP rule whose remote side is an address group lets the client's
pings in only while the client's address is in the group, and an address
added or removed through the API changes the traffic within seconds.
Namespaces are named by the run's unique tag and always removed."""

from __future__ import annotations

import pytest

from quark.db import migrate
from tests.dataplane import kernel as k
from tests.dataplane.scenario import Dataplane, ip_of
from tests.dataplane.sg_scenario import build, connects, pings, until
from tests.servers import quark_server

EFFECTIVE_WITHIN = 3.0


@pytest.fixture
def server(root, tmp_path):
    k.require_tools("ping", "nft")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    with quark_server(url, env={"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}) as srv:
        yield srv


def test_address_group_membership_opens_and_closes_the_rule(server, tmp_path):
    dp = Dataplane(server.url, tmp_path)
    try:
        _scenario(dp)
    except BaseException:
        print(dp.logs())
        print(server.log_text()[-4000:])
        raise
    finally:
        dp.close()


def _scenario(dp: Dataplane) -> None:
    lab = build(dp)
    target, client = ip_of(lab.srv), f"{ip_of(lab.cli)}/32"
    body = {"address_group": {"name": f"{dp.spaces.tag}ag", "addresses": ["192.0.2.0/24"]}}
    group = dp.post("/v2.0/address-groups", body)["address_group"]
    lab.add_rule(protocol="icmp", remote_address_group_id=group["id"])
    # The client is not in the group: its pings are dropped (the rule's set holds 192.0.2.0/24 only).
    until(lambda: "ag4_" in k.in_ns(dp.host_ns["hostA"], "nft", "list", "ruleset").stdout, "the set loaded", 15)
    assert not pings(lab.cli_ns, target)

    dp.put(f"/v2.0/address-groups/{group['id']}/add_addresses", {"addresses": [client]})
    added = until(lambda: pings(lab.cli_ns, target, wait="0.1"), "ICMP from a group member", EFFECTIVE_WITHIN)
    dp.put(f"/v2.0/address-groups/{group['id']}/remove_addresses", {"addresses": [client]})
    removed = until(lambda: not pings(lab.cli_ns, target, wait="0.1"), "ICMP dropped again", EFFECTIVE_WITHIN)
    print(f"address group change -> effective: add {added * 1000:.0f} ms, remove {removed * 1000:.0f} ms")
    # TCP 22 (a rule without a remote) was never affected.
    assert connects(lab.cli_ns, target)
