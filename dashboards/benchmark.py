"""Dashboard timings per page on a snapshot:

    python -m dashboards.benchmark [--snapshot FILE] [--repeat 3] [--no-browser]

- first render (cold): a new session after the caches are cleared, as the first visitor after a publish;
- first render (new session): a new session with warm caches, as every later visitor;
- filter change: a rerun after changing the issue group, the organisation type, the areas and the period
  (the slowest of these is printed);
- browser first render: from navigation until the page's script has finished and its charts are drawn,
  in headless Chromium against `streamlit run` (needs chromium), all areas;
- browser rerun: the same page rerun (Streamlit's `r` key), as a filter change reruns it, until drawn again.

Script times come from Streamlit's AppTest, which runs the page in this process exactly as the server
would; the browser time adds the websocket round trips and Vega's drawing. Targets (issue 5): first
render < 2 s and filter change < 0.5 s on the demo data.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from .snapshot import snapshot_path

PAGES = {"Overview": "views/overview.py", "Grant priorities": "views/grant_priorities.py",
         "Provision gaps": "views/provision_gaps.py", "Network": "views/network.py", "Data quality": "views/data_quality.py"}
APP = Path(__file__).resolve().parent / "app.py"
URLS = {"Overview": "", "Grant priorities": "grant_priorities", "Provision gaps": "provision_gaps", "Network": "network",
        "Data quality": "data_quality"}


def open_page(page: str):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    if page != PAGES["Overview"]:
        at.switch_page(page)
    return at


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def script_timings(page: str, repeat: int) -> dict[str, float]:
    import streamlit as st
    cold, warm, change = [], [], []
    for _ in range(repeat):
        at = open_page(page)  # the app frame runs once before the page is chosen
        st.cache_data.clear()
        st.cache_resource.clear()  # so the page's run opens the snapshot and reads its tables again
        cold.append(timed(at.run))
        at = open_page(page)
        warm.append(timed(at.run))
        assert not at.exception, [e.value for e in at.exception]
        periods = at.selectbox(key="period").options
        changes = [
            lambda: at.multiselect(key="issue_group").set_value(["money"]).run(),
            lambda: at.multiselect(key="org_type").set_value(["vcs"]).run(),
            lambda: at.multiselect(key="area").set_value(["norfolk", "oldham"]).run(),
            lambda: at.selectbox(key="period").set_value(periods[1]).run(),
        ]
        change.append(max(timed(c) for c in changes))
        assert not at.exception, [e.value for e in at.exception]
    return {"cold": statistics.median(cold), "warm": statistics.median(warm), "change": statistics.median(change)}


def browser_timings(snapshot: Path, repeat: int) -> dict[str, float]:
    from .headless import App, Browser
    app, browser = App(snapshot), Browser()
    try:
        times = {}
        for name, url in URLS.items():
            first = [browser.open(f"{app.base}/{url}") for _ in range(repeat)]
            rerun = [browser.rerun() for _ in range(repeat)]
            times[name] = (statistics.median(first), statistics.median(rerun))
        return times
    finally:
        browser.close()
        app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dashboard timings per page.")
    parser.add_argument("--snapshot", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    snapshot = (args.snapshot or snapshot_path()).resolve()
    os.environ["CCS_SNAPSHOT"] = str(snapshot)
    print(f"snapshot {snapshot} ({snapshot.stat().st_size / 2**20:.1f} MiB), median of {args.repeat}")
    browser = {} if args.no_browser else browser_timings(snapshot, args.repeat)
    print(f"{'':<18}{'script (AppTest)':^50}{'browser (Chromium)':^30}")
    print(f"{'page':<18}{'first (cold)':>14}{'first (new session)':>21}{'filter change':>15}{'first render':>15}{'rerun':>15}")
    for name, page in PAGES.items():
        t = script_timings(page, args.repeat)
        first, rerun = (f"{v:.2f} s" for v in browser[name]) if name in browser else ("-", "-")
        print(f"{name:<18}{t['cold']:>12.2f} s{t['warm']:>19.2f} s{t['change']:>13.2f} s{first:>15}{rerun:>15}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
