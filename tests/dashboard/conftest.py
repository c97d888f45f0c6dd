"""The dashboard against a real `quark serve`, in Debian's headless Chromium
driven by selenium through chromedriver (scripts/install-dataplane-deps.sh
installs both). Without them the tests are skipped; under CI=true that is a
failure. Screenshots of every page go to $QUARK_SCREENSHOTS, else to the
session's temporary directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.dbs import migrated_database
from tests.servers import quark_server

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"


def _missing(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"headless Chromium unavailable (CI=true makes that a failure): {why}")
    pytest.skip(f"headless Chromium unavailable: {why}")


@pytest.fixture(scope="session")
def dashboard_server(tmp_path_factory):
    """SQLite is enough here: the dashboard's reads run on all three databases in
    tests/services/addressing/test_utilization.py. Released addresses stay
    quarantined (the default reuse delay), so the pages have some to show; the
    ``fault`` driver gives every network a backend job, and no worker runs them
    (they stay queued for the jobs page)."""
    env = {"QUARK_AGENT_DOWN_TIME": "30", "QUARK_BACKEND_DRIVER": "fault"}
    with migrated_database("sqlite", tmp_path_factory) as url:
        with quark_server(url, env=env) as server:
            yield server


@pytest.fixture
def admin(dashboard_server):
    with httpx.Client(base_url=dashboard_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    explicit = os.environ.get("QUARK_SCREENSHOTS")
    path = Path(explicit) if explicit else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        _missing(f"selenium is not installed ({exc})")
    binary = next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)
    driver_path = shutil.which(DRIVER) or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    if binary is None or driver_path is None:
        _missing("install chromium and chromium-driver (scripts/install-dataplane-deps.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Network.enable", {})
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser, dashboard_server, screenshots):
    """Opens dashboard pages as an identity (noauth headers, set through the
    DevTools protocol as the API's clients send them) and saves screenshots."""
    return Pages(browser, dashboard_server.url, screenshots)


def follow(driver, element, timeout: float = 60) -> None:
    """Clicks ``element`` and waits for the page it leads to: the element gone
    stale, the new document loaded (a Keystone round trip may be slow on a busy machine)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    element.click()
    wait = WebDriverWait(driver, timeout)
    wait.until(expected_conditions.staleness_of(element))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


class Pages:
    def __init__(self, driver, url: str, screenshots: Path) -> None:
        self.driver, self.url, self.screenshots = driver, url, screenshots
        self.identity({})

    def identity(self, headers: dict[str, str]) -> None:
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})

    def open(self, path: str, shot: str | None = None):
        self.driver.get(self.url + path)
        if shot:
            self.shot(shot)
        return self.driver

    def shot(self, name: str) -> Path:
        target = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(target))
        assert target.stat().st_size > 1000
        return target
