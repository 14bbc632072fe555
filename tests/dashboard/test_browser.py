"""A real headless Chromium opens the running dashboard, page by page: it must render with no error
box, and a screenshot of each page is kept under test-artifacts/dashboard/ for people to look at."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import chromium
from .conftest import running_dashboard

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

PORT = 18501
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
# (url path, title the page shows)
PAGES = (
    ("", "Overview"),
    ("customers", "Customers"),
    ("models", "Models and plugins"),
    ("compute", "Compute"),
    ("billing", "Billing"),
    ("pricing", "Pricing lab"),
    ("risk", "Risk"),
    ("requests", "Request log"),
    ("admin", "Admin"),
)
# Pages of forms and tables, with no chart to draw (the Admin page's actions are in test_admin_page.py)
CHARTLESS = {"Admin"}


@pytest.fixture(scope="module")
def dashboard_url(seeded_home: Path) -> Iterator[str]:
    env = {**os.environ, "VERTICALS_HOME": str(seeded_home)}
    env.pop("VERTICALS_ADMIN_TOKEN", None)
    with running_dashboard(Path(sys.executable).with_name("verticals"), PORT, env) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with chromium.chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.mark.parametrize(("path", "title"), PAGES, ids=[title for _, title in PAGES])
def test_page_renders_without_error(dashboard_url: str, browser: object, path: str, title: str) -> None:
    from selenium.webdriver.common.by import By

    chromium.open_page(browser, f"{dashboard_url}/{path}", title)
    shot = ARTIFACTS / f"{title.lower().replace(' ', '-')}.png"
    chromium.screenshot(browser, shot, title)
    assert shot.stat().st_size > 10_000
    errors = browser.find_elements(  # type: ignore[attr-defined]
        By.CSS_SELECTOR, '[data-testid="stException"], [data-testid="stAlertContentError"]'
    )
    assert not errors, f"{title} shows an error: {[e.text for e in errors]}"
    charts = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')  # type: ignore[attr-defined]
    assert charts or title in CHARTLESS, f"{title} drew no chart over the seeded ledger"
