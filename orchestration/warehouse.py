"""The warehouse: dbt on DuckDB (dbt_project/), fed by what ingestion landed.

The mapping tables the staging models need (each area's labels -> canonical codes, issue -> group)
are written as dbt seeds from the data contracts, so the contracts stay the one place they live.
"""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from .config import ccs_home
from .ingest.contracts import CONTRACTS, contract_for, read_contract

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
SHARED_REFERENCE = DBT_PROJECT.parent.parent / "shared" / "data" / "reference"
AREAS = ("norfolk", "tower_hamlets", "oldham", "swansea_npt")
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")  # the environment's own dbt, PATH or not


def value_map_rows() -> list[dict]:
    rows = []
    for area in AREAS:
        contract = contract_for(area)
        for field in contract.fields:
            for label, code in sorted(field.canonical_values.items()):
                rows.append({"area": area, "field": field.canonical, "label": label, "canonical": code})
    return rows


def issue_group_rows() -> list[dict]:
    canonical = read_contract(CONTRACTS / "canonical_referral_event.odcs.yaml")
    issues = next(p for p in canonical.schema_[0].properties if p.name == "issues")
    groups = next(c.value for c in issues.customProperties if c.property == "issueGroups")
    return [{"issue": issue, "issue_group": group} for issue, group in groups.items()]


def write_seeds(folder: Path = DBT_PROJECT / "seeds") -> None:
    """The seeds derived from the contracts, rewritten only when they differ (dbt re-seeds on change)."""
    for name, rows in (("source_value_map", value_map_rows()), ("issue_groups", issue_group_rows())):
        path = folder / f"{name}.csv"
        lines = [",".join(rows[0])] + [",".join(csv_field(v) for v in row.values()) for row in rows]
        text = "\n".join(lines) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def csv_field(value: str) -> str:
    return f'"{value}"' if any(c in value for c in ',"\n') else value


def landed_areas(home: Path | None = None) -> list[str]:
    """The areas with landed referrals: the warehouse is built for these (all of them when nothing is
    landed yet, so the project still parses on a fresh clone)."""
    landing = Path(home or ccs_home()) / "landing"
    found = [a for a in AREAS if any((landing / a / "referrals").glob("*.parquet"))]
    return found or list(AREAS)


def dbt(*args: str, target_path: Path | None = None) -> None:
    """Run dbt in its own process (it then lets go of the DuckDB file), reading and writing under
    CCS_HOME. Builds keep their target folder (run results, compiled SQL) and logs under CCS_HOME too,
    so two homes can build at once."""
    home = ccs_home()
    target_path = target_path or home / "dbt" / "target"
    env = {**os.environ, "CCS_HOME": str(home), "DBT_PROFILES_DIR": str(DBT_PROJECT),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_LOG_PATH": str(target_path.parent / "logs")}
    # as dagster-dbt does: start from the project's last parse (ensure_manifest), so a build in a new
    # target folder parses only what changed instead of the whole project again
    parsed = DBT_PROJECT / "target" / PARTIAL_PARSE
    if target_path.resolve() != parsed.parent.resolve() and parsed.exists() and not (target_path / PARTIAL_PARSE).exists():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copy(parsed, target_path / PARTIAL_PARSE)
    command = [DBT_EXECUTABLE, *args, "--project-dir", str(DBT_PROJECT), "--target-path", str(target_path),
               "--vars", json.dumps({"areas": landed_areas(home)})]
    result = subprocess.run(command, env=env, cwd=DBT_PROJECT, capture_output=True, text=True)
    if result.returncode:
        tail = "\n".join(result.stdout.splitlines()[-25:])
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{tail}")


PARTIAL_PARSE = "partial_parse.msgpack"
# the pipeline's build: models, seeds and data tests. The unit tests check the models' logic on fixtures,
# not the data: they run with the test suite (tests/test_warehouse.py), as dbt advises, not every day
BUILD = ("build", "--exclude-resource-type", "unit_test")


def ensure_manifest() -> Path:
    """dbt's manifest, parsed again whenever a model, seed, macro or the project file is newer, or the
    areas with landed data or the home changed. Builds start from this parse (see `dbt`)."""
    manifest = DBT_PROJECT / "target" / "manifest.json"
    write_seeds()
    sources = [p for folder in ("models", "seeds", "macros") for p in (DBT_PROJECT / folder).rglob("*")]
    newest = max(p.stat().st_mtime for p in [*sources, DBT_PROJECT / "dbt_project.yml"])
    # what it is parsed for: the landed areas, and the home (its paths are in the profile and sources,
    # so a parse made for another home cannot be reused by a build's partial parse)
    parsed_for = {"ccs_areas": landed_areas(), "ccs_home": str(ccs_home())}
    if (not manifest.exists() or manifest.stat().st_mtime < newest
            or {k: v for k, v in json.loads(manifest.read_text())["metadata"].items() if k in parsed_for} != parsed_for):
        dbt("parse", target_path=manifest.parent)
        parsed = json.loads(manifest.read_text())
        parsed["metadata"].update(parsed_for)
        manifest.write_text(json.dumps(parsed))
    return manifest


def published_models(manifest: Path) -> list[str]:
    """The models tagged `published`: aggregates the dashboards may see, never a row per person or
    per referral."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return sorted(n["name"] for n in nodes if n["resource_type"] == "model" and "published" in n["tags"])


def check_results(run_results: Path, manifest: Path) -> list[dict]:
    """The dbt tests of a build: name, the model tested, status and failing rows."""
    nodes = json.loads(manifest.read_text())["nodes"]
    checks = []
    for result in json.loads(run_results.read_text())["results"]:
        node = nodes.get(result["unique_id"], {})
        if node.get("resource_type") != "test":
            continue
        tested = node.get("attached_node") or next(iter(node.get("depends_on", {}).get("nodes", [])), "")
        checks.append({"check_name": node["name"], "model": tested.split(".")[-1], "status": result["status"],
                       "failures": result.get("failures") or 0})
    return checks


def build() -> Path:
    """Build and test the warehouse, then publish the serving snapshot (only after a good build)."""
    from .ingest.run import area_lock

    ensure_manifest()  # writes the seeds; parses only when the project or the landed areas changed
    target = ccs_home() / "dbt" / "target"
    with area_lock(ccs_home(), "warehouse"):  # one build at a time: DuckDB has one writer
        dbt(*BUILD, target_path=target)
        return publish(run_results=target / "run_results.json", manifest=target / "manifest.json")


KEEP_SNAPSHOTS = 3
ROW_LEVEL_COLUMNS = {"person_key", "referral_id", "lsoa_code", "age_band", "referrer_user_id"}


def publish(home: Path | None = None, run_results: Path | None = None, manifest: Path | None = None) -> Path:
    """Copy the published marts into a new DuckDB file under serving/snapshots/ and switch the symlink
    serving/current.duckdb to it in one rename, so a dashboard reading the old snapshot is never
    blocked and never sees half a build; then prune old snapshots."""
    import duckdb

    home = Path(home or ccs_home())
    manifest = manifest or ensure_manifest()
    run_results = run_results or home / "dbt" / "target" / "run_results.json"
    checks = check_results(run_results, manifest) if run_results.exists() else []
    serving = home / "serving"
    (serving / "snapshots").mkdir(parents=True, exist_ok=True)
    version = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    building = serving / "snapshots" / f".{version}.building"
    with duckdb.connect(str(building)) as out:
        out.execute("attach ? as warehouse (read_only)", [str(home / "warehouse.duckdb")])
        for table in published_models(manifest):
            out.execute(f"create table {table} as select * from warehouse.main.{table}")
        out.execute("create table snapshot_checks (check_name varchar, model varchar, status varchar, failures bigint)")
        out.executemany("insert into snapshot_checks values (?, ?, ?, ?)",
                        [(c["check_name"], c["model"], c["status"], c["failures"]) for c in checks])
        out.execute("""create table snapshot_info as
            select s.*,
                   case when now() - s.last_loaded_at > interval 7 day then 'stale'
                        when now() - s.last_loaded_at > interval 2 day then 'warn' else 'fresh' end as freshness,
                   cast(? as timestamptz) as published_at, ? as snapshot_version,
                   (select count(*) from snapshot_checks where status = 'pass') as checks_passed,
                   (select count(*) from snapshot_checks where status <> 'pass') as checks_failed
            from warehouse.main.mart_area_status as s""", [datetime.now(timezone.utc), version])
        columns = {c for (c,) in out.execute("select column_name from information_schema.columns "
                                             "where table_catalog = current_database()").fetchall()}
        leaked = columns & ROW_LEVEL_COLUMNS
        if leaked:
            raise RuntimeError(f"refusing to publish row-level columns {sorted(leaked)}")
        out.execute("detach warehouse")
    snapshot = building.with_name(f"{version}.duckdb")
    os.replace(building, snapshot)
    link = serving / f".current-{version}"
    link.symlink_to(Path("snapshots") / snapshot.name)
    os.replace(link, serving / "current.duckdb")
    for old in sorted((serving / "snapshots").glob("*.duckdb"))[:-KEEP_SNAPSHOTS]:
        old.unlink()
    return serving / "current.duckdb"
