"""Headless Chromium for the dashboard tests: start it, wait until a Streamlit page has finished, and read
what the page shows (metric tiles, table cells, the page's filters) as text.

Waiting is on Streamlit's own state, never on a sleep: the app root carries ``data-test-script-state``
("running" while the page script runs, "notRunning" once it has finished) and
``data-test-connection-state``; plotly charts count as drawn once their SVG exists, tables once their
grid is in the page.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WIDTH, HEIGHT = 1920, 1400  # wide enough that every table shows the columns the tests read

# What "finished" means, evaluated in the page: the script ran to its end, the browser is connected, no
# skeleton or spinner is left, and every chart and table Streamlit sent is drawn.
_STATE_JS = """
const app = document.querySelector('[data-testid="stApp"]');
const all = (css) => document.querySelectorAll(css).length;
return {
  script: app ? app.getAttribute('data-test-script-state') : null,
  connection: app ? app.getAttribute('data-test-connection-state') : null,
  titles: Array.from(document.querySelectorAll('h1')).map((h) => h.innerText.trim()),
  busy: all('[data-testid="stSkeleton"], [data-testid="stSpinner"]'),
  charts: all('[data-testid="stPlotlyChart"]'),
  drawn: all('[data-testid="stPlotlyChart"] .main-svg'),
  tables: all('[data-testid="stDataFrame"]'),
  grids: all('[data-testid="stDataFrame"] table[role="grid"]'),
};
"""


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A headless Chromium (a selenium WebDriver) with its profile in ``profile``; quit on exit. Fails the
    test when Chromium or chromedriver is missing: a missing browser must not pass as a skipped test.
    """
    if CHROMIUM is None or CHROMEDRIVER is None:
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
        f"--window-size={WIDTH},{HEIGHT}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_finished(driver: Any, title: str, timeout: float = 90) -> None:
    """Poll until the page titled ``title`` has finished (see ``_STATE_JS``); AssertionError naming the
    last state seen after ``timeout`` seconds, a guard against a hung page, not a speed requirement.
    """
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = driver.execute_script(_STATE_JS)
        if (
            state["script"] == "notRunning"
            and state["connection"] == "CONNECTED"
            and title in state["titles"]
            and not state["busy"]
            and state["drawn"] >= state["charts"]
            and state["grids"] >= state["tables"]
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"page {title!r} did not finish within {timeout} s; last state {state}")


def open_page(driver: Any, url: str, title: str) -> None:
    """Load ``url`` in a window of the standard size and wait until the page ``title`` has finished."""
    driver.set_window_size(WIDTH, HEIGHT)
    driver.get(url)
    wait_finished(driver, title)


def screenshot(driver: Any, path: Path, title: str) -> None:
    """Save the whole page (not only the first screenful) as a PNG at ``path``: the window grows to the
    height of Streamlit's scrolling main area first, then the page is waited on again, since a resize
    can redraw charts and tables.
    """
    height = driver.execute_script(
        "const main = document.querySelector('[data-testid=\"stMain\"]');"
        "return main ? main.scrollHeight : document.body.scrollHeight;"
    )
    driver.set_window_size(WIDTH, max(HEIGHT, int(height) + 200))
    wait_finished(driver, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))


def errors(driver: Any) -> list[str]:
    """The text of every exception or error box on the page."""
    from selenium.webdriver.common.by import By

    boxes = driver.find_elements(
        By.CSS_SELECTOR, '[data-testid="stException"], [data-testid="stAlertContentError"]'
    )
    return [box.text for box in boxes]


def metrics(driver: Any) -> dict[str, str]:
    """The metric tiles: {label: value as displayed}, e.g. {"Revenue": "$140.42"}."""
    tiles = driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-testid=\"stMetric\"]')).map((m) => ["
        "m.querySelector('[data-testid=\"stMetricLabel\"]')?.innerText.trim(),"
        "m.querySelector('[data-testid=\"stMetricValue\"]')?.innerText.trim()]);"
    )
    return {label: value for label, value in tiles}


# One table's accessible grid as Streamlit's grid renders it: the cells in view, with their row and column
# numbers (row 1 is the header), and where the grid is scrolled to.
_GRID_JS = """
const frame = document.querySelectorAll('[data-testid="stDataFrame"]')[arguments[0]];
const grid = frame.querySelector('table[role="grid"]');
const scroller = frame.querySelector('.dvn-scroller');
const headers = {};
grid.querySelectorAll('th[role="columnheader"]').forEach((th) => {
  headers[th.getAttribute('aria-colindex')] = th.innerText.trim();
});
const cells = [];
grid.querySelectorAll('tbody tr[role="row"]').forEach((tr) => {
  tr.querySelectorAll('td[role="gridcell"]').forEach((td) => {
    cells.push([tr.getAttribute('aria-rowindex'), td.getAttribute('aria-colindex'), td.innerText.trim()]);
  });
});
return {
  rows: Number(grid.getAttribute('aria-rowcount')) - 1,
  columns: Number(grid.getAttribute('aria-colcount')),
  headers, cells,
  width: scroller.clientWidth, height: scroller.clientHeight,
  scroll_width: scroller.scrollWidth, scroll_height: scroller.scrollHeight,
};
"""
_SCROLL_JS = """
const scroller = document.querySelectorAll('[data-testid="stDataFrame"]')[arguments[0]]
  .querySelector('.dvn-scroller');
scroller.scrollTo(arguments[1], arguments[2]);
"""


def _stops(length: int, view: int) -> list[int]:
    # Scroll offsets half a view apart that bring every part of ``length`` into a ``view``. A few pixels
    # out of view (borders) need no scroll: a partly visible row or column is in the accessible copy.
    last = max(0, length - view)
    if last < 10:
        return [0]
    return sorted({*range(0, last, max(1, view // 2)), last})


def table(driver: Any, header: str, timeout: float = 30) -> list[dict[str, str]]:
    """Every row of the first table with a column headed ``header``: one {column header: cell} per row.

    Streamlit draws tables on a canvas; the cells read here are the grid's accessible copy, which holds
    each cell's value before display formatting (``57.6316939``, not ``$57.63``) and only the cells in
    view, so the grid is scrolled across and down until every cell has been read. Fails the test when no
    table has that column, or when a cell cannot be brought into view within ``timeout`` seconds.
    """
    count = len(driver.find_elements("css selector", '[data-testid="stDataFrame"]'))
    seen = []
    for index in range(count):
        state = driver.execute_script(_GRID_JS, index)
        seen.append(sorted(state["headers"].values()))
        if header in state["headers"].values():
            return _read_all(driver, index, state, timeout)
    raise AssertionError(f"no table on the page has a column {header!r}; tables seen: {seen}")


def _read_all(driver: Any, index: int, state: dict[str, Any], timeout: float) -> list[dict[str, str]]:
    rows, columns = range(2, state["rows"] + 2), range(1, state["columns"] + 1)  # row 1 is the header
    headers: dict[int, str] = {}
    cells: dict[tuple[int, int], str] = {}

    def take(view: dict[str, Any]) -> None:
        headers.update({int(column): text for column, text in view["headers"].items()})
        cells.update({(int(row), int(column)): text for row, column, text in view["cells"]})

    def missing() -> list[tuple[int, int]]:
        return [(r, c) for r in rows for c in columns if (r, c) not in cells or c not in headers]

    take(state)
    stops = [
        (top, left)
        for top in _stops(state["scroll_height"], state["height"])
        for left in _stops(state["scroll_width"], state["width"])
    ]
    for top, left in stops[1:]:
        if not missing():
            break
        before = driver.execute_script(_GRID_JS, index)["cells"]
        driver.execute_script(_SCROLL_JS, index, left, top)
        # the grid redraws its accessible copy a frame or two after the scroll
        deadline = time.monotonic() + timeout
        view = driver.execute_script(_GRID_JS, index)
        while view["cells"] == before and time.monotonic() < deadline:
            time.sleep(0.05)
            view = driver.execute_script(_GRID_JS, index)
        take(view)
    driver.execute_script(_SCROLL_JS, index, 0, 0)
    assert not missing(), f"cells (row, column) never came into view: {missing()[:10]}"
    return [{headers[column]: cells[(row, column)] for column in columns} for row in rows]


def main_text(driver: Any) -> str:
    """The text of the page's main area (not the sidebar), as a reader sees it."""
    text: str = driver.execute_script("return document.querySelector('[data-testid=\"stMain\"]').innerText;")
    return text


def shown_filters(driver: Any) -> tuple[date, date, dict[str, str]]:
    """The filters the page says it applies, from its caption ``Showing 01 Nov 2026 to 30 Nov 2026 (UTC),
    customer acme``: (first day, last day, {"customer": "acme"}; empty without a customer, plugin or
    model filter)."""
    text = main_text(driver)
    found = re.search(
        r"Showing (\d{2} \w{3} \d{4}) to (\d{2} \w{3} \d{4}) \(UTC\)((?:, \w+ [^,.\s]+)*)", text
    )
    assert found, f"the page does not say which filters it shows: {text[:300]!r}"
    start, end = (datetime.strptime(day, "%d %b %Y").date() for day in found.groups()[:2])
    chosen = dict(part.split(" ", 1) for part in found.group(3).split(", ") if part)
    return start, end, chosen


def choose(driver: Any, label: str, value: str, title: str) -> None:
    """Pick ``value`` in the sidebar's select box ``label`` (e.g. "Customer") and wait until the page
    ``title`` has run again with it: its caption names the choice and the script has finished."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    boxes = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] [data-testid="stSelectbox"]')
    box = next((b for b in boxes if b.text.splitlines()[:1] == [label]), None)
    assert box is not None, f"no select box {label!r} in the sidebar: {[b.text for b in boxes]}"
    field = box.find_element(By.CSS_SELECTOR, "input")
    field.click()
    field.send_keys(value)
    field.send_keys(Keys.ENTER)
    deadline = time.monotonic() + 90
    while shown_filters(driver)[2].get(label.lower()) != value:
        assert time.monotonic() < deadline, f"the page did not apply {label} {value!r}"
        time.sleep(0.2)
    wait_finished(driver, title)
    driver.execute_script("document.activeElement.blur();")  # no focus ring in the screenshot


def navigation(driver: Any) -> dict[str, str]:
    """The sidebar's page links: {URL path without the leading slash: page name}."""
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-testid=\"stSidebarNav\"] a'))"
        ".map((a) => [new URL(a.href).pathname, a.innerText]);"
    )
    return {path.strip("/"): text.splitlines()[-1].strip() for path, text in links}
