"""The running app in headless Chromium: every page renders with no exception, and its screenshot is
saved to docs/screenshots/ (the README shows them).

Chromium is driven over the DevTools protocol with `websockets` (a Streamlit dependency), so no
browser-automation package is needed; `.ci/run` installs Debian's chromium.
"""

import os
from pathlib import Path

import pytest

from dashboards.headless import App, Browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
PAGES = {  # url path -> screenshot name
    "": "overview",
    "grant_priorities": "grant_priorities",
    "provision_gaps": "provision_gaps",
    "network": "network",
    "data_quality": "data_quality",
}
QUERY = "?area=Norfolk&area=Tower+Hamlets"  # bound widgets put their shown labels in the URL


@pytest.fixture(scope="module")
def running_app(request):
    app = App(snapshot_file(request))
    yield app
    app.close()


def snapshot_file(request) -> Path:
    """The test world's snapshot, or CCS_DASHBOARD_TEST_SNAPSHOT (as in test_dashboards.py)."""
    if os.environ.get("CCS_DASHBOARD_TEST_SNAPSHOT"):
        return Path(os.environ["CCS_DASHBOARD_TEST_SNAPSHOT"])
    home = request.getfixturevalue("warehouse_home")
    current = home / "serving" / "current.duckdb"
    return current if current.exists() else home / "serving" / "snapshot.duckdb"


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.mark.parametrize("path,name", PAGES.items())
def test_every_page_renders_without_an_exception(running_app, browser, path, name):
    browser.events.clear()
    browser.open(f"{running_app.base}/{path}{QUERY}")
    exceptions = browser.evaluate("""[...document.querySelectorAll('[data-testid="stException"]')].map(e => e.innerText)""")
    assert exceptions == [], exceptions
    title = browser.evaluate("document.querySelector('h1') && document.querySelector('h1').innerText")
    assert title and title.strip().lower().replace(" ", "_") == name, title
    data_as_of = browser.evaluate("document.body.innerText")
    assert "Data as of" in data_as_of and "Norfolk" in data_as_of
    javascript_errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
    assert javascript_errors == [], javascript_errors[:1]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SCREENSHOTS / f"{name}.png")
    assert (SCREENSHOTS / f"{name}.png").stat().st_size > 20_000  # a blank page is far smaller
