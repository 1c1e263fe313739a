"""`ccs bench` at its smallest scale: the table is complete and consistent (its speed is not tested)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ["generate", "ingest", "dbt parse", "dbt build", "publish", "dashboard queries", "plain DuckDB (models + tests)"]


def test_bench_smallest_scale(tmp_path):
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    result = subprocess.run([sys.executable, "-m", "orchestration.cli", "bench", "--scales", "10k", "--work",
                             str(tmp_path / "work"), "--json", str(out_json), "--markdown", str(out_md),
                             "--query-repeats", "5"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out_json.read_text())
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_gib"] > 0 and report["machine"]["cpu"]

    [scale] = report["results"]
    assert scale["label"] == "10k" and 8_000 < scale["referrals"] < 12_000
    assert [s["stage"] for s in scale["stages"]] == PIPELINE
    incremental = scale["incremental"]
    assert [s["stage"] for s in incremental["stages"]] == ["incremental ingest", "incremental dbt build",
                                                           "incremental publish"]
    for s in scale["stages"] + incremental["stages"]:
        assert s["ok"], s
        assert s["seconds"] > 0 and s["peak_mib"] > 0, s
        if s["rows"]:
            assert abs(s["rows_per_second"] - s["rows"] / s["seconds"]) <= 1, s
    stage = {s["stage"]: s for s in scale["stages"]}
    assert stage["generate"]["rows"] == scale["referrals"]
    assert stage["ingest"]["rows"] > scale["referrals"]  # a CSV row per change of a referral
    assert abs(incremental["seconds"] - sum(s["seconds"] for s in incremental["stages"])) < 0.01
    # the daily job through Dagster on top, with nothing new to land
    idle = scale["daily_run_nothing_new"]
    assert idle["ok"] and idle["seconds"] > 0 and idle["peak_mib"] > 0, idle
    # the held-back day was landed by the incremental run, and only it
    assert 0 < incremental["landed"] < stage["ingest"]["rows"] / 20
    # the re-issued month file: the rows read before go no further than their digests
    assert 0 < incremental["unchanged"] < incremental["rows_in"]

    # where the ingest time goes: the parts add up to the stage's work
    assert set(scale["ingest_parts"]) >= {"read export files", "fetch over HTTP", "validate (Great Expectations)",
                                          "content hashes", "pseudonymise (HMAC match keys)",
                                          "checks against the landed history", "land (de-duplicate, write Parquet)",
                                          "link people", "directory"}
    assert sum(scale["ingest_parts"].values()) < stage["ingest"]["seconds"]
    assert scale["dbt_slowest_nodes"] and scale["dbt_nodes_run"]["model"] > 10

    transformation = scale["transformation"]
    assert transformation["models_run"] == scale["dbt_nodes_run"]["model"]
    assert transformation["tests_run"] == scale["dbt_nodes_run"]["test"]
    assert transformation["ratio"] == round(transformation["dbt_build_seconds"] / transformation["plain_sql_seconds"], 2)

    queries = scale["queries"]["queries"]
    assert len(queries) >= 8
    for name, q in queries.items():
        assert 0 < q["p50"] <= q["p95"] <= q["max"], name
    assert queries["monthly_table"]["rows"] > 0 and queries["organisations_table"]["rows"] > 0

    names = {t["target"] for t in report["targets"]}
    assert {"one incremental day end to end", "dashboard query p95 (slowest query)"} <= names
    for t in report["targets"]:
        assert t["met"] == (t["figure"] <= t["limit"]) and (t["missed_by"] is None) == t["met"]

    text = out_md.read_text()
    assert report["machine"]["cpu"] in text
    for name in PIPELINE + ["incremental ingest"]:
        assert f"| {name} |" in text
    assert "ratio" in text and "Incremental day" in text
    assert not (tmp_path / "work" / "world-10k").exists()  # large worlds are not left behind
