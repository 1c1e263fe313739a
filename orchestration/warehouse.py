"""The warehouse: dbt on DuckDB (dbt_project/), fed by what ingestion landed.

The mapping tables the staging models need (each area's labels -> canonical codes, issue -> group)
are written as dbt seeds from the data contracts, so the contracts stay the one place they live.
"""

import os
import subprocess
import sys
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


def dbt(*args: str) -> None:
    """Run dbt in its own process (it then lets go of the DuckDB file), reading and writing under
    CCS_HOME."""
    env = {**os.environ, "CCS_HOME": str(ccs_home()), "DBT_PROFILES_DIR": str(DBT_PROJECT),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [DBT_EXECUTABLE, *args, "--project-dir", str(DBT_PROJECT)]
    result = subprocess.run(command, env=env, cwd=DBT_PROJECT, capture_output=True, text=True)
    if result.returncode:
        tail = "\n".join(result.stdout.splitlines()[-25:])
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{tail}")


def ensure_manifest() -> Path:
    """dbt's manifest, parsed again whenever a model, seed, macro or the project file is newer."""
    manifest = DBT_PROJECT / "target" / "manifest.json"
    write_seeds()
    sources = [p for folder in ("models", "seeds", "macros") for p in (DBT_PROJECT / folder).rglob("*")]
    newest = max(p.stat().st_mtime for p in [*sources, DBT_PROJECT / "dbt_project.yml"])
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        dbt("parse")
    return manifest


# What the dashboards may see: aggregates only, never a row per person or per referral.
PUBLISHED = ("mart_sla_by_area_year", "mart_network_by_area_year", "mart_unmet_demand_by_area_year",
             "mart_repeat_crisis_by_area_year", "mart_repeat_crisis_cohorts", "dim_date")


def build() -> Path:
    """Build and test the warehouse, then publish the serving snapshot (only after a good build)."""
    write_seeds()
    dbt("build")
    return publish()


def publish(home: Path | None = None) -> Path:
    """Copy the published marts into a new DuckDB file and move it into place in one rename, so a
    dashboard reading the old snapshot is never blocked and never sees half a build."""
    import duckdb

    home = Path(home or ccs_home())
    target = home / "serving" / "snapshot.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f".snapshot-{os.getpid()}.duckdb")
    building.unlink(missing_ok=True)
    with duckdb.connect(str(building)) as out:
        out.execute("attach ? as warehouse (read_only)", [str(home / "warehouse.duckdb")])
        for table in PUBLISHED:
            out.execute(f"create table {table} as select * from warehouse.main.{table}")
        out.execute("""create table snapshot_info as
            select area, max(changed_at) as data_as_of, current_timestamp as published_at
            from warehouse.main.int_referral_versions group by area""")
        columns = {c for (c,) in out.execute("select column_name from information_schema.columns "
                                             "where table_catalog = current_database()").fetchall()}
        leaked = columns & {"person_key", "referral_id", "lsoa_code"}
        if leaked:
            raise RuntimeError(f"refusing to publish row-level columns {sorted(leaked)}")
        out.execute("detach warehouse")
    os.replace(building, target)
    return target
