"""`ccs bench`: the whole pipeline at 10 thousand to 10 million referrals, stage by stage.

    python -m orchestration.bench                      # 10k, 100k, 1M
    python -m orchestration.bench --with-10m           # and 10M (CSV areas only, see --http-max)
    python -m orchestration.bench --scales 10k --json /tmp/b.json --markdown /tmp/b.md

For each scale it generates a world, ingests it (export files; HTTP from `ccs serve-sources` up to
--http-max), builds the warehouse with dbt, publishes the snapshot and runs dashboard-style queries
on it; then it runs the same models and tests as plain SQL in one DuckDB connection (dbt's compiled
SQL) for the ratio dbt+orchestration / plain DuckDB. On the largest scale it adds one more day of
referrals (held back from the last export file and the API clock) and times ingest + build + publish.

Every stage runs in its own process; its peak memory is the summed resident memory of that process
and its children (dbt, DuckDB), sampled every 50 ms from /proc. A stage over --memory-cap-gib is
killed and reported as such, so a run at a scale the machine cannot take does not take the machine.
"""

import argparse
import csv
import io
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from area_systems.benchmark import tree_rss

ROOT = Path(__file__).resolve().parent.parent
SCALES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}
# referrals per unit of `ccs generate --scale`, per area (measured at scales 0.5 and 5)
REFERRALS_PER_SCALE = {"norfolk": 17_350, "tower_hamlets": 2_200, "oldham": 720, "swansea_npt": 1_160}
CSV_AREAS = ("norfolk", "oldham")
BENCH_KEY = "bench-pseudonymisation-key-" + "0123456789abcdef" * 2  # synthetic data only
# the day held back for the incremental step: the last working day of the default world, and after
INCREMENT_FROM = "2022-12-30T00:00:00"
TARGETS = {"end_to_end_seconds_10M": 600, "peak_gib": 6, "transformation_ratio": 1.5, "incremental_seconds": 30,
           "query_p95_seconds": 1.0}

# What the dashboards do with the snapshot: whole tables into pandas, and aggregates over them.
DASHBOARD_QUERIES = {
    "kpis_table": "select * from mart_area_kpis",
    "monthly_table": "select * from mart_referrals_monthly",
    "monthly_by_issue_group": """select area, month, issue_group, sum(referrals) as referrals, sum(accepted) as accepted
        from mart_referrals_monthly group by all order by all""",
    "monthly_filtered": """select month, sum(referrals), sum(sla_met) / nullif(sum(sla_due), 0)
        from mart_referrals_monthly where area = 'norfolk' and issue_group = 'money'
        and referring_organisation_type = 'vcs' group by month order by month""",
    "kpis_by_year": """select area, period_label, referrals, people, acceptance_rate, referrals_growth
        from mart_area_kpis where period_type = 'year' order by area, period_label""",
    "organisations_table": "select * from mart_organisations_by_year",
    "top_receiving_organisations": """select area, year, organisation_name, referrals_received, acceptance_rate
        from mart_organisations_by_year qualify row_number() over (partition by area, year
        order by referrals_received desc) <= 10 order by area, year, referrals_received desc""",
    "network_edges": "select * from mart_network_edges",
    "unmet_by_issue_place": """select area, year, issue_group, place_name, sum(referrals), sum(declined_no_capacity)
        from mart_unmet_demand_by_issue_place group by all order by 5 desc limit 50""",
    "neighbourhood_reach": "select * from mart_neighbourhood_reach where is_under_reached",
    "sla_and_repeat_crisis": """select s.area, s.year, s.met / nullif(s.due, 0) as sla_rate, r.returning_people
        from mart_sla_by_area_year s left join mart_repeat_crisis_by_area_year r using (area, year)""",
}


# --- measuring a stage -------------------------------------------------------------------------

class MemoryCapExceeded(RuntimeError):
    pass


def run_stage(name: str, command: list[str], rows: int | None, env: dict | None = None,
              memory_cap: int = 16 * 1024**3, timeout: float = 3 * 3600) -> dict:
    """Run a stage in its own process group; wall time and the peak summed RSS of its process tree."""
    started = time.perf_counter()
    log = (Path(env["CCS_HOME"]) if env and "CCS_HOME" in env else Path("/tmp")) / f"bench-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        peak, killed = 0, None

        def sample() -> None:
            nonlocal peak, killed
            while process.poll() is None:
                peak = max(peak, tree_rss(process.pid))
                over_time = time.perf_counter() - started > timeout
                if (peak > memory_cap or over_time) and killed is None:
                    killed = "memory cap" if peak > memory_cap else "timeout"
                    os.killpg(process.pid, signal.SIGKILL)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        sampler.join()
    seconds = round(time.perf_counter() - started, 3)
    result = {"stage": name, "seconds": seconds, "rows": rows,
              "rows_per_second": round(rows / seconds) if rows else None,
              "peak_mib": round(peak / 1024**2, 1), "ok": code == 0}
    if code:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        result["error"] = f"killed: over the {killed}" if killed else "exit code %d: %s" % (code, " | ".join(tail[-3:]))
    return result


def python_stage(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# --- the world and the sources -----------------------------------------------------------------

def generate_command(world: Path, referrals: int, areas: list[str], seed: int) -> list[str]:
    scale = referrals / sum(REFERRALS_PER_SCALE[a] for a in areas)
    command = [sys.executable, "-m", "orchestration.cli", "generate", "--out", str(world), "--seed", str(seed),
               "--scale", f"{scale:.4f}"]
    for a in areas if len(areas) < len(REFERRALS_PER_SCALE) else []:
        command += ["--area", a]
    return command


def world_referrals(world: Path) -> int:
    truth = json.loads((world / "ground_truth.json").read_text())
    return sum(y["referrals"] for a in truth["areas"].values() for y in a["years"].values())


def hold_back_last_day(world: Path, drops: Path, area: str, cut: str) -> tuple[Path, Path]:
    """A drop folder for an area with its export files linked, except the last month's, which is
    written without the rows changed at or after `cut` (the incremental step puts them back).
    Returns (the truncated file, the full original)."""
    from .ingest.contracts import contract_for
    from .ingest.validate import parse_times

    import pandas as pd

    contract = contract_for(area)
    source = world / area / "exports"
    folder = drops / area / "exports"
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder.parent / "directory").symlink_to(world / area / "directory")  # read beside the exports
    files = sorted(source.glob(contract.properties.get("filePattern", "*.csv")))
    for f in files[:-1]:
        (folder / f.name).symlink_to(f)
    last = files[-1]
    encoding = contract.properties.get("encoding", "utf-8")
    raw = last.read_bytes()
    text = raw.decode(encoding)
    bom = text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    header, body = rows[0], rows[1:]
    updated = contract.record_key[1]
    column = [c.strip() for c in header].index(updated.name)
    changed = parse_times(pd.Series([r[column] for r in body], dtype=object), updated.format)
    keep = [r for r, t in zip(body, changed) if not (pd.notna(t) and t >= pd.Timestamp(cut))]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n" if b"\r\n" in raw[:4096] else "\n").writerows([header, *keep])
    (folder / last.name).write_bytes((("\ufeff" if bom else "") + buffer.getvalue()).encode(encoding))
    return folder / last.name, last


class SourceServer:
    """`ccs serve-sources` on a free port, its clock at `now`."""

    def __init__(self, world: Path, now: str):
        self.log = open(world / "serve-sources.log", "w")
        self.process = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "serve-sources", "--data",
                                         str(world), "--port", "0", "--now", now], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+) \(admin token (\w+)\)", line)
        if not match:
            self.close()
            raise RuntimeError(f"serve-sources did not start: {line!r}")
        self.base, self.admin_token = f"http://{match.group(1)}:{match.group(2)}", match.group(3)

    def set_clock(self, now: str | None) -> None:
        response = requests.post(f"{self.base}/_admin/clock", json={"now": now},
                                 headers={"X-Admin-Token": self.admin_token}, timeout=30)
        response.raise_for_status()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process.stdout.close()
        self.log.close()


def write_area_config(home: Path, world: Path, drops: Path, server: SourceServer | None) -> dict:
    """areas.yaml for the bench home, and the environment holding the API tokens."""
    from .config import AreaConfig, write_areas

    manifest = json.loads((world / "manifest.json").read_text())
    areas, env = [], {}
    for key, info in manifest["areas"].items():
        if info["transport"] == "csv":
            areas.append(AreaConfig(key, drop_folder=drops / key / "exports"))
        elif server:
            env[f"CCS_BENCH_TOKEN_{key.upper()}"] = info["token"]
            areas.append(AreaConfig(key, base_url=f"{server.base}{info['api_path']}",
                                    token_env=f"CCS_BENCH_TOKEN_{key.upper()}"))
    write_areas(home / "areas.yaml", areas)
    return env


# --- the stages that run in a child process ------------------------------------------------------

def ingest_stage(report_path: str) -> None:
    """Ingest every configured area (referrals, linkage, directory) and write how long each step took
    (ingestion's own step timings; the steps done in worker processes add up to more than the wall
    time)."""
    from .config import ccs_home, load_areas
    from .ingest import directory, landing, run
    from .ingest.privacy import load_key

    parts = landing.STEP_SECONDS

    def timed(name, function):
        def wrapper(*args, **kwargs):
            with landing.step(name):
                return function(*args, **kwargs)
        return wrapper

    run.fetch_changes = timed("fetch over HTTP", run.fetch_changes)
    started = time.perf_counter()
    home, key = ccs_home(), load_key()
    rows_in = landed = quarantined = unchanged = 0
    for area in load_areas():
        for r in run.ingest_area(area, home, key, link=False):
            rows_in, landed, quarantined = rows_in + r.rows_in, landed + r.landed, quarantined + r.quarantined
            unchanged += r.unchanged
            if not r.reconciles:
                raise RuntimeError(f"{area.key}: {r.source} does not reconcile")
        timed("link people", run.link_people)(area.key, home)
        timed("directory", directory.ingest_directory)(area, home)
    Path(report_path).write_text(json.dumps({"rows_in": rows_in, "landed": landed, "quarantined": quarantined,
                                             "unchanged": unchanged,
                                             "seconds": round(time.perf_counter() - started, 3),
                                             "parts": {k: round(v, 3) for k, v in parts.items()}}))


def parse_stage() -> None:
    """dbt parses the project once when the code location loads (`ensure_manifest`), not per build."""
    from .warehouse import ensure_manifest

    ensure_manifest()


def build_stage() -> None:
    """dbt build (models and tests), as `ccs build` runs it, without the publish: from the project's
    parse, like every build of a running deployment."""
    from .config import ccs_home
    from .warehouse import BUILD, dbt, ensure_manifest

    ensure_manifest()  # up to date after the parse stage: only writes the seeds
    dbt(*BUILD, target_path=ccs_home() / "dbt" / "target")


def publish_stage() -> None:
    from .config import ccs_home
    from .warehouse import publish

    target = ccs_home() / "dbt" / "target"
    publish(run_results=target / "run_results.json", manifest=target / "manifest.json")


def plain_duckdb_stage(report_path: str) -> None:
    """The models and tests of the last dbt build as plain SQL (dbt's compiled SQL) in one DuckDB
    connection, in dependency order, materialised as dbt does (views and tables). The seeds are
    copied from the dbt warehouse first, untimed."""
    import duckdb

    from .config import ccs_home

    home = ccs_home()
    manifest = json.loads((home / "dbt" / "target" / "manifest.json").read_text())
    nodes = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] in ("model", "test", "seed")
             and n.get("config", {}).get("enabled", True)}
    folder = home / "plain"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    # the compiled SQL names the catalog after the warehouse file: use the same file name
    # the same memory budget as dbt's profile (dbt_project/profiles.yml)
    con = duckdb.connect(str(folder / "warehouse.duckdb"), config={"memory_limit": "4GB"})
    con.execute("attach ? as dbt_warehouse (read_only)", [str(home / "warehouse.duckdb")])
    for node in nodes.values():
        if node["resource_type"] == "seed":
            con.execute(f'create schema if not exists "{node["schema"]}"')
            con.execute(f'create table "{node["schema"]}"."{node["alias"]}" as '
                        f'select * from dbt_warehouse."{node["schema"]}"."{node["alias"]}"')
    con.execute("detach dbt_warehouse")
    order = topological([k for k, n in nodes.items() if n["resource_type"] != "seed"], nodes)
    timings, counts = {"model": 0.0, "test": 0.0}, {"model": 0, "test": 0}
    slowest = []
    for unique_id in order:
        node = nodes[unique_id]
        sql = node.get("compiled_code")
        materialized = node["config"].get("materialized")
        if not sql or materialized == "ephemeral":
            continue
        started = time.perf_counter()
        if node["resource_type"] == "model":
            con.execute(f'create schema if not exists "{node["schema"]}"')
            kind = "view" if materialized == "view" else "table"
            con.execute(f"create or replace {kind} {node['relation_name']} as {sql}")
        else:
            con.execute(f"select count(*) from ({sql}) as failures").fetchone()
        seconds = time.perf_counter() - started
        timings[node["resource_type"]] += seconds
        counts[node["resource_type"]] += 1
        slowest.append((seconds, node["name"]))
    con.close()
    slowest.sort(reverse=True)
    Path(report_path).write_text(json.dumps({
        "models_seconds": round(timings["model"], 3), "tests_seconds": round(timings["test"], 3),
        "models_run": counts["model"], "tests_run": counts["test"],
        "slowest": [{"node": n, "seconds": round(s, 3)} for s, n in slowest[:10]]}))


def topological(ids: list[str], nodes: dict) -> list[str]:
    wanted, done, order = set(ids), set(), []

    def visit(unique_id: str) -> None:
        if unique_id in done or unique_id not in wanted:
            return
        done.add(unique_id)
        for parent in nodes[unique_id].get("depends_on", {}).get("nodes", []):
            visit(parent)
        order.append(unique_id)

    sys.setrecursionlimit(10_000)
    for unique_id in sorted(ids):
        visit(unique_id)
    return order


def queries_stage(report_path: str, repeats: int) -> None:
    """Each dashboard query `repeats` times on one read-only connection to the published snapshot."""
    import duckdb

    from .config import ccs_home

    started = time.perf_counter()
    con = duckdb.connect(str(ccs_home() / "serving" / "current.duckdb"), read_only=True)
    opened = time.perf_counter() - started
    results = {}
    for name, sql in DASHBOARD_QUERIES.items():
        times, rows = [], 0
        for _ in range(repeats):
            t = time.perf_counter()
            rows = len(con.execute(sql).df())
            times.append(time.perf_counter() - t)
        results[name] = {"rows": rows, "p50": round(statistics.median(times), 4), "p95": round(percentile(times, 95), 4),
                         "max": round(max(times), 4)}
    con.close()
    Path(report_path).write_text(json.dumps({"open_seconds": round(opened, 4), "queries": results}))


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))]


# --- one scale -----------------------------------------------------------------------------------

def dbt_node_counts(home: Path) -> dict:
    path = home / "dbt" / "target" / "run_results.json"
    counts: dict[str, int] = {}
    for r in json.loads(path.read_text())["results"] if path.exists() else []:
        kind = r["unique_id"].split(".", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def dbt_timing(home: Path) -> dict:
    """dbt's own account of a build: its elapsed time (the rest of the wall time is starting Python and
    parsing) and the summed time of its nodes by kind (run on 2 threads, so more than elapsed)."""
    path = home / "dbt" / "target" / "run_results.json"
    if not path.exists():
        return {}
    results = json.loads(path.read_text())
    by_kind: dict[str, float] = {}
    for r in results["results"]:
        kind = r["unique_id"].split(".", 1)[0]
        by_kind[kind] = round(by_kind.get(kind, 0) + (r.get("execution_time") or 0), 3)
    return {"elapsed_seconds": round(results.get("elapsed_time") or 0, 3), "node_seconds_by_kind": by_kind}


def dbt_slowest_nodes(home: Path, top: int = 10) -> list[dict]:
    path = home / "dbt" / "target" / "run_results.json"
    if not path.exists():
        return []
    results = json.loads(path.read_text())["results"]
    ordered = sorted(results, key=lambda r: r.get("execution_time") or 0, reverse=True)
    return [{"node": r["unique_id"].split(".", 1)[1], "seconds": round(r.get("execution_time") or 0, 3),
             "status": r["status"]} for r in ordered[:top]]


def child(home: Path, extra: dict | None = None) -> dict:
    return {"CCS_HOME": str(home), "CCS_PSEUDONYMISATION_KEY": BENCH_KEY, "PYTHONPATH": str(ROOT), **(extra or {})}


def pipeline_stages(home: Path, env: dict, rows: int, cap: int, prefix: str = "") -> tuple[list[dict], dict]:
    """ingest, dbt parse (a first run only), dbt build, publish; stops at the first failing stage."""
    stages, details = [], {}
    report = home / f"{prefix}ingest.json"
    stages.append(run_stage(f"{prefix}ingest", python_stage(
        f"from orchestration.bench import ingest_stage; ingest_stage({str(report)!r})"), None, env, cap))
    if stages[-1]["ok"]:
        details["ingest"] = json.loads(report.read_text())
        stages[-1]["rows"] = details["ingest"]["rows_in"]
        stages[-1]["rows_per_second"] = round(stages[-1]["rows"] / stages[-1]["seconds"])
    steps = [("dbt build", "from orchestration.bench import build_stage; build_stage()"),
             ("publish", "from orchestration.bench import publish_stage; publish_stage()")]
    if not prefix:  # a deployment parses when it starts; its daily builds do not
        steps.insert(0, ("dbt parse", "from orchestration.bench import parse_stage; parse_stage()"))
    for name, code in steps:
        if not stages[-1]["ok"]:
            break
        stages.append(run_stage(f"{prefix}{name}", python_stage(code), rows, env, cap))
    return stages, details


def bench_scale(label: str, referrals: int, work: Path, seed: int, http: bool, incremental: bool,
                repeats: int, cap: int) -> dict:
    world, home = work / f"world-{label}", work / f"home-{label}"
    for folder in (world, home):
        shutil.rmtree(folder, ignore_errors=True)
    home.mkdir(parents=True)
    areas = list(REFERRALS_PER_SCALE) if http else list(CSV_AREAS)
    env = child(home)
    print(f"[{label}] generating about {referrals:,} referrals ({', '.join(areas)})", flush=True)
    stages = [run_stage("generate", generate_command(world, referrals, areas, seed), None, env, cap)]
    if not stages[0]["ok"]:
        return {"label": label, "stages": stages}
    generated = world_referrals(world)
    stages[0]["rows"], stages[0]["rows_per_second"] = generated, round(generated / stages[0]["seconds"])
    result = {"label": label, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "referrals": generated, "areas": areas,
              "transports": "export files" + (" and HTTP" if http else ""), "stages": stages}
    # the last day is held back from the sources, so the incremental step has a day to add
    drops = home / "drops"
    held = {a: hold_back_last_day(world, drops, a, INCREMENT_FROM) for a in areas if a in CSV_AREAS}
    server = SourceServer(world, INCREMENT_FROM + "Z") if http else None
    try:
        env.update(write_area_config(home, world, drops, server))
        print(f"[{label}] ingest, dbt parse, dbt build, publish", flush=True)
        more, details = pipeline_stages(home, env, generated, cap)
        stages += more
        result["ingest_parts"] = details.get("ingest", {}).get("parts")
        result["dbt_slowest_nodes"] = dbt_slowest_nodes(home)
        result["dbt_nodes_run"] = dbt_node_counts(home)
        result["dbt_timing"] = dbt_timing(home)
        if not all(s["ok"] for s in stages):
            return result
        print(f"[{label}] dashboard queries, plain DuckDB", flush=True)
        report = home / "queries.json"
        stages.append(run_stage("dashboard queries", python_stage(
            f"from orchestration.bench import queries_stage; queries_stage({str(report)!r}, {repeats})"),
            None, env, cap))
        if stages[-1]["ok"]:
            result["queries"] = json.loads(report.read_text())
        report = home / "plain.json"
        plain = run_stage("plain DuckDB (models + tests)", python_stage(
            f"from orchestration.bench import plain_duckdb_stage; plain_duckdb_stage({str(report)!r})"),
            generated, env, cap)
        stages.append(plain)
        if plain["ok"]:
            detail = json.loads(report.read_text())
            dbt_seconds = next(s["seconds"] for s in stages if s["stage"] == "dbt build")
            in_engine = detail["models_seconds"] + detail["tests_seconds"]
            result["transformation"] = {
                "dbt_build_seconds": dbt_seconds, "plain_process_seconds": plain["seconds"],
                "plain_sql_seconds": round(in_engine, 3), **detail,
                # dbt+orchestration against the SQL alone in one connection (the engine's limit)
                "ratio": round(dbt_seconds / in_engine, 2) if in_engine else None}
        shutil.rmtree(home / "plain", ignore_errors=True)
        if incremental:
            print(f"[{label}] incremental day", flush=True)
            for truncated, full in held.values():
                truncated.unlink()
                truncated.symlink_to(full)
            if server:
                server.set_clock(None)  # the end of the world: one more day of changes
            inc, details = pipeline_stages(home, env, generated, cap, prefix="incremental ")
            result["incremental"] = {
                "stages": inc, "seconds": round(sum(s["seconds"] for s in inc), 3),
                "ok": all(s["ok"] for s in inc) and len(inc) == 3,
                "rows_in": details.get("ingest", {}).get("rows_in"), "landed": details.get("ingest", {}).get("landed"),
                "unchanged": details.get("ingest", {}).get("unchanged"),
                "ingest_parts": details.get("ingest", {}).get("parts"), "dbt_slowest_nodes": dbt_slowest_nodes(home),
                "dbt_timing": dbt_timing(home)}
            if result["incremental"]["ok"]:
                # the daily job as it runs (`ccs run`: Dagster, every asset) when nothing is new: what a day
                # costs around the data (Dagster, dbt's fixed costs, whatever is rebuilt from history)
                print(f"[{label}] daily run through Dagster, nothing new", flush=True)
                result["daily_run_nothing_new"] = run_stage(
                    "daily run through Dagster (ccs run), nothing new",
                    [sys.executable, "-m", "orchestration.cli", "run"], None, env, cap)
    finally:
        if server:
            server.close()
    return result


# --- the report ----------------------------------------------------------------------------------

def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    import duckdb
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory / 1024**3, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "os": platform.platform()}


def targets(results: list[dict]) -> list[dict]:
    """Each target against the figure measured at the scale it is set for (or the largest run, said)."""
    out = []
    largest = results[-1] if results else None

    def check(name, figure, limit, where, unit):
        if figure is None:
            return
        met = figure <= limit
        out.append({"target": name, "where": where, "figure": figure, "limit": limit, "unit": unit, "met": met,
                    "missed_by": None if met else f"{figure - limit:.2f} {unit} over ({figure / limit:.1f}x)"})

    for r in results:
        stage = {s["stage"]: s for s in r["stages"]}
        if all(n in stage and stage[n]["ok"] for n in END_TO_END) and r["label"] == "10M":
            check("10M end to end (ingest + dbt parse + dbt build + publish)",
                  round(sum(stage[n]["seconds"] for n in END_TO_END), 1),
                  TARGETS["end_to_end_seconds_10M"], r["label"], "s")
        if r["label"] in ("1M", "10M"):
            pipeline = [s for s in all_stages(r) if s["stage"] not in ("generate", "plain DuckDB (models + tests)")]
            check("peak memory (ingest, dbt parse and build, publish, queries)",
                  round(max(s["peak_mib"] for s in pipeline) / 1024, 2), TARGETS["peak_gib"], r["label"], "GiB")
            ratio = (r.get("transformation") or {}).get("ratio")
            check("transformation / plain DuckDB", ratio, TARGETS["transformation_ratio"], r["label"], "x")
    if largest and largest.get("incremental", {}).get("ok"):
        check("one incremental day end to end", largest["incremental"]["seconds"], TARGETS["incremental_seconds"],
              largest["label"] + ("" if largest["label"] == "10M" else " (target is at 10M)"), "s")
    if largest and largest.get("queries"):
        worst = max(q["p95"] for q in largest["queries"]["queries"].values())
        check("dashboard query p95 (slowest query)", worst, TARGETS["query_p95_seconds"],
              largest["label"] + ("" if largest["label"] == "10M" else " (target is at 10M)"), "s")
    return out


END_TO_END = ("ingest", "dbt parse", "dbt build", "publish")  # the platform's work on a first run


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Benchmark: `ccs bench`", "",
             f"Measured {report['started'][:16].replace('T', ' ')} UTC on {m['cpu']}, {m['cores']} cores, "
             f"{m['memory_gib']} GiB memory (Python {m['python']}, DuckDB {m['duckdb']}). "
             f"Command: `{report['command']}`.", "",
             "How to read it: every stage runs in its own process; peak memory is the summed resident memory of the "
             "stage's process tree (ingestion's worker processes, dbt and DuckDB included), sampled every 50 ms. "
             "Ingest rows are source rows (a CSV row per change of a referral; a record per referral over HTTP). "
             "*End to end* is ingest + dbt parse + dbt build + publish (the platform's work; generating the world "
             "is the source systems' and is shown apart). dbt parses the project once when the deployment starts "
             "(the Dagster code location loads); each build then starts from that parse, as dagster-dbt's do. "
             "*Plain DuckDB* runs dbt's compiled SQL for the same models "
             "(views and tables as dbt materialises them) and tests in one connection, in dependency order: the "
             "ratio is dbt build's wall time (process start, partial parse, seeds, models, data tests; the unit tests run "
             "with the test suite, not in the pipeline's builds) over that. "
             "The incremental day holds back the changes from 2022-12-30 on (the last export file is cut, "
             "the API clock set back), lands the rest, then adds them and times ingest + dbt build + publish. "
             "Ingestion steps marked as done in worker processes add up to more than the stage's wall time.", ""]
    for r in report["results"]:
        lines += [f"## {r['label']}: {r.get('referrals', 0):,} referrals ({r.get('transports', '')}; "
                  f"{', '.join(r.get('areas', []))}; measured {r.get('measured_at', '')[:16].replace('T', ' ')} UTC)", "",
                  "| stage | wall time (s) | rows | rows/s | peak memory (MiB) |", "| --- | ---: | ---: | ---: | ---: |"]
        for s in all_stages(r):
            rows = f"{s['rows']:,}" if s.get("rows") else ""
            rate = f"{s['rows_per_second']:,}" if s.get("rows_per_second") else ""
            status = "" if s["ok"] else f" **failed: {s.get('error', '')[:80]}**"
            lines.append(f"| {s['stage']}{status} | {s['seconds']:.1f} | {rows} | {rate} | {s['peak_mib']:,.0f} |")
        t = r.get("transformation")
        if t:
            lines += ["", f"Transformation: dbt build {t['dbt_build_seconds']:.1f} s against plain DuckDB "
                          f"{t['plain_sql_seconds']:.1f} s (models {t['models_seconds']:.1f} s, tests "
                          f"{t['tests_seconds']:.1f} s): **ratio {t['ratio']}**."]
        q = r.get("queries")
        if q:
            worst = max(q["queries"].items(), key=lambda kv: kv[1]["p95"])
            lines += ["", f"Dashboard queries ({len(q['queries'])}, each {report['query_repeats']} times): "
                          f"slowest p95 {worst[1]['p95'] * 1000:.1f} ms (`{worst[0]}`); opening the snapshot "
                          f"{q['open_seconds'] * 1000:.0f} ms."]
        inc = r.get("incremental")
        if inc:
            lines += ["", f"Incremental day: {inc['seconds']:.1f} s end to end ({inc.get('rows_in') or 0:,} source rows "
                          f"read, {inc.get('unchanged') or 0:,} of them unchanged since the last read of their file, "
                          f"{inc.get('landed') or 0:,} new record versions landed)."]
            if inc.get("ingest_parts"):
                parts = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(inc["ingest_parts"].items(), key=lambda kv: -kv[1]))
                lines += ["", f"Incremental ingest, where the time goes: {parts}."]
            if inc.get("dbt_slowest_nodes"):
                lines += ["", f"Incremental dbt build: dbt's elapsed time {inc['dbt_timing'].get('elapsed_seconds', 0):.1f} s; "
                              "slowest nodes: " + ", ".join(f"{n['node'].removeprefix('ccs_insights.')} {n['seconds']:.1f} s"
                                                            for n in inc["dbt_slowest_nodes"][:6]) + "."]
        if r.get("ingest_parts"):
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(r["ingest_parts"].items(), key=lambda kv: -kv[1]))
            lines += ["", f"Ingest, where the time goes: {parts}."]
        if r.get("dbt_slowest_nodes"):
            nodes = ", ".join(f"{n['node'].removeprefix('ccs_insights.')} {n['seconds']:.1f} s"
                              for n in r["dbt_slowest_nodes"][:6])
            timing = r.get("dbt_timing") or {}
            kinds = ", ".join(f"{k} {v:.1f} s" for k, v in (timing.get("node_seconds_by_kind") or {}).items())
            lines += ["", f"dbt build: dbt's elapsed time {timing.get('elapsed_seconds', 0):.1f} s (nodes, summed over "
                          f"2 threads: {kinds}); slowest nodes: {nodes}."]
        lines.append("")
    if report["targets"]:
        lines += ["## Targets", "", "| target | at | measured | target | met |", "| --- | --- | ---: | ---: | --- |"]
        for t in report["targets"]:
            lines.append(f"| {t['target']} | {t['where']} | {t['figure']} {t['unit']} | {t['limit']} {t['unit']} | "
                         f"{'yes' if t['met'] else 'no, ' + t['missed_by']} |")
        lines.append("")
    return "\n".join(lines)


def all_stages(result: dict) -> list[dict]:
    """Every stage of a scale in the order run: the first run, the incremental day, the idle daily run."""
    idle = result.get("daily_run_nothing_new")
    return result["stages"] + (result.get("incremental") or {}).get("stages", []) + ([idle] if idle else [])


def print_table(result: dict) -> None:
    print(f"\n{result['label']}: {result.get('referrals', 0):,} referrals ({result.get('transports', '')})")
    print(f"  {'stage':34} {'wall s':>9} {'rows':>12} {'rows/s':>10} {'peak MiB':>9}")
    for s in all_stages(result):
        print(f"  {s['stage']:34} {s['seconds']:9.1f} {s['rows'] or 0:12,} {s['rows_per_second'] or 0:10,} "
              f"{s['peak_mib']:9,.0f}{'' if s['ok'] else '  FAILED ' + s.get('error', '')[:200]}")
    if result.get("transformation"):
        t = result["transformation"]
        print(f"  dbt build / plain DuckDB: {t['dbt_build_seconds']:.1f} s / {t['plain_sql_seconds']:.1f} s = {t['ratio']}")
    if result.get("incremental"):
        print(f"  incremental day end to end: {result['incremental']['seconds']:.1f} s")
    for title, parts in (("ingest steps (s)", result.get("ingest_parts")),
                         ("incremental ingest steps (s)", (result.get("incremental") or {}).get("ingest_parts"))):
        if parts:
            print(f"  {title}: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])))
    if result.get("dbt_slowest_nodes"):
        print("  slowest dbt nodes (s): " + ", ".join(f"{n['node']} {n['seconds']:.1f}" for n in result["dbt_slowest_nodes"][:8]))
    sys.stdout.flush()


def parse_scales(text: str) -> list[str]:
    labels = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in labels if s not in SCALES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scale(s) {unknown}: choose from {', '.join(SCALES)}")
    return labels


def run_bench(scales: list[str], work: Path, json_path: Path, markdown_path: Path | None, seed: int = 1,
              http_max: str = "1M", incremental: bool = True, repeats: int = 20, memory_cap_gib: float = 16,
              keep: bool = False, command: str = "ccs bench", merge: bool = False) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    report = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command,
              "machine": machine(), "query_repeats": repeats, "targets_set": TARGETS, "results": []}
    ordered = sorted(scales, key=SCALES.get)
    earlier = []
    if merge and json_path.exists():  # keep the other scales of an earlier run (a long scale can run on its own)
        previous = json.loads(json_path.read_text())
        earlier = [r for r in previous["results"] if r["label"] not in ordered]
        report["command"] = previous["command"] + "; " + command
    for label in ordered:
        result = bench_scale(label, SCALES[label], work, seed, http=SCALES[label] <= SCALES[http_max],
                             incremental=incremental and label == ordered[-1], repeats=repeats,
                             cap=int(memory_cap_gib * 1024**3))
        report["results"] = sorted([*earlier, *report["results"], result], key=lambda r: SCALES[r["label"]])
        earlier = []
        print_table(result)
        if not keep:
            shutil.rmtree(work / f"world-{label}", ignore_errors=True)
            shutil.rmtree(work / f"home-{label}", ignore_errors=True)
        report["targets"] = targets(report["results"])
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=1) + "\n")  # after every scale: a long run keeps what it has
        if markdown_path:
            markdown_path.write_text(markdown(report))
    for t in report["targets"]:
        print(f"target {t['target']} at {t['where']}: {t['figure']} {t['unit']} (limit {t['limit']}) "
              f"{'met' if t['met'] else 'MISSED by ' + t['missed_by']}")
    print(f"results: {json_path}" + (f", {markdown_path}" if markdown_path else ""))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccs bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=parse_scales, default=["10k", "100k", "1M"],
                        help="comma-separated, from " + ", ".join(SCALES) + " (default 10k,100k,1M)")
    parser.add_argument("--with-10m", action="store_true", help="add the 10M scale")
    parser.add_argument("--work", default="/tmp/ccs-bench", help="folder for the worlds and homes (deleted after "
                        "each scale unless --keep)")
    parser.add_argument("--json", default=str(ROOT / "docs" / "benchmark.json"), help="results file")
    parser.add_argument("--markdown", default=str(ROOT / "docs" / "benchmark.md"), help="summary table")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--http-max", choices=list(SCALES), default="1M",
                        help="largest scale ingested over HTTP too; above it, only the export-file areas are generated")
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--query-repeats", type=int, default=20)
    parser.add_argument("--memory-cap-gib", type=float, default=16, help="kill a stage whose process tree uses more")
    parser.add_argument("--keep", action="store_true", help="keep the worlds and homes")
    parser.add_argument("--merge", action="store_true", help="keep the other scales' results already in --json")
    args = parser.parse_args(argv)
    scales = args.scales + (["10M"] if args.with_10m and "10M" not in args.scales else [])
    report = run_bench(scales, Path(args.work), Path(args.json), Path(args.markdown) if args.markdown else None,
                       seed=args.seed, http_max=args.http_max, incremental=not args.no_incremental,
                       repeats=args.query_repeats, memory_cap_gib=args.memory_cap_gib, keep=args.keep, merge=args.merge,
                       command="ccs bench " + " ".join(argv if argv is not None else sys.argv[1:]))
    failed = [s for r in report["results"] for s in all_stages(r)
              if not s["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
