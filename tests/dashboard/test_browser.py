"""A real headless Chromium opens the running dashboard, page by page: it must render with no error
box, and a screenshot of each page is kept under test-artifacts/dashboard/ for people to look at."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import running_dashboard

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

PORT = 18501
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# (url path, title the page shows)
PAGES = (
    ("", "Overview"),
    ("customers", "Customers"),
    ("models", "Models and plugins"),
    ("compute", "Compute"),
    ("pricing", "Pricing lab"),
    ("risk", "Risk"),
)


@pytest.fixture(scope="module")
def dashboard_url(seeded_home: Path) -> Iterator[str]:
    env = {**os.environ, "VERTICALS_HOME": str(seeded_home)}
    env.pop("VERTICALS_ADMIN_TOKEN", None)
    with running_dashboard(Path(sys.executable).with_name("verticals"), PORT, env) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        # make test installs them (make system); a missing browser must not pass as a skipped test
        pytest.fail(
            "needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--disable-dev-shm-usage",
        "--window-size=1440,2200",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_rendered(driver: object, title: str, timeout: float = 60) -> None:
    """Until the page's title is up, Streamlit has stopped running the script and every chart is drawn."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "h1")]  # type: ignore[attr-defined]
        running = driver.find_elements(
            By.CSS_SELECTOR,
            '[data-testid="stStatusWidget"] button, '  # type: ignore[attr-defined]
            '[data-testid="stSkeleton"], [data-testid="stSpinner"]',
        )
        charts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')  # type: ignore[attr-defined]
        drawn = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"] .main-svg')  # type: ignore[attr-defined]
        if title in headings and not running and len(drawn) >= len(charts):
            time.sleep(1.0)  # let plotly finish its layout transition before the screenshot
            return
        time.sleep(0.3)
    raise AssertionError(f"page {title!r} did not finish rendering in {timeout} s")


@pytest.mark.parametrize(("path", "title"), PAGES, ids=[title for _, title in PAGES])
def test_page_renders_without_error(dashboard_url: str, browser: object, path: str, title: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{dashboard_url}/{path}")  # type: ignore[attr-defined]
    wait_rendered(browser, title)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{title.lower().replace(' ', '-')}.png"
    browser.save_screenshot(str(shot))  # type: ignore[attr-defined]
    assert shot.stat().st_size > 10_000
    errors = browser.find_elements(  # type: ignore[attr-defined]
        By.CSS_SELECTOR, '[data-testid="stException"], [data-testid="stAlertContentError"]'
    )
    assert not errors, f"{title} shows an error: {[e.text for e in errors]}"
    charts = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')  # type: ignore[attr-defined]
    assert charts, f"{title} drew no chart over the seeded ledger"
