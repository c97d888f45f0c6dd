"""The OVN driver against a private OVN (tests/ovn.py): what NB holds after
each change, the logical flows northd derives in SB, compare-and-swap on
revisions, deletes, sync, and a stopped NB server as a retryable error."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest

from quark.drivers.base import Change, RetryableError, SyncBatch
from quark.drivers.ovn import OvnDriver, commands
from quark.drivers.ovn import mapping as m
from tests.ovn import OvnCluster


def uid() -> str:
    return str(uuid.uuid4())


def network(rev: int = 1, **attrs) -> dict:
    return {
        "id": attrs.pop("id", uid()),
        "project_id": "p1",
        "name": "net",
        "mtu": 1442,
        "provider:network_type": "vxlan",
        "provider:segmentation_id": 1234,
        **attrs,
        "revision_number": rev,
    }


def subnet(net: dict, cidr: str = "10.1.0.0/24", **attrs) -> dict:
    return {
        "id": uid(),
        "project_id": "p1",
        "name": "sub",
        "network_id": net["id"],
        "cidr": cidr,
        "gateway_ip": "10.1.0.1",
        "dns_nameservers": ["10.9.9.9"],
        "enable_dhcp": True,
        "ip_version": 4,
        **attrs,
    }


def group(rules: list[dict] | None = None, **attrs) -> dict:
    gid = attrs.pop("id", uid())
    return {"id": gid, "project_id": "p1", "name": "sg", "stateful": True, "security_group_rules": rules or [], **attrs}


def port(net: dict, sub: dict, ip: str = "10.1.0.5", **attrs) -> dict:
    return {
        "id": uid(),
        "project_id": "p1",
        "name": "vm",
        "network_id": net["id"],
        "mac_address": "fa:16:3e:00:00:05",
        "fixed_ips": [{"subnet_id": sub["id"], "ip_address": ip}],
        "admin_state_up": True,
        "port_security_enabled": True,
        "allowed_address_pairs": [],
        "security_groups": [],
        "device_owner": "compute:nova",
        "device_id": "vm1",
        **attrs,
    }


def change(kind: str, body: dict, rev: int = 1, op: str = "create") -> Change:
    return Change(kind, op, body["id"], rev, body)


@pytest.fixture
async def driver(ovn: OvnCluster):
    d = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5})
    yield d
    await d.close()


def ext(ovn: OvnCluster, table: str, record: str, key: str) -> str:
    return ovn.get(table, record, f'external_ids:"{key}"').strip('"')


async def test_network_subnet_port_group_reach_nb_and_northd_derives_flows(ovn, driver):
    net = network()
    sub = subnet(net)
    sg = group(
        [
            {
                "id": uid(),
                "direction": "ingress",
                "ethertype": "IPv4",
                "protocol": "tcp",
                "port_range_min": 22,
                "port_range_max": 22,
                "remote_ip_prefix": "10.0.0.0/8",
            }
        ]
    )
    p = port(
        net,
        sub,
        security_groups=[sg["id"]],
        allowed_address_pairs=[{"ip_address": "10.1.0.99", "mac_address": "fa:16:3e:00:00:99"}],
    )
    for kind, body in (("network", net), ("subnet", sub), ("security_group", sg), ("port", p)):
        await driver.call(change(kind, body))

    ls = m.switch_name(net["id"])
    assert ovn.nb_names("Logical_Switch") == {ls}
    assert ext(ovn, "Logical_Switch", ls, "quark:revision_number") == "1"
    assert ovn.get("Logical_Switch", ls, "other_config:requested-tnl-key").strip('"') == "1234"
    assert ovn.get("Logical_Switch", ls, "other_config:mtu").strip('"') == "1442"

    dhcp = ovn.nbctl(
        "--bare", "--columns=_uuid", "find", "DHCP_Options", f'external_ids:"quark:subnet_id"="{sub["id"]}"'
    ).strip()
    assert ovn.get("DHCP_Options", dhcp, "cidr") == "10.1.0.0/24"
    options = ovn.nbctl("dhcp-options-get-options", dhcp)
    assert "router=10.1.0.1" in options and "lease_time=43200" in options and "mtu=1442" in options
    assert "dns_server={10.9.9.9}" in options and "server_id=10.1.0.1" in options

    lsp = p["id"]
    assert ovn.nbctl("lsp-get-addresses", lsp).split("\n")[0] == "fa:16:3e:00:00:05 10.1.0.5"
    security = ovn.nbctl("lsp-get-port-security", lsp).splitlines()
    assert security == ["fa:16:3e:00:00:05 10.1.0.5", "fa:16:3e:00:00:99 10.1.0.99"]
    assert ovn.nbctl("lsp-get-enabled", lsp).strip() == "enabled"
    assert ovn.get("Logical_Switch_Port", lsp, "dhcpv4_options") == dhcp
    assert lsp in ovn.nbctl("lsp-list", ls)

    pg = m.group_name(sg["id"])
    assert ovn.nb_names("Port_Group") == {pg, m.DROP_GROUP}
    members = ovn.get("Port_Group", pg, "ports").split()
    assert members == [ovn.get("Logical_Switch_Port", lsp, "_uuid")]
    assert ovn.get("Port_Group", m.DROP_GROUP, "ports").split() == members
    acls = ovn.nbctl("acl-list", pg)
    assert (
        f"to-lport  1002 (outport == @{pg} && ip4 && ip4.src == 10.0.0.0/8 && tcp && tcp.dst == 22) allow-related"
        in acls
    )
    drop = ovn.nbctl("acl-list", m.DROP_GROUP)
    assert f"from-lport  1001 (inport == @{m.DROP_GROUP} && ip) drop" in drop
    assert f"to-lport  1001 (outport == @{m.DROP_GROUP} && ip) drop" in drop

    # northd turned the NB rows into a datapath and logical flows in SB
    def flows() -> str:
        try:
            return ovn.sbctl("lflow-list", ls)
        except RuntimeError:
            return ""

    ovn.wait_for_nb(lambda: "tcp.dst == 22" in flows() and "10.1.0.5" in flows(), what="northd's flows")
    assert f'Datapath: "{ls}"' in flows()
    assert ovn.sbctl("--bare", "--columns=logical_port", "find", "Port_Binding", f"logical_port={lsp}").strip() == lsp


async def test_stateless_group_and_disabled_port(ovn, driver):
    net, sg = (
        network(),
        group(
            [
                {
                    "id": uid(),
                    "direction": "egress",
                    "ethertype": "IPv6",
                    "protocol": "udp",
                    "port_range_min": 53,
                    "port_range_max": 60,
                    "remote_ip_prefix": None,
                }
            ],
            stateful=False,
        ),
    )
    sub = subnet(net)
    p = port(net, sub, admin_state_up=False, port_security_enabled=False, security_groups=[sg["id"]])
    for kind, body in (("network", net), ("subnet", sub), ("security_group", sg), ("port", p)):
        await driver.call(change(kind, body))
    pg = m.group_name(sg["id"])
    assert (
        f"from-lport  1002 (inport == @{pg} && ip6 && udp && udp.dst >= 53 && udp.dst <= 60) allow-stateless"
        in ovn.nbctl("acl-list", pg)
    )
    assert ovn.nbctl("lsp-get-enabled", p["id"]).strip() == "disabled"
    assert ovn.nbctl("lsp-get-port-security", p["id"]).strip() == ""
    assert ovn.get("Port_Group", pg, "ports") == ""  # no port security: in no group


async def test_an_older_revision_never_overwrites_a_newer_one(ovn, driver):
    net = network()
    sub = subnet(net)
    await driver.call(change("network", net))
    await driver.call(change("subnet", sub))
    p = port(net, sub)
    await driver.call(change("port", p, rev=1))
    await driver.call(
        change("port", {**p, "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.1.0.7"}]}, rev=3, op="update")
    )
    assert (
        await driver.write("port", {**p, "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.1.0.6"}]}, 2) is False
    )
    assert ovn.nbctl("lsp-get-addresses", p["id"]).strip() == "fa:16:3e:00:00:05 10.1.0.7"
    assert ext(ovn, "Logical_Switch_Port", p["id"], "quark:revision_number") == "3"
    # a repeated revision is a no-op (not even a write)
    assert await driver.write("port", {**p, "name": "other"}, 3) is False
    assert ext(ovn, "Logical_Switch_Port", p["id"], "quark:name") == "vm"
    await driver.call(change("network", {**net, "mtu": 1400}, rev=2, op="update"))
    assert await driver.write("network", {**net, "mtu": 9000}, 1) is False
    assert ovn.get("Logical_Switch", m.switch_name(net["id"]), "other_config:mtu").strip('"') == "1400"
    assert "mtu=1400" in ovn.nbctl(
        "dhcp-options-get-options", ovn.get("Logical_Switch_Port", p["id"], "dhcpv4_options")
    )


async def test_a_port_before_its_network_is_retryable_and_deletes_remove_rows(ovn, driver):
    net = network()
    sub = subnet(net)
    p = port(net, sub)
    with pytest.raises(RetryableError, match="not in OVN yet"):
        await driver.call(change("port", p))
    await driver.call(change("network", net))
    await driver.call(change("subnet", sub))
    await driver.call(change("port", p))
    await driver.call(change("port", {"id": p["id"], "network_id": net["id"]}, op="delete"))
    assert ovn.nbctl("lsp-list", m.switch_name(net["id"])).strip() == ""
    await driver.call(change("port", {"id": p["id"]}, op="delete"))  # again: nothing to do, no error
    await driver.call(change("subnet", {"id": sub["id"]}, op="delete"))
    await driver.call(change("network", {"id": net["id"]}, op="delete"))
    assert ovn.nb_names("Logical_Switch") == set()
    assert ovn.nbctl("dhcp-options-list").strip() == ""


async def test_router_interface_port_becomes_a_router_port(ovn, driver):
    net = network()
    sub = subnet(net)
    router = {"id": uid(), "project_id": "p1", "name": "r1", "admin_state_up": True}
    p = port(net, sub, ip="10.1.0.1", device_owner="network:router_interface", device_id=router["id"])
    for kind, body in (("network", net), ("subnet", sub), ("router", router), ("port", p)):
        await driver.call(change(kind, body))
    lr = m.router_name(router["id"])
    assert ovn.nb_names("Logical_Router") == {lr}
    assert ovn.get("Logical_Switch_Port", p["id"], "type") == "router"
    assert ovn.get("Logical_Switch_Port", p["id"], "options:router-port").strip('"') == m.router_port_name(p["id"])
    lrp = m.router_port_name(p["id"])
    assert ovn.get("Logical_Router_Port", lrp, "networks").strip('"') == "10.1.0.1/24"
    assert ovn.get("Logical_Router_Port", lrp, "mac").strip('"') == "fa:16:3e:00:00:05"
    await driver.call(change("port", {"id": p["id"]}, op="delete"))
    assert ovn.nbctl("lrp-list", lr).strip() == ""


async def test_sync_reports_and_repairs_missing_extra_stale(ovn, driver):
    net = network()
    sub = subnet(net)
    kept, deleted = port(net, sub), port(net, sub, ip="10.1.0.6")
    for kind, body in (("network", net), ("subnet", sub), ("port", kept), ("port", deleted)):
        await driver.call(change(kind, body))
    resources = [change("network", net), change("subnet", sub), change("port", kept, rev=1)]
    assert not (await driver.sync(resources + [change("port", deleted)])).drift
    ovn.nbctl("lsp-del", kept["id"])  # someone removes it behind Quark's back
    await seen_by(driver, "port", kept["id"], present=False)
    newer = change("network", {**net, "mtu": 1300}, rev=2)
    report = await driver.sync([newer, resources[1], resources[2]])
    assert report.missing == [kept["id"]] and report.stale == [net["id"]] and report.extra == [deleted["id"]]
    assert ovn.nbctl("lsp-get-addresses", deleted["id"])  # reporting changes nothing
    report = await driver.sync([newer, resources[1], resources[2]], repair=True)
    assert report.repaired == 3
    assert not (await driver.sync([newer, resources[1], resources[2]])).drift
    assert ovn.nbctl("lsp-get-addresses", kept["id"]).strip() == "fa:16:3e:00:00:05 10.1.0.5"
    assert ovn.get("Logical_Switch", m.switch_name(net["id"]), "other_config:mtu").strip('"') == "1300"


async def seen_by(driver: OvnDriver, kind: str, resource_id: str, present: bool, timeout: float = 20) -> None:
    """Wait until the driver's copy of NB (its IDL replica) has, or lacks, a row that
    another client (ovn-nbctl) changed: the update reaches the replica a moment later."""
    deadline = time.monotonic() + timeout
    while (resource_id in (await driver.revisions((kind,)))[kind]) != present:
        assert time.monotonic() < deadline, f"{kind} {resource_id} never {'came' if present else 'went'}"
        await asyncio.sleep(0.05)


def pages_of(kind: str, changes: list[Change], size: int, run: dict) -> list[SyncBatch]:
    """``changes`` (in id order) as the Syncer pages them, every page sharing ``run``."""
    pages, after = [], None
    for start in range(0, len(changes), size):
        chunk = changes[start : start + size]
        until = None if start + size >= len(changes) else chunk[-1].resource_id
        pages.append(SyncBatch(kind, chunk, after=after, until=until, run=run))
        after = until
    return pages


@pytest.fixture
def nb_reads(monkeypatch) -> list[tuple[str, ...]]:
    """The kinds of every ReadRevisions the driver runs (each one a pass over NB's tables)."""
    reads: list[tuple[str, ...]] = []

    class Counted(commands.ReadRevisions):
        def __init__(self, api, kinds=None) -> None:
            super().__init__(api, kinds)
            reads.append(self.kinds)

    monkeypatch.setattr(commands, "ReadRevisions", Counted)
    return reads


async def test_a_paged_sync_reads_each_kind_of_nb_once_per_run(ovn, driver, nb_reads):
    net = network()
    sub = subnet(net, cidr="10.1.0.0/24")
    ports = sorted((port(net, sub, ip=f"10.1.0.{10 + i}") for i in range(6)), key=lambda p: p["id"])
    for kind, body in (("network", net), ("subnet", sub), *(("port", p) for p in ports)):
        await driver.call(change(kind, body))
    run: dict = {}
    batches = [
        *pages_of("network", [change("network", net)], 2, run),
        *pages_of("subnet", [change("subnet", sub)], 2, run),
        *pages_of("port", [change("port", p) for p in ports], 2, run),
    ]
    assert len(batches) == 5
    for batch in batches:
        assert not (await driver.sync(batch)).drift
    assert nb_reads == [("network",), ("subnet",), ("port",)]  # not one read of every table per page

    # A job that finishes after the run's copy was read is no drift: the page that sees
    # a difference looks again; a port lost behind Quark's back is still found and repaired.
    nb_reads.clear()
    run = {}
    first, second, third = pages_of(
        "port", [change("port", p, rev=2 if i == 2 else 1) for i, p in enumerate(ports)], 2, run
    )
    assert not (await driver.sync(first)).drift
    await driver.call(change("port", {**ports[2], "name": "renamed"}, rev=2, op="update"))
    ovn.nbctl("lsp-del", ports[5]["id"])
    mark = len(nb_reads)
    await seen_by(driver, "port", ports[5]["id"], present=False)
    del nb_reads[mark:]  # the test's own reads
    assert not (await driver.sync(second)).drift
    report = await driver.sync(third, repair=True)
    assert (report.missing, report.stale, report.extra, report.repaired) == ([ports[5]["id"]], [], [], 1)
    assert nb_reads == [("port",)] * 3  # the run's copy, then once more for each page that differed
    ip = ports[5]["fixed_ips"][0]["ip_address"]
    assert ovn.nbctl("lsp-get-addresses", ports[5]["id"]).strip() == f"fa:16:3e:00:00:05 {ip}"


async def test_a_stopped_nb_server_is_retryable_and_the_driver_reconnects(ovn, driver):
    net = network()
    await driver.call(change("network", net))
    ovn.stop_db("nb")
    with pytest.raises(RetryableError):
        await driver.call(change("network", {**net, "mtu": 1300}, rev=2, op="update"))
    ovn.start_db("nb")
    await driver.call(change("network", {**net, "mtu": 1300}, rev=2, op="update"))
    assert ovn.get("Logical_Switch", m.switch_name(net["id"]), "other_config:mtu").strip('"') == "1300"


async def test_an_unreachable_nb_at_first_is_retryable(tmp_path):
    d = OvnDriver("ovn", {"nb_connection": f"unix:{tmp_path}/none.sock", "timeout": 1})
    with pytest.raises(RetryableError, match="unreachable"):
        await d.call(change("network", network()))
    await d.close()


async def test_two_writers_racing_end_with_the_newest_revision(ovn):
    """Two connections (two workers) write one network's revisions in a random order,
    at once: each write's verify makes the server refuse a write based on a stale
    copy, so OVN ends with the newest revision whatever the order."""
    writers = [OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 10}) for _ in range(2)]
    try:
        net = network()
        await writers[0].write("network", net, 1)
        for _ in range(5):
            revisions = list(range(2, 60))
            random.shuffle(revisions)
            top = max(revisions)
            await asyncio.gather(*(writers[r % 2].write("network", {**net, "name": f"r{r}"}, r) for r in revisions))
            ls = m.switch_name(net["id"])
            assert ext(ovn, "Logical_Switch", ls, "quark:revision_number") == str(top)
            assert ext(ovn, "Logical_Switch", ls, "quark:name") == f"r{top}"
            net = {**net}
            await writers[1].write("network", {**net, "name": "again"}, top)  # a repeated revision: no-op
            assert ext(ovn, "Logical_Switch", ls, "quark:name") == f"r{top}"
            net["id"] = uid()
            await writers[0].write("network", net, 1)
    finally:
        for writer in writers:
            await writer.close()


async def test_a_write_from_a_stale_copy_is_refused_by_the_server_and_rerun(ovn):
    """Deterministic: writer B has read revision 1 into its copy when writer A puts
    revision 5 on the server; B's write of revision 3 carries a verify of what it read,
    the server refuses it, and B's rerun sees revision 5 and writes nothing."""
    a, b = (OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 10}) for _ in range(2))
    net = network()
    await a.write("network", net, 1)
    await b.revisions()  # B's copy holds revision 1
    runs = []

    class StaleWrite(commands.WriteNetwork):
        def run_idl(self, txn):
            if not runs:  # first run: A writes revision 5 while B's copy still says 1
                a._commit(lambda api: [commands.WriteNetwork(api, {**net, "name": "five"}, 5)])
            runs.append(m.revision_of(commands.find(self.api, "network", net["id"]).external_ids))
            super().run_idl(txn)

    try:
        [written] = await asyncio.to_thread(b._commit, lambda api: [StaleWrite(api, {**net, "name": "three"}, 3)])
        assert runs == [1, 5] and written is False  # read 1, refused, rerun read 5: no write
        ls = m.switch_name(net["id"])
        assert ext(ovn, "Logical_Switch", ls, "quark:name") == "five"
        assert ext(ovn, "Logical_Switch", ls, "quark:revision_number") == "5"
    finally:
        await a.close()
        await b.close()


async def test_router_gateway_gives_snat_and_a_default_route(ovn, driver):
    ext_net = network(**{"provider:network_type": "flat", "provider:physical_network": "public"})
    ext_sub = subnet(ext_net, cidr="203.0.113.0/24", gateway_ip="203.0.113.1")
    net = network()
    sub = subnet(net)
    router = {"id": uid(), "project_id": "p1", "name": "r1", "admin_state_up": True,
              "external_gateway_info": {"network_id": ext_net["id"], "enable_snat": True}}  # fmt: skip
    gw = port(ext_net, ext_sub, ip="203.0.113.10", device_owner="network:router_gateway", device_id=router["id"])
    inside = port(net, sub, ip="10.1.0.1", device_owner="network:router_interface", device_id=router["id"])
    for kind, body in (("network", ext_net), ("subnet", ext_sub), ("network", net), ("subnet", sub),
                       ("router", router), ("port", gw), ("port", inside)):  # fmt: skip
        await driver.call(change(kind, body))
    lr = m.router_name(router["id"])
    localnet = m.provnet_name(ext_net["id"])
    assert ovn.get("Logical_Switch_Port", localnet, "type") == "localnet"
    assert ovn.get("Logical_Switch_Port", localnet, "options:network_name") == "public"
    nat = ovn.nbctl("lr-nat-list", lr)
    assert "snat" in nat and "203.0.113.10" in nat and "10.1.0.0/24" in nat
    assert "0.0.0.0/0" in ovn.nbctl("lr-route-list", lr) and "203.0.113.1" in ovn.nbctl("lr-route-list", lr)
    # SNAT off (router revision 2): no NAT; the interface removed: nothing left to translate
    await driver.call(
        change(
            "router",
            {**router, "external_gateway_info": {**router["external_gateway_info"], "enable_snat": False}},
            rev=2,
            op="update",
        )
    )
    assert ovn.nbctl("lr-nat-list", lr).strip() == ""
    await driver.call(change("router", router, rev=3, op="update"))
    assert "10.1.0.0/24" in ovn.nbctl("lr-nat-list", lr)
    await driver.call(change("port", {"id": inside["id"]}, op="delete"))
    assert ovn.nbctl("lr-nat-list", lr).strip() == ""
    assert ovn.nbctl("lrp-list", lr).split()[-1] == f"({m.router_port_name(gw['id'])})"
