"""Shared fixtures: one generated world per test session, and the API areas served over real HTTP.

The tests treat the synthetic area systems as a black box: they run the `ccs` command line, read the
files it writes and talk to the server over loopback, as the pipeline will.
"""

import json
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
