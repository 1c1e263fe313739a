"""Shared fixtures: one generated world per test session, and the API areas served over real HTTP.

The tests treat the synthetic area systems as a black box: they run the `ccs` command line, read the
files it writes and talk to the server over loopback, as the pipeline will.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SHARED_REFERENCE = ROOT.parent / "shared" / "data" / "reference"


def ccs(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, **kwargs)


@pytest.fixture(autouse=True)
def main_module_kept():
    """Streamlit's AppTest runs a page as `__main__` and leaves it there; worker processes started with
    spawn (ingestion's) would then run the page again on start-up and die. Put the real one back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    result = ccs("generate", "--out", str(out), "--seed", "7")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def truth(world) -> dict:
    return json.loads((world / "ground_truth.json").read_text())


@pytest.fixture(scope="session")
def manifest(world) -> dict:
    return json.loads((world / "manifest.json").read_text())


class Sources:
    """A running `ccs serve-sources` on a free loopback port."""

    def __init__(self, data: Path, manifest: dict):
        self.log = tempfile.TemporaryFile(mode="w+")  # a pipe nobody reads could fill and stall the server
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "serve-sources", "--data", str(data), "--port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+) \(admin token (\w+)\)", line)
        if not match:
            self.log.seek(0)
            raise AssertionError(f"server did not start: {line!r} {self.log.read()}")
        self.base = f"http://{match.group(1)}:{match.group(2)}"
        self.admin_token = match.group(3)
        self.manifest = manifest

    def token(self, area: str) -> str:
        return self.manifest["areas"][area]["token"]

    def get(self, area: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token(area)}"}
        return requests.get(f"{self.base}/{area}/api/{path}", headers=headers, timeout=kwargs.pop("timeout", 10), **kwargs)

    def admin(self, what: str, body: dict) -> dict:
        response = requests.post(f"{self.base}/_admin/{what}", json=body, headers={"X-Admin-Token": self.admin_token},
                                 timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.admin("faults", {})
        self.admin("clock", {"now": None})

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process.stdout.close()
        self.log.close()


@pytest.fixture(scope="session")
def sources(world, manifest):
    server = Sources(world, manifest)
    yield server
    server.close()


@pytest.fixture
def api(sources):
    """The server with no faults and its clock at the end of the world, before and after each test."""
    sources.reset()
    yield sources
    sources.reset()


WAREHOUSE_KEY = b"warehouse-test-key-0123456789abcdef"


@pytest.fixture(scope="session")
def warehouse_home(world, sources, manifest, tmp_path_factory):
    """The test world ingested (CSV and HTTP) and the warehouse built and published from it, under its own
    CCS_HOME (set only while building: tests that need it set it themselves)."""
    from orchestration.config import AreaConfig
    from orchestration.ingest.directory import ingest_directory
    from orchestration.ingest.run import ingest_area
    from orchestration.warehouse import build

    home = tmp_path_factory.mktemp("warehouse-home")
    sources.reset()
    for area, info in manifest["areas"].items():
        if info["transport"] == "csv":
            config = AreaConfig(area, drop_folder=world / info["exports"])
        else:
            os.environ[f"WAREHOUSE_TEST_TOKEN_{area}"] = info["token"]
            config = AreaConfig(area, base_url=f"{sources.base}{info['api_path']}", token_env=f"WAREHOUSE_TEST_TOKEN_{area}")
        ingest_area(config, home, WAREHOUSE_KEY)
        ingest_directory(config, home)
    from orchestration.ingest.grants import GrantSources, ingest_grants  # the funders' 360Giving files

    ingest_grants(GrantSources(tuple(world / info["grants"] for info in manifest["areas"].values())), home)
    previous = os.environ.get("CCS_HOME")
    os.environ["CCS_HOME"] = str(home)
    try:
        build()
    finally:
        if previous is None:
            del os.environ["CCS_HOME"]
        else:
            os.environ["CCS_HOME"] = previous
    return home
