"""The L2 agent's passes against an in-memory kernel and a recording API
client: idempotence, restore-before-cleanup, and what status it pushes when."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from quark import names
from quark.agent import plan as p
from quark.agent.l2 import L2Agent, L2AgentConfig, parse_bridge_mappings
from quark.agent.model import ActualState, DesiredState, Link

NET = "11111111-2222-3333-4444-555555555555"
PORT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


class MemoryNetlink:
    """Applies plan actions to a dict of links, like the kernel would."""

    def __init__(self, links=()):
        self._index = itertools.count(100)
        self.links_by_name: dict[str, Link] = {link.name: link for link in links}
        self.flood: dict[str, set[str]] = {}
        self.applied: list = []

    async def links(self):
        return list(self.links_by_name.values())

    async def snapshot(self, *, with_fdb=True):
        return ActualState.of(list(self.links_by_name.values()), {k: frozenset(v) for k, v in self.flood.items()})

    def _add(self, name, kind, **kw):
        self.links_by_name[name] = Link(name, next(self._index), kind, **kw)

    async def apply(self, action):
        self.applied.append(action)
        ls = self.links_by_name
        if isinstance(action, p.AddBridge):
            self._add(action.name, "bridge", mtu=action.mtu)
        elif isinstance(action, p.AddVxlan):
            self._add(
                action.name,
                "vxlan",
                mtu=action.mtu,
                vxlan_id=action.vni,
                vxlan_local=action.local,
                vxlan_port=action.port,
            )
            self.flood[action.name] = set()
        elif isinstance(action, p.AddVeth):
            self._add(action.name, "veth", mtu=action.mtu)
            self._add(action.peer, "veth", mtu=action.mtu, mac=action.mac)
            tap, vm = ls[action.name], ls[action.peer]
            ls[action.name] = dataclasses.replace(tap, peer_index=vm.index)
            ls[action.peer] = dataclasses.replace(vm, peer_index=tap.index)
        elif isinstance(action, p.SetLink):
            link = ls[action.name]
            changes = {}
            if action.master is not None:
                changes["master"] = ls[action.master].index
            if action.up is not None:
                changes["up"] = action.up
            if action.mtu is not None:
                changes["mtu"] = action.mtu
            if action.mac is not None:
                changes["mac"] = action.mac
            ls[action.name] = dataclasses.replace(link, **changes)
        elif isinstance(action, p.AddFlood):
            self.flood[action.device].add(action.dst)
        elif isinstance(action, p.DelFlood):
            self.flood[action.device].discard(action.dst)
        elif isinstance(action, p.DelLink):
            ls.pop(action.name, None)
            self.flood.pop(action.name, None)


class RecordingClient:
    def __init__(self):
        self.pushes: list[dict[str, str]] = []

    async def port_status(self, host, statuses):
        self.pushes.append(dict(statuses))
        return list(statuses)


def doc(generation=1, status="BUILD", admin=True, peers=("10.0.0.2",), owner="compute:nova"):
    return DesiredState.from_api(
        {
            "host": "h",
            "generation": generation,
            "ports": [
                {
                    "id": PORT,
                    "network_id": NET,
                    "mac_address": "fa:16:3e:00:00:01",
                    "admin_state_up": admin,
                    "status": status,
                    "device_owner": owner,
                    "mtu": 1450,
                    "fixed_ips": [],
                }
            ],
            "networks": [
                {"id": NET, "network_type": "vxlan", "segmentation_id": 5001, "mtu": 1450, "peers": list(peers)}
            ],
        }
    )


def agent(links=()):
    nl = MemoryNetlink(links)
    client = RecordingClient()
    a = L2Agent(client, L2AgentConfig(host="h", tunnel_ip="10.0.0.1"), netlink=nl)  # type: ignore[arg-type]
    return a, nl, client


async def test_first_pass_plugs_and_pushes_active_second_pass_does_nothing():
    a, nl, client = agent()
    await a.converge_once(doc())
    assert client.pushes == [{PORT: "ACTIVE"}]
    assert {names.tap_name(PORT), names.vm_name(PORT), names.bridge_name(NET), "vxlan-5001"} <= set(nl.links_by_name)
    assert nl.flood["vxlan-5001"] == {"10.0.0.2"}
    nl.applied.clear()
    await a.converge_once(doc())  # same generation, server not caught up yet: no second push
    await a.converge_once(doc(2, "ACTIVE"))  # server caught up
    assert nl.applied == [] and client.pushes == [{PORT: "ACTIVE"}]


async def test_lost_device_is_pushed_down_before_the_repair_then_active():
    a, nl, client = agent()
    await a.converge_once(doc())
    del nl.links_by_name[names.tap_name(PORT)]
    del nl.links_by_name[names.vm_name(PORT)]
    await a.converge_once(doc(2, "ACTIVE"))
    assert client.pushes == [{PORT: "ACTIVE"}, {PORT: "DOWN"}, {PORT: "ACTIVE"}]
    assert names.tap_name(PORT) in nl.links_by_name


async def test_router_ports_are_plugged_but_left_to_the_l3_part_to_report():
    a, nl, client = agent()
    await a.converge_once(doc(owner="network:router_interface"))
    assert names.tap_name(PORT) in nl.links_by_name and names.vm_name(PORT) in nl.links_by_name
    assert client.pushes == []  # ACTIVE only when the router's namespace has it (quark.agent.l3)


async def test_nothing_stale_is_removed_on_the_first_pass_after_a_start():
    stale = Link(names.bridge_name("ffffffff-0000-0000-0000-000000000000"), 7, "bridge")
    a, nl, _ = agent([stale])
    await a.converge_once(doc())
    assert stale.name in nl.links_by_name
    await a.converge_once(doc())
    assert stale.name not in nl.links_by_name


async def test_admin_down_port_is_reported_down_not_active():
    a, nl, client = agent()
    await a.converge_once(doc(admin=False, status="DOWN"))
    assert client.pushes == []  # already DOWN at the server
    assert nl.links_by_name[names.tap_name(PORT)].up is False


async def test_heartbeat_configuration():
    a, _, _ = agent()
    await a.converge_once(doc())
    conf = a.configurations()
    assert conf == {
        "bridge_mappings": {},
        "tunnel_ip": "10.0.0.1",
        "tunnel_types": ["vxlan"],
        "vlan_supported": False,
        "port_filter": False,  # nftables not started: security groups not enforced
        "devices": 1,
    }
    a.nftables.enabled = True
    assert a.configurations()["port_filter"] is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("physnet1:eth1", {"physnet1": "eth1"}),
        ("physnet1:eth1, physnet2:bond0", {"physnet1": "eth1", "physnet2": "bond0"}),
    ],
)
def test_parse_bridge_mappings(text, expected):
    assert parse_bridge_mappings(text) == expected


@pytest.mark.parametrize("text", ["physnet1", ":eth1", "physnet1:", "p:averyveryverylongname"])
def test_parse_bridge_mappings_rejects(text):
    with pytest.raises(ValueError):
        parse_bridge_mappings(text)


async def test_a_new_document_is_converged_even_when_its_wake_up_is_lost():
    """Regression: the watch's event set just as the reconciler's sleep timed
    out was cleared unseen, and the new document waited for the 10 s resync."""
    import asyncio

    a, nl, client = agent()
    a.config.poll_interval = 0.05
    task = asyncio.create_task(a.reconcile_forever())
    try:
        a.watch.document = {"host": "h", "generation": 1, "ports": [], "networks": []}
        await asyncio.sleep(0.2)
        assert client.pushes == []
        # a new document arrives, but its event is lost
        a.watch.document = {
            "host": "h",
            "generation": 2,
            "ports": [{"id": PORT, "network_id": NET, "mac_address": "fa:16:3e:00:00:01", "status": "BUILD"}],
            "networks": [{"id": NET, "network_type": "vxlan", "segmentation_id": 5001, "mtu": 1450}],
        }
        # Converged by the next 0.05 s poll; the bound is generous but half the 10 s resync
        # that converged it before the fix.
        for _ in range(100):
            if client.pushes:
                break
            await asyncio.sleep(0.05)
        assert client.pushes == [{PORT: "ACTIVE"}]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
