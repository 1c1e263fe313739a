"""Headless Chromium over the DevTools protocol, and the app on a free port: used by the browser test
(tests/test_dashboards_browser.py) and the benchmark. Only `websockets` (a Streamlit dependency) is
needed; the browser is Debian's chromium.
"""

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One headless Chromium page, driven over the DevTools protocol."""

    def __init__(self, width: int = 1440, height: int = 1000):
        self.profile = tempfile.mkdtemp(prefix="ccs-chromium-")
        self.process = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = None
        deadline = time.time() + 30
        while time.time() < deadline and url is None:
            line = self.process.stderr.readline()
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            url = match and match.group(1)
        assert url, "chromium did not start"
        self.closing = contextlib.ExitStack()
        self.socket = self.closing.enter_context(connect(url, max_size=None, open_timeout=20))
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for method in ("Page.enable", "Runtime.enable"):
            self.call(method, session=True)
        self.resize(width, height)

    def call(self, method: str, session: bool = False, **params) -> dict:
        message = {"id": next(self.ids), "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 60) -> float:
        """Go to a Streamlit page and wait until its script has run and its charts are drawn; returns
        the seconds that took."""
        start = time.time()
        self.call("Page.navigate", session=True, url=url)
        time.sleep(0.1)  # let the old page go before looking for the new one
        deadline = start + timeout
        while time.time() < deadline:
            state = self.evaluate("""(() => {
                const app = document.querySelector('[data-testid="stApp"]');
                const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
                const drawn = charts.every(c => c.querySelector('canvas, svg'));
                return app ? [app.getAttribute('data-test-script-state'), drawn,
                              document.querySelectorAll('[data-testid="stMainBlockContainer"] *').length] : null;
            })()""")
            if state and state[0] == "notRunning" and state[1] and state[2] > 20:
                return time.time() - start
            time.sleep(0.05)
        raise AssertionError(f"{url} did not finish rendering in {timeout} s (state {state})")

    def rerun(self, timeout: float = 60) -> float:
        """Rerun the page's script as a filter change does (Streamlit's `r` shortcut), and return the seconds
        from the key press until the script has finished and the charts are drawn again, measured in the page."""
        self.evaluate("""(() => {
            const app = document.querySelector('[data-testid="stApp"]');
            window.__ccsStates = [];
            window.__ccsObserver && window.__ccsObserver.disconnect();
            window.__ccsObserver = new MutationObserver(() => window.__ccsStates.push(
                [app.getAttribute('data-test-script-state'), performance.now()]));
            window.__ccsObserver.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
            window.__ccsStart = performance.now();
        })()""")
        for attempt in range(3):  # a key press can be lost while the page is still settling
            for kind in ("keyDown", "keyUp"):
                self.call("Input.dispatchKeyEvent", session=True, type=kind, key="r", code="KeyR",
                          text="r" if kind == "keyDown" else "", windowsVirtualKeyCode=82)
            pressed = time.time()
            while time.time() - pressed < 2 and not self.evaluate("(window.__ccsStates || []).length"):
                time.sleep(0.05)
            if self.evaluate("(window.__ccsStates || []).length"):
                break
            self.evaluate("window.__ccsStart = performance.now()")
        deadline = time.time() + timeout
        while time.time() < deadline:
            done = self.evaluate("""(() => {
                const states = window.__ccsStates || [];
                // 'running' can be skipped when the browser is busy and the run's messages arrive together
                const ran = states.findIndex(s => s[0] === 'running' || s[0] === 'rerunRequested');
                const finished = states.slice(ran + 1).find(s => s[0] === 'notRunning');
                const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
                return ran >= 0 && finished && charts.every(c => c.querySelector('canvas, svg'))
                    ? (performance.now() - window.__ccsStart) / 1000 : null;
            })()""")
            if done is not None:
                return done
            time.sleep(0.05)
        raise AssertionError(f"the rerun did not finish in {timeout} s")

    def screenshot(self, path: Path, width: int = 1440) -> None:
        """The whole page: Streamlit scrolls inside its main element, so the viewport is grown until that
        element no longer needs to scroll."""
        height = 1000
        for _ in range(5):
            needed = self.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            if needed <= height:
                break
            height = min(int(needed) + 20, 12000)
            self.resize(width, height)
            time.sleep(0.8)  # charts lay themselves out again at the new size
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        self.resize(width, 1000)

    def close(self) -> None:
        try:
            self.closing.close()
        finally:
            stop(self.process)
            self.process.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)


def stop(process: subprocess.Popen) -> None:
    """Ask a child process to stop, and make it if it will not within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise AssertionError("no chromium on PATH: .ci/run installs Debian's chromium package")


class App:
    """`streamlit run dashboards/app.py` on a free port, reading one snapshot."""

    def __init__(self, snapshot: Path):
        self.port = free_port()
        self.log = tempfile.TemporaryFile(mode="w+")
        env = {**os.environ, "CCS_SNAPSHOT": str(snapshot)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboards" / "app.py"), "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                assert self.process.poll() is None, self.output()
                time.sleep(0.3)
        raise AssertionError(f"streamlit did not start: {self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def close(self) -> None:
        stop(self.process)
        self.log.close()
