"""Port forwardings in OVN NB (quark/drivers/ovn/forwarding.py), on a private OVN: one
Load_Balancer per forwarding in its router's load_balancer, written, rewritten, moved,
removed; northd's DNAT flows; sync reports and repairs drift."""

from __future__ import annotations

import pytest

from quark.drivers.base import SyncBatch
from quark.drivers.ovn import OvnDriver
from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.forwarding import OWNER, lb_name, vips
from tests.ovn import OvnCluster
from tests.ovn_driver.test_driver import change, seen_by, uid
from tests.ovn_driver.test_l3 import router, topology


@pytest.fixture
async def driver(ovn: OvnCluster):
    d = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5, "gateway_chassis": "gw-a"})
    yield d
    await d.close()


def forwarding(fip_id: str, router_id: str, **attrs) -> dict:
    """A forwarding as the backend's view shows it (services/l3/port_forwarding_backend.py)."""
    ports = attrs.pop("ports", (8022, 8022, 22, 22))
    return {
        "id": uid(),
        "project_id": "p1",
        "floatingip_id": fip_id,
        "floating_ip_address": "203.0.113.60",
        "router_id": router_id,
        "protocol": "tcp",
        "internal_ip_address": "10.1.0.5",
        "internal_port_id": "vm",
        "description": "ssh",
        "external_port_start": ports[0],
        "external_port_end": ports[1],
        "internal_port_start": ports[2],
        "internal_port_end": ports[3],
        **attrs,
    }


def lbs(ovn: OvnCluster, lr: str) -> dict[str, dict[str, str]]:
    """The router's load balancers: name -> {protocol, vips, revision}."""
    found = {}
    for uuid in ovn.get("Logical_Router", lr, "load_balancer").replace(",", " ").split():
        found[ovn.get("Load_Balancer", uuid, "name")] = {
            "protocol": ovn.get("Load_Balancer", uuid, "protocol"),
            "vips": ovn.get("Load_Balancer", uuid, "vips"),
            "revision": ovn.get("Load_Balancer", uuid, 'external_ids:"quark:revision_number"'),
        }
    return found


def test_vips_pair_ranges_n_to_n_and_n_to_one():
    body = forwarding("f", "r", ports=(8000, 8002, 9000, 9002))
    assert vips(body) == {f"203.0.113.60:{8000 + i}": f"10.1.0.5:{9000 + i}" for i in range(3)}
    body = forwarding("f", "r", ports=(8000, 8001, 22, 22))
    assert vips(body) == {"203.0.113.60:8000": "10.1.0.5:22", "203.0.113.60:8001": "10.1.0.5:22"}
    assert not m.realised("port_forwarding", {**body, "protocol": "icmp"})
    assert not m.realised("port_forwarding", {**body, "router_id": None})


async def test_forwarding_written_rewritten_moved_and_removed(ovn, driver):
    ra = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    rb = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    await topology(driver, ra)
    await topology(driver, rb, cidr="10.7.0.0/24", gw_ip="203.0.113.11")
    lra, lrb = m.router_name(ra["id"]), m.router_name(rb["id"])
    fip_id = uid()
    pf = forwarding(fip_id, ra["id"])
    await driver.call(change("port_forwarding", pf))
    name = lb_name(fip_id, "tcp", pf["id"])
    assert lbs(ovn, lra) == {name: {"protocol": "tcp", "vips": "{203.0.113.60:8022=10.1.0.5:22}", "revision": "1"}}
    uuid = ovn.nbctl("--bare", "--columns=_uuid", "find", "Load_Balancer", f"name={name}").strip()
    assert ovn.get("Load_Balancer", uuid, 'external_ids:"quark:device_owner"') == OWNER
    assert ovn.get("Load_Balancer", uuid, 'external_ids:"quark:floatingip_id"') == fip_id
    # northd DNATs the VIP on the router (its gateway port has a chassis)
    ovn.wait_for_nb(
        lambda: (
            "ct_lb_mark(backends=10.1.0.5:22)" in ovn.sbctl("lflow-list", lra)
            or "ct_lb(backends=10.1.0.5:22)" in ovn.sbctl("lflow-list", lra)
        ),
        what="the forwarding's DNAT flow",
    )

    ranged = {**pf, "external_port_start": 8100, "external_port_end": 8101, "internal_port_start": 2200,
              "internal_port_end": 2201}  # fmt: skip
    await driver.call(change("port_forwarding", ranged, rev=2, op="update"))
    assert lbs(ovn, lra)[name]["vips"] == "{203.0.113.60:8100=10.1.0.5:2200, 203.0.113.60:8101=10.1.0.5:2201}"
    await driver.call(change("port_forwarding", pf, rev=1, op="update"))  # a late older revision: nothing
    assert lbs(ovn, lra)[name]["revision"] == "2"

    moved = {**ranged, "router_id": rb["id"], "internal_ip_address": "10.7.0.5"}
    await driver.call(change("port_forwarding", moved, rev=3, op="update"))
    assert lbs(ovn, lra) == {} and set(lbs(ovn, lrb)) == {name}
    assert len(ovn.nbctl("--bare", "--columns=_uuid", "list", "Load_Balancer").split()) == 1

    await driver.call(change("port_forwarding", {**moved, "protocol": "icmp"}, rev=4, op="update"))  # not OVN's
    assert lbs(ovn, lrb) == {} and ovn.nbctl("--bare", "--columns=_uuid", "list", "Load_Balancer").strip() == ""
    await driver.call(change("port_forwarding", moved, rev=5, op="update"))
    await driver.call(change("port_forwarding", {"id": pf["id"]}, op="delete"))
    assert lbs(ovn, lrb) == {} and ovn.nbctl("--bare", "--columns=_uuid", "list", "Load_Balancer").strip() == ""


async def test_a_forwarding_before_its_router_is_retryable(ovn, driver):
    from quark.drivers.base import RetryableError

    with pytest.raises(RetryableError, match="logical router"):
        await driver.call(change("port_forwarding", forwarding(uid(), uid())))


async def test_sync_reports_and_repairs_forwarding_drift(ovn, driver):
    r = router(external_gateway_info={"network_id": "ext", "enable_snat": True})
    await topology(driver, r)
    lr = m.router_name(r["id"])
    fip_id = uid()
    kept, lost, later = (forwarding(fip_id, r["id"], ports=(p, p, 22, 22)) for p in (8022, 8023, 8024))
    stray = forwarding(fip_id, r["id"], ports=(8025, 8025, 22, 22))
    icmp = forwarding(fip_id, r["id"], protocol="icmp")  # never in NB: not missing
    for pf in (kept, lost, stray):
        await driver.call(change("port_forwarding", pf))
    await driver.call(change("port_forwarding", {**later, "description": "old"}))

    def wanted() -> SyncBatch:  # one sync run each: a run keeps its copy of NB
        return SyncBatch(
            "port_forwarding",
            [change("port_forwarding", pf) for pf in (kept, lost, icmp)] + [change("port_forwarding", later, rev=2)],
        )

    lost_lb = lb_name(fip_id, "tcp", lost["id"])
    ovn.nbctl("lb-del", lost_lb)  # behind Quark's back
    await seen_by(driver, "port_forwarding", lost["id"], present=False)
    report = await driver.sync(wanted())
    assert report.missing == [lost["id"]] and report.extra == [stray["id"]] and report.stale == [later["id"]]

    report = await driver.sync(wanted(), repair=True)
    assert report.repaired == 3
    assert set(lbs(ovn, lr)) == {lb_name(fip_id, "tcp", pf["id"]) for pf in (kept, lost, later)}
    assert lbs(ovn, lr)[lb_name(fip_id, "tcp", later["id"])]["revision"] == "2"
    assert not (await driver.sync(wanted())).drift
