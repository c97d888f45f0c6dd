"""The dashboard in headless Chromium against a real server: each page
rendered (and photographed), its numbers read off the page and compared with
the API's, the heat map drilled into, the search box used, and what a member
sees against what an admin sees."""

from __future__ import annotations

import uuid

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from tests.dashboard.conftest import follow


def _post(client: httpx.Client, collection: str, key: str, body: dict) -> dict:
    response = client.post(f"/v2.0/{collection}", json={key: body})
    assert response.status_code == 201, response.text
    return response.json()[key]


def _network(client: httpx.Client, cidr: str, **subnet: object) -> tuple[dict, dict]:
    name = f"dash-{uuid.uuid4().hex[:8]}"
    net = _post(client, "networks", "network", {"name": name})
    sub = _post(
        client, "subnets", "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 4, "name": name, **subnet}
    )
    return net, sub


def _row_numbers(driver, subnet_id: str) -> dict[str, int]:
    row = driver.find_element(By.CSS_SELECTOR, f'#subnets tr[data-subnet-id="{subnet_id}"]')
    return {
        name: int(row.find_element(By.CSS_SELECTOR, f"td.{name}").text.rstrip("+"))
        for name in ("total", "used", "free", "quarantined", "policy")
    }


def _find_subnet_row(page, subnet_id: str):
    """Walks the overview's pages until the subnet's row shows (each page is 25 subnets)."""
    driver = page.open("/dashboard")
    for _ in range(50):
        if driver.find_elements(By.CSS_SELECTOR, f'#subnets tr[data-subnet-id="{subnet_id}"]'):
            return driver
        follow(driver, driver.find_element(By.CSS_SELECTOR, ".pager a.next"))
    raise AssertionError(f"subnet {subnet_id} not on the overview")


def test_overview_numbers_are_the_apis(page, admin):
    net, sub = _network(admin, "10.210.0.0/24", enable_dhcp=False)
    _post(admin, "ip_policies", "ip_policy", {"subnet_ids": [sub["id"]], "exclude": ["10.210.0.240/28"]})
    ports = [_post(admin, "ports", "port", {"network_id": net["id"]}) for _ in range(6)]
    assert admin.delete(f"/v2.0/ports/{ports[0]['id']}").status_code == 204  # quarantined now
    driver = _find_subnet_row(page, sub["id"])
    page.shot("overview")
    shown = _row_numbers(driver, sub["id"])
    api = admin.get(f"/v2.0/network-ip-availabilities/{net['id']}").json()["network_ip_availability"]
    (entry,) = api["subnet_ip_availability"]
    assert shown["total"] == entry["total_ips"] == 238
    assert shown["used"] == entry["used_ips"] == 5
    assert shown["quarantined"] == 1
    assert shown["policy"] == 15
    assert shown["free"] == entry["total_ips"] - entry["used_ips"] - 1
    # the MAC ranges and the segment ranges are there, with their use
    assert driver.find_elements(By.CSS_SELECTOR, "#macs tbody tr")
    assert driver.find_elements(By.CSS_SELECTOR, "#segments tbody tr")


def test_heat_map_zooms_from_a_16_to_its_addresses(page, admin):
    net, sub = _network(admin, "10.211.0.0/16", enable_dhcp=False)
    for ip in ("10.211.0.5", "10.211.0.6", "10.211.7.9"):
        _post(admin, "ports", "port", {"network_id": net["id"], "fixed_ips": [{"ip_address": ip}]})
    driver = page.open(f"/dashboard/subnets/{sub['id']}", "subnet-16")
    cells = driver.find_elements(By.CSS_SELECTOR, "#heatmap .cell")
    assert len(cells) == 256
    assert [int(c.get_attribute("data-used")) for c in cells[:8]] == [2, 0, 0, 0, 0, 0, 0, 1]
    follow(driver, cells[7])
    assert driver.find_element(By.ID, "view").text == "10.211.7.0/24"
    leaf = driver.find_elements(By.CSS_SELECTOR, "#heatmap .cell")
    assert len(leaf) == 256
    states = [c.get_attribute("data-state") for c in leaf]
    assert states[9] == "used" and states.count("used") == 1
    assert states[0] == "free"  # 10.211.7.0 is inside the pools of a /16
    page.shot("subnet-24")
    follow(driver, driver.find_element(By.ID, "up"))
    assert driver.find_element(By.ID, "view").text == "10.211.0.0/16"


def test_hosts_show_health_and_what_they_run(page, admin):
    host = f"dash-host-{uuid.uuid4().hex[:6]}"
    report = {"host": host, "agent_type": "DHCP agent", "binary": "quark-dhcp", "configurations": {}}
    assert admin.post("/v2.0/agents/report", json={"agent": report}).status_code in (200, 201)
    _network(admin, "10.212.0.0/24")  # DHCP on: its DHCP port goes to the live DHCP host
    driver = page.open("/dashboard/hosts")
    for _ in range(40):
        rows = driver.find_elements(By.XPATH, f'//table[@id="agents"]//tr[td/a[text()="{host}"]]')
        if rows:
            break
        follow(driver, driver.find_element(By.CSS_SELECTOR, ".pager a.next"))
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    assert cells[2].text == "alive"
    assert int(cells[6].text) >= 1  # DHCP for the new network (and perhaps earlier ones)
    page.shot("hosts")
    follow(driver, rows[0].find_element(By.TAG_NAME, "a"))
    assert driver.find_elements(By.CSS_SELECTOR, "#dhcp li")
    page.shot("host")


def test_jobs_page_lists_and_filters(page, admin):
    net, _ = _network(admin, "10.216.0.0/24", enable_dhcp=False)
    jobs = admin.get("/v2.0/jobs", params={"resource_id": net["id"]}).json()["jobs"]
    assert jobs  # the fault driver's network: backend work, queued (no worker runs here)
    driver = page.open("/dashboard/jobs", "jobs")
    for job in jobs:  # newest first: on page one
        row = driver.find_element(By.CSS_SELECTOR, f'#jobs tr[data-job-id="{job["id"]}"]')
        assert job["status"] in row.text and net["id"] in row.text
    job = jobs[0]
    page.open(f"/dashboard/jobs?status={job['status']}")
    assert driver.find_elements(By.CSS_SELECTOR, f'#jobs tr[data-job-id="{job["id"]}"]')
    page.open("/dashboard/jobs?status=failed")
    assert all(td.text == "failed" for td in driver.find_elements(By.CSS_SELECTOR, "#jobs tbody td:nth-child(2)"))
    assert not driver.find_elements(By.CSS_SELECTOR, f'#jobs tr[data-job-id="{job["id"]}"]')
    assert page.open("/dashboard/jobs?status=bogus").find_element(By.ID, "error")


def test_search_finds_ip_mac_port_and_device(page, admin):
    net, sub = _network(admin, "10.213.0.0/24", enable_dhcp=False)
    device = f"vm-{uuid.uuid4().hex[:8]}"
    port = _post(admin, "ports", "port", {"network_id": net["id"], "device_id": device})
    address = port["fixed_ips"][0]["ip_address"]
    driver = page.open("/dashboard")
    box = driver.find_element(By.ID, "search")
    box.send_keys(address, Keys.ENTER)
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "results"))
    assert driver.find_elements(By.CSS_SELECTOR, f'#results tr[data-port-id="{port["id"]}"]')
    page.shot("search")
    for text in (port["mac_address"], port["id"], device):
        page.open(f"/dashboard/search?q={text}")
        assert driver.find_elements(By.CSS_SELECTOR, f'#results tr[data-port-id="{port["id"]}"]'), text
    # the address links to its place in the subnet's heat map
    follow(driver, driver.find_element(By.LINK_TEXT, address))
    assert driver.find_element(By.ID, "view").text == sub["cidr"]
    hit = driver.find_element(By.CSS_SELECTOR, "#heatmap .hit")
    assert hit.get_attribute("data-state") == "used"


def test_members_see_their_projects_admins_everything(page, admin, dashboard_server):
    owner, other = f"p-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    with httpx.Client(
        base_url=dashboard_server.url, timeout=30, headers={"X-Project-Id": owner, "X-Roles": "member"}
    ) as mine:
        net, sub = _network(mine, "10.214.0.0/24", enable_dhcp=False)
        port = _post(mine, "ports", "port", {"network_id": net["id"]})
    admin_net, admin_sub = _network(admin, "10.215.0.0/24", enable_dhcp=False)
    address = port["fixed_ips"][0]["ip_address"]

    page.identity({"X-Project-Id": owner, "X-Roles": "member"})
    driver = page.open("/dashboard", "member-overview")
    assert driver.find_element(By.ID, "who").text == f"project {owner}"
    ids = {
        r.get_attribute("data-subnet-id") for r in driver.find_elements(By.CSS_SELECTOR, "#subnets tr[data-subnet-id]")
    }
    assert ids == {sub["id"]}
    assert _row_numbers(driver, sub["id"])["used"] == 1
    assert page.open("/dashboard/hosts").find_element(By.ID, "refused")
    assert page.open(f"/dashboard/subnets/{admin_sub['id']}").find_element(By.ID, "error")
    page.open(f"/dashboard/search?q={address}")
    assert driver.find_elements(By.CSS_SELECTOR, f'#results tr[data-port-id="{port["id"]}"]')

    page.identity({"X-Project-Id": other, "X-Roles": "member"})
    assert not page.open("/dashboard").find_elements(By.CSS_SELECTOR, "#subnets tr[data-subnet-id]")
    page.open(f"/dashboard/search?q={port['id']}")
    assert driver.find_element(By.ID, "nothing")
    assert page.open(f"/dashboard/subnets/{sub['id']}").find_element(By.ID, "error")

    page.identity({})  # no project: the noauth admin
    _find_subnet_row(page, sub["id"])
    _find_subnet_row(page, admin_sub["id"])
    assert page.open(f"/dashboard/subnets/{sub['id']}").find_elements(By.CSS_SELECTOR, "#heatmap .cell")
    del admin_net
