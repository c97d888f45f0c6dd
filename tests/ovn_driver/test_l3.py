"""Routers and floating IPs in OVN NB (tests/ovn.py: a private OVN per test): logical
routers and their ports, extra routes, gateway chassis, floating IPs' dnat_and_snat
rows through association changes, compare-and-swap, and sync of the new kinds."""

from __future__ import annotations

import asyncio

import pytest

from quark.drivers.base import RetryableError, SyncBatch
from quark.drivers.ovn import OvnDriver
from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.driver import l3_options
from quark.drivers.ovn.southbound import is_gateway
from tests.ovn import OvnCluster
from tests.ovn_driver.test_driver import change, network, port, seen_by, subnet, uid


@pytest.fixture
async def driver(ovn: OvnCluster):
    d = OvnDriver(
        "ovn",
        {"nb_connection": ovn.nb_url, "timeout": 5, "gateway_chassis": "gw-a, gw-b", "distributed_floating_ips": True},
    )
    yield d
    await d.close()


def router(**attrs) -> dict:
    return {"id": uid(), "project_id": "p1", "name": "r1", "admin_state_up": True, "routes": [], **attrs}


def fip(address: str = "203.0.113.50", **attrs) -> dict:
    return {
        "id": uid(),
        "project_id": "p1",
        "floating_ip_address": address,
        "floating_network_id": attrs.pop("floating_network_id", "ext"),
        "port_id": None,
        "fixed_ip_address": None,
        "router_id": None,
        **attrs,
    }


def nat(ovn: OvnCluster, lr: str, kind: str = "dnat_and_snat") -> list[dict[str, str]]:
    """The router's NAT rows of one type, as column -> value."""
    found = []
    for uuid in ovn.get("Logical_Router", lr, "nat").strip("[]").replace(",", " ").split():
        columns = ("type", "external_ip", "logical_ip", "logical_port", "external_mac")
        row = {c: ovn.get("NAT", uuid, c).strip('"[]') for c in columns}
        if row["type"] == kind:
            found.append(row)
    return found


def routes(ovn: OvnCluster, lr: str) -> set[tuple[str, str]]:
    lines = ovn.nbctl("--bare", "--columns=ip_prefix,nexthop", "list", "Logical_Router_Static_Route").split("\n\n")
    held = {tuple(block.split()) for block in lines if block.strip()}
    uuids = ovn.get("Logical_Router", lr, "static_routes").strip("[]").replace(",", " ").split()
    mine = {
        tuple(ovn.get("Logical_Router_Static_Route", u, c).strip('"') for c in ("ip_prefix", "nexthop")) for u in uuids
    }
    assert mine <= held
    return mine  # type: ignore[return-value]


async def topology(driver: OvnDriver, r: dict, cidr: str = "10.1.0.0/24", gw_ip: str = "203.0.113.10"):
    """An external network, the router with its gateway, an inside subnet with an interface
    and a VM port: (ext_net, ext_sub, gateway port, interface port, vm port)."""
    ext_net = network(**{"provider:network_type": "flat", "provider:physical_network": "public"})
    ext_sub = subnet(ext_net, cidr="203.0.113.0/24", gateway_ip="203.0.113.1")
    net = network()
    prefix = cidr.rsplit(".", 2)[0]
    sub = subnet(net, cidr=cidr, gateway_ip=f"{prefix}.0.1")
    gw = port(ext_net, ext_sub, ip=gw_ip, device_owner="network:router_gateway", device_id=r["id"])
    inside = port(net, sub, ip=f"{prefix}.0.1", device_owner="network:router_interface", device_id=r["id"])
    inside["mac_address"] = "fa:16:3e:00:01:01"
    vm = port(net, sub, ip=f"{prefix}.0.5", mac_address="fa:16:3e:00:00:05")
    for kind, body in (("network", ext_net), ("subnet", ext_sub), ("network", net), ("subnet", sub),
                       ("router", r), ("port", gw), ("port", inside), ("port", vm)):  # fmt: skip
        await driver.call(change(kind, body))
    return ext_net, ext_sub, gw, inside, vm


async def floating_port(driver: OvnDriver, ext_net: dict, ext_sub: dict, f: dict, n: int = 50) -> dict:
    """The floating IP's own port on the external network (its MAC: ``fa:16:3e:00:00:<n>``)."""
    p = port(ext_net, ext_sub, ip=f["floating_ip_address"], mac_address=f"fa:16:3e:00:00:{n}",
             device_owner="network:floatingip", device_id=f["id"], port_security_enabled=False)  # fmt: skip
    await driver.call(change("port", p))
    return p


async def test_router_lifecycle_interfaces_and_extra_routes(ovn, driver):
    r = router()
    await driver.call(change("router", r))
    lr = m.router_name(r["id"])
    assert ovn.nb_names("Logical_Router") == {lr}
    assert ovn.get("Logical_Router", lr, 'external_ids:"quark:revision_number"').strip('"') == "1"
    await driver.call(change("router", {**r, "admin_state_up": False}, rev=2, op="update"))
    assert ovn.get("Logical_Router", lr, "enabled") == "false"

    net = network()
    sub = subnet(net)
    inside = port(net, sub, ip="10.1.0.1", device_owner="network:router_interface", device_id=r["id"])
    for kind, body in (("network", net), ("subnet", sub), ("port", inside)):
        await driver.call(change(kind, body))
    lrp = m.router_port_name(inside["id"])
    assert ovn.get("Logical_Router_Port", lrp, "mac").strip('"') == inside["mac_address"]
    assert ovn.get("Logical_Router_Port", lrp, "networks").strip('[]"') == "10.1.0.1/24"
    assert ovn.get("Logical_Switch_Port", inside["id"], "type") == "router"
    assert ovn.get("Logical_Switch_Port", inside["id"], "options:router-port").strip('"') == lrp

    extra = [{"destination": "192.168.50.0/24", "nexthop": "10.1.0.50"}]
    await driver.call(change("router", {**r, "routes": extra}, rev=3, op="update"))
    assert routes(ovn, lr) == {("192.168.50.0/24", "10.1.0.50")}
    await driver.call(change("router", {**r, "routes": []}, rev=2, op="update"))  # older: changes nothing
    assert routes(ovn, lr) == {("192.168.50.0/24", "10.1.0.50")}
    # a second interface (a write of the router's ports) keeps the extra routes
    sub2 = subnet(net, cidr="10.2.0.0/24", gateway_ip="10.2.0.1")
    second = port(net, sub2, ip="10.2.0.1", device_owner="network:router_interface", device_id=r["id"])
    for kind, body in (("subnet", sub2), ("port", second)):
        await driver.call(change(kind, body))
    assert routes(ovn, lr) == {("192.168.50.0/24", "10.1.0.50")}
    assert ovn.nbctl("lrp-list", lr).count("lrp-") == 2

    await driver.call(change("port", {"id": inside["id"]}, op="delete"))  # the interface removed
    assert ovn.nbctl("lrp-list", lr).count("lrp-") == 1 and lrp not in ovn.nbctl("lrp-list", lr)
    assert routes(ovn, lr) == {("192.168.50.0/24", "10.1.0.50")}
    await driver.call(change("router", {**r, "routes": []}, rev=4, op="update"))
    assert routes(ovn, lr) == set()
    await driver.call(change("port", {"id": second["id"]}, op="delete"))
    await driver.call(change("router", {"id": r["id"]}, op="delete"))
    assert ovn.nb_names("Logical_Router") == set()
    assert ovn.nbctl("--bare", "--columns=_uuid", "list", "Logical_Router_Port").strip() == ""


async def test_gateway_port_gets_gateway_chassis_snat_and_default_route(ovn, driver):
    r = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    _, _, gw, _, _ = await topology(driver, r)
    lr = m.router_name(r["id"])
    lrp = m.router_port_name(gw["id"])
    chassis = ovn.nbctl("lrp-get-gateway-chassis", lrp).split()
    assert chassis == [f"{lrp}_gw-a", "2", f"{lrp}_gw-b", "1"]
    assert ovn.get("Logical_Switch_Port", gw["id"], "options:nat-addresses").strip('"') == "router"
    assert [row["logical_ip"] for row in nat(ovn, lr, "snat")] == ["10.1.0.0/24"]
    assert ("0.0.0.0/0", "203.0.113.1") in routes(ovn, lr)
    # a rewrite of the gateway port keeps its chassis rows (names are unique)
    await driver.call(change("port", gw, rev=2, op="update"))
    assert ovn.nbctl("lrp-get-gateway-chassis", lrp).split() == chassis
    # northd: the router port is bound to a chassis-redirect port for the gateway
    ovn.wait_for_nb(lambda: f"cr-{lrp}" in ovn.sbctl("--bare", "--columns=logical_port", "list", "Port_Binding"))

    # gateway cleared: the gateway port goes, with its chassis, SNAT and default route
    await driver.call(change("router", {**r, "external_gateway_info": None}, rev=2, op="update"))
    await driver.call(change("port", {"id": gw["id"]}, op="delete"))
    assert ovn.nbctl("--bare", "--columns=_uuid", "list", "Gateway_Chassis").strip() == ""
    assert nat(ovn, lr, "snat") == [] and routes(ovn, lr) == set()


async def test_floating_ip_associate_move_disassociate_delete(ovn, driver):
    ra = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    rb = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    ext_net, ext_sub, _, _, vm_a = await topology(driver, ra)
    _, _, _, _, vm_b = await topology(driver, rb, cidr="10.7.0.0/24", gw_ip="203.0.113.11")
    lra, lrb = m.router_name(ra["id"]), m.router_name(rb["id"])
    f = fip(floating_network_id=ext_net["id"])
    await floating_port(driver, ext_net, ext_sub, f)
    await driver.call(change("floatingip", f))  # unassociated: nothing in NB
    assert nat(ovn, lra) == [] and nat(ovn, lrb) == []

    on_a = {**f, "port_id": vm_a["id"], "fixed_ip_address": "10.1.0.5", "router_id": ra["id"]}
    await driver.call(change("floatingip", on_a, rev=2, op="update"))
    expected = {"type": "dnat_and_snat", "external_ip": "203.0.113.50", "logical_ip": "10.1.0.5"}
    # distributed: the VM's port and the floating IP port's MAC
    assert nat(ovn, lra) == [{**expected, "logical_port": vm_a["id"], "external_mac": "fa:16:3e:00:00:50"}]
    # a router update and a port write of the router keep the floating IP's row
    await driver.call(change("router", {**ra, "name": "renamed"}, rev=2, op="update"))
    await driver.call(change("port", {**vm_a, "name": "renamed"}, rev=2, op="update"))
    assert len(nat(ovn, lra)) == 1 and len(nat(ovn, lra, "snat")) == 1

    on_b = {**f, "port_id": vm_b["id"], "fixed_ip_address": "10.7.0.5", "router_id": rb["id"]}
    await driver.call(change("floatingip", on_b, rev=3, op="update"))  # moved behind another router
    assert nat(ovn, lra) == []
    assert nat(ovn, lrb) == [{**expected, "logical_ip": "10.7.0.5", "logical_port": vm_b["id"], "external_mac": "fa:16:3e:00:00:50"}]  # fmt: skip
    await driver.call(change("floatingip", on_a, rev=2, op="update"))  # a late older revision
    assert nat(ovn, lra) == [] and len(nat(ovn, lrb)) == 1
    assert ovn.nbctl("--bare", "--columns=_uuid", "find", "NAT", "type=dnat_and_snat").strip().count("\n") == 0

    await driver.call(change("floatingip", {**f, "router_id": rb["id"]}, rev=4, op="update"))  # disassociated
    assert nat(ovn, lrb) == [] and len(nat(ovn, lrb, "snat")) == 1
    with pytest.raises(RetryableError, match="the port of floating IP"):  # distributed: its port's MAC is needed
        await driver.call(change("floatingip", {**on_b, "id": uid()}))
    await driver.call(change("floatingip", on_b, rev=5, op="update"))
    await driver.call(change("floatingip", {"id": f["id"]}, op="delete"))
    assert nat(ovn, lrb) == []
    assert ovn.nbctl("--bare", "--columns=_uuid", "find", "NAT", "type=dnat_and_snat").strip() == ""


async def test_centralised_floating_ip_has_no_external_mac_and_waits_for_its_router(ovn):
    d = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5})
    try:
        r = router(external_gateway_info={"network_id": "ext", "enable_snat": False})
        f = fip(port_id="p", fixed_ip_address="10.1.0.5", router_id=r["id"])
        with pytest.raises(RetryableError, match="logical router"):
            await d.call(change("floatingip", f))
        _, _, gw, _, vm = await topology(d, r)
        await d.call(change("floatingip", {**f, "port_id": vm["id"]}))  # no port of its own needed
        [row] = nat(ovn, m.router_name(r["id"]))
        assert row["external_mac"] == "" and row["logical_port"] == ""
        assert nat(ovn, m.router_name(r["id"]), "snat") == []
        # no gateway_chassis setting: the gateway port's chassis are left alone
        assert ovn.nbctl("lrp-get-gateway-chassis", m.router_port_name(gw["id"])).strip() == ""
    finally:
        await d.close()


async def test_sync_repairs_a_deleted_nat_row_and_an_extra_router(ovn, driver):
    r = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    ext_net, ext_sub, _, _, vm = await topology(driver, r)
    f = fip(floating_network_id=ext_net["id"], port_id=vm["id"], fixed_ip_address="10.1.0.5", router_id=r["id"])
    await floating_port(driver, ext_net, ext_sub, f)
    idle = fip("203.0.113.51", floating_network_id=ext_net["id"])  # unassociated: not drift
    await driver.call(change("floatingip", f))
    stray = router(name="stray")
    await driver.call(change("router", stray))

    def wanted_routers() -> SyncBatch:  # one sync run each: a run keeps its copy of NB
        return SyncBatch("router", [change("router", r)])

    def wanted_fips() -> SyncBatch:
        return SyncBatch("floatingip", [change("floatingip", f), change("floatingip", idle)])

    assert not (await driver.sync(wanted_fips())).drift

    lr = m.router_name(r["id"])
    ovn.nbctl("lr-nat-del", lr, "dnat_and_snat", "203.0.113.50")  # someone removes it behind Quark's back
    await seen_by(driver, "floatingip", f["id"], present=False)
    report = await driver.sync(wanted_fips())
    assert report.missing == [f["id"]] and not report.extra and not report.stale
    report = await driver.sync(wanted_routers())
    assert report.extra == [stray["id"]] and not report.missing

    report = await driver.sync(wanted_fips(), repair=True)
    assert report.repaired == 1
    assert nat(ovn, lr)[0]["logical_ip"] == "10.1.0.5"
    report = await driver.sync(wanted_routers(), repair=True)
    assert report.repaired == 1
    assert ovn.nb_names("Logical_Router") == {lr}
    assert not (await driver.sync(wanted_routers())).drift and not (await driver.sync(wanted_fips())).drift
    assert len(nat(ovn, lr, "snat")) == 1 and ("0.0.0.0/0", "203.0.113.1") in routes(ovn, lr)


async def test_gateway_chassis_from_the_chassis_sb_marks_gateway_capable(ovn):
    ovn.sbctl("chassis-add", "gw-x", "geneve", "127.0.0.11")
    ovn.sbctl("set", "Chassis", "gw-x", 'other_config:ovn-cms-options="enable-chassis-as-gw,foo"')
    ovn.sbctl("chassis-add", "gw-old", "geneve", "127.0.0.12")  # older OVN: in external_ids
    ovn.sbctl("set", "Chassis", "gw-old", "external_ids:ovn-cms-options=enable-chassis-as-gw")
    ovn.sbctl("chassis-add", "compute", "geneve", "127.0.0.13")
    d = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "sb_connection": ovn.sb_url, "timeout": 5})
    try:
        r = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
        _, _, gw, _, _ = await topology(d, r)
        lrp = m.router_port_name(gw["id"])
        assert ovn.nbctl("lrp-get-gateway-chassis", lrp).split() == [f"{lrp}_gw-old", "2", f"{lrp}_gw-x", "1"]
        ovn.sbctl("chassis-del", "gw-old")
        for rev in range(2, 100):  # the driver's copy of SB follows: a later write of the port sees it
            await d.call(change("port", gw, rev=rev, op="update"))
            if ovn.nbctl("lrp-get-gateway-chassis", lrp).split() == [f"{lrp}_gw-x", "1"]:
                break
            await asyncio.sleep(0.1)
        assert ovn.nbctl("lrp-get-gateway-chassis", lrp).split() == [f"{lrp}_gw-x", "1"]
    finally:
        await d.close()


def test_l3_options_and_gateway_capability_parse():
    assert l3_options({}) == {"distributed_floating_ips": False}
    assert l3_options({"gateway_chassis": " a, b ,", "distributed_floating_ips": "true"}) == {
        "distributed_floating_ips": True,
        "gateway_chassis": ["a", "b"],
    }
    assert l3_options({"gateway_chassis": ["x"]})["gateway_chassis"] == ["x"]
    assert is_gateway({"ovn-cms-options": "foo, enable-chassis-as-gw"}, {})
    assert is_gateway({}, {"ovn-cms-options": "enable-chassis-as-gw"})
    assert not is_gateway({"ovn-cms-options": "enable-chassis-as-gw-not"}, {}) and not is_gateway(None, None)


class _Reads:
    """A spy on the IDL's copy of one table: counts every read of all its rows
    (iteration, values, items, keys); a lookup of one row by uuid is not one."""

    def __init__(self, table_rows) -> None:
        self.count = 0
        self.table_rows, self.original = table_rows, type(table_rows)
        spy = self

        def counted(name: str):
            def method(rows, *args):
                spy.count += 1
                return getattr(super(counting, rows), name)(*args)

            return method

        counting = type("Counting", (self.original,), {n: counted(n) for n in ("__iter__", "values", "items", "keys")})
        table_rows.__class__ = counting

    def restore(self) -> None:
        self.table_rows.__class__ = self.original


async def test_a_distributed_floating_ip_write_reads_no_switch_port_but_its_own(ovn, driver):
    r = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    ext_net, ext_sub, _, _, vm = await topology(driver, r)
    for i in range(12):  # more ports: of other devices, and of none
        other = port(ext_net, ext_sub, ip=f"203.0.113.{100 + i}", mac_address=f"fa:16:3e:00:02:{i:02x}",
                     device_id=uid() if i % 2 else "", device_owner="compute:nova" if i % 2 else "")  # fmt: skip
        await driver.call(change("port", other))
    f = fip(floating_network_id=ext_net["id"])
    own = await floating_port(driver, ext_net, ext_sub, f)
    lr = m.router_name(r["id"])
    associated = {**f, "port_id": vm["id"], "fixed_ip_address": "10.1.0.5", "router_id": r["id"]}

    reads = _Reads(driver._nb().tables["Logical_Switch_Port"].rows)
    try:
        await driver.call(change("floatingip", associated, rev=2, op="update"))
        assert reads.count == 0, "the write read every logical switch port"
    finally:
        reads.restore()
    assert nat(ovn, lr)[0]["external_mac"] == "fa:16:3e:00:00:50"

    # The index follows the port: a new MAC is found, a deleted port is missing again.
    await driver.call(change("port", {**own, "mac_address": "fa:16:3e:00:00:51"}, rev=2, op="update"))
    await driver.call(change("floatingip", associated, rev=3, op="update"))
    assert nat(ovn, lr)[0]["external_mac"] == "fa:16:3e:00:00:51"
    await driver.call(change("port", {"id": own["id"]}, op="delete"))
    with pytest.raises(RetryableError, match="the port of floating IP"):
        await driver.call(change("floatingip", associated, rev=4, op="update"))

    # A port given its device by an update (no device before) is found under it.
    g = fip("203.0.113.60", floating_network_id=ext_net["id"])
    late = port(ext_net, ext_sub, ip="203.0.113.60", mac_address="fa:16:3e:00:00:60", device_id="", device_owner="",
                port_security_enabled=False)  # fmt: skip
    await driver.call(change("port", late))
    await driver.call(change("port", {**late, "device_id": g["id"], "device_owner": m.FLOATING_IP_OWNER}, rev=2, op="update"))  # fmt: skip
    await driver.call(change("floatingip", {**associated, "id": g["id"], "floating_ip_address": "203.0.113.60"}))
    assert sorted(row["external_mac"] for row in nat(ovn, lr)) == ["fa:16:3e:00:00:51", "fa:16:3e:00:00:60"]


async def test_distributed_floating_ips_external_mac_follows_its_ports_mac(ovn, driver):
    r = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    ext_net, ext_sub, _, _, vm = await topology(driver, r)
    f = fip(floating_network_id=ext_net["id"], port_id=vm["id"], fixed_ip_address="10.1.0.5", router_id=r["id"])
    own = await floating_port(driver, ext_net, ext_sub, f)
    await driver.call(change("floatingip", f))
    lr = m.router_name(r["id"])
    assert nat(ovn, lr)[0]["external_mac"] == "fa:16:3e:00:00:50"
    await driver.call(change("port", {**own, "mac_address": "fa:16:3e:00:00:77"}, rev=2, op="update"))
    [row] = nat(ovn, lr)
    assert row["external_mac"] == "fa:16:3e:00:00:77" and row["logical_port"] == vm["id"]
    uuid = ovn.nbctl("--bare", "--columns=_uuid", "find", "NAT", "type=dnat_and_snat").strip()
    assert ovn.get("NAT", uuid, 'external_ids:"quark:fip_external_mac"') == "fa:16:3e:00:00:77"
    assert ovn.get("NAT", uuid, 'external_ids:"quark:revision_number"') == "1"  # the floating IP's, unchanged
    await driver.call(change("port", {**vm, "mac_address": "fa:16:3e:00:00:99"}, rev=2, op="update"))  # not its port
    assert nat(ovn, lr)[0]["external_mac"] == "fa:16:3e:00:00:77"
