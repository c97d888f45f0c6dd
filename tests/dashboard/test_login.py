"""The dashboard's Keystone login, in headless Chromium against a real
`quark serve` with auth_strategy = "keystone" and the kit's real Keystone
(tests/keystone.py): the redirect to the form, a password login that puts the
token in an HttpOnly cookie no script can read, the policy of the token's
project, a refused password, a token login, and the logout."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.dashboard.conftest import follow
from tests.dbs import migrated_database
from tests.keystone import quark_toml
from tests.servers import quark_server


@pytest.fixture(scope="module")
def keystone_dashboard(keystone, tmp_path_factory):
    config = quark_toml(keystone, tmp_path_factory.mktemp("dashboard-keystone"))
    with migrated_database("sqlite", tmp_path_factory) as url:
        with quark_server(url, env={"QUARK_CONFIG": str(config)}) as server:
            yield server


def _login(driver, url: str, **fields: str) -> None:
    driver.get(url + "/dashboard/jobs")
    assert "/dashboard/login?next=/dashboard/jobs" in driver.current_url
    for name, value in fields.items():
        box = driver.find_element(By.ID, name)
        box.clear()
        box.send_keys(value)
    follow(driver, driver.find_element(By.ID, "login"))


def test_password_login_keeps_the_token_in_an_httponly_cookie(browser, keystone, keystone_dashboard, screenshots):
    driver, url = browser, keystone_dashboard.url
    driver.delete_all_cookies()
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
    driver.get(url + "/dashboard/login")
    driver.save_screenshot(str(screenshots / "login.png"))

    _login(driver, url, username="demo-member", password="wrong", project="demo")
    assert "refused" in driver.find_element(By.ID, "error").text

    _login(driver, url, username="demo-member", password="demo-member-pass", project="demo")
    assert driver.current_url == url + "/dashboard/jobs"  # back where the login started
    project = keystone.project_id("demo-member")
    assert driver.find_element(By.ID, "who").text == f"project {project}"
    (cookie,) = [c for c in driver.get_cookies() if c["name"] == "quark_dashboard_token"]
    assert cookie["httpOnly"] and cookie["path"] == "/dashboard" and cookie.get("sameSite") == "Strict"
    assert "quark_dashboard_token" not in driver.execute_script("return document.cookie")
    # a member: agents are the admins' (the API's policy, get_agent)
    driver.get(url + "/dashboard/hosts")
    assert driver.find_element(By.ID, "refused")
    # the cookie is the dashboard's only: the API still wants its header
    assert httpx.get(url + "/v2.0/networks", cookies={cookie["name"]: cookie["value"]}).status_code == 401

    follow(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/dashboard/logout'] button"))
    assert "/dashboard/login" in driver.current_url
    assert not [c for c in driver.get_cookies() if c["name"] == "quark_dashboard_token"]
    driver.get(url + "/dashboard")
    assert "/dashboard/login" in driver.current_url


def test_a_token_logs_in_as_its_project(browser, keystone, keystone_dashboard):
    driver, url = browser, keystone_dashboard.url
    driver.delete_all_cookies()
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
    _login(driver, url, token=keystone.token("admin"))
    assert driver.find_element(By.ID, "who").text == f"project {keystone.project_id('admin')} (admin)"
    driver.get(url + "/dashboard/hosts")
    assert driver.find_element(By.ID, "agents")
    driver.delete_all_cookies()
