"""The Dagster code location: `dagster dev` in the repository root loads it (see pyproject.toml).

Ingestion assets are partitioned by area: one partition per area that has a data contract. How each
area is reached comes from $CCS_HOME/areas.yaml. A sensor starts a run when an export file lands in
a CSV area's drop folder (once per file, however often it fires); a daily schedule syncs every area.
The dbt project's models and seeds are assets downstream of the landing, its tests asset checks; a
build of the whole warehouse publishes the serving snapshot.
"""

import json
import os
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from .config import AreaConfig, ccs_home, load_areas
from .ingest.contracts import CONTRACTS
from .ingest.privacy import load_key
from .ingest.directory import ingest_directory
from .ingest.grants import ingest_grants
from .ingest.run import area_lock, file_digest, ingest_area, link_people, pending_files
from .warehouse import BUILD, DBT_EXECUTABLE, DBT_PROJECT, ensure_manifest, publish, write_seeds

AREAS = sorted(p.name.removesuffix("_referrals.odcs.yaml") for p in CONTRACTS.glob("*_referrals.odcs.yaml"))
area_partitions = dg.StaticPartitionsDefinition(AREAS)


class IngestConfig(dg.Config):
    full_resync: bool = False  # API areas: fetch everything again, not only changes since the cursor


def area_config(key: str) -> AreaConfig:
    found = [a for a in load_areas() if a.key == key]
    if not found:
        raise dg.Failure(f"area {key!r} is not in {ccs_home() / 'areas.yaml'}")
    return found[0]


def pseudonymisation_key() -> bytes:
    # Outside the demo there must be a key in the environment; the demo may make a local key file.
    return load_key(ccs_home(), create=os.environ.get("CCS_DEMO") == "1")


@dg.asset(
    partitions_def=area_partitions,
    group_name="ingestion",
    kinds={"python", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("contract", asset="landed_referrals",
                          description="Every row meets the area's data contract; rows that do not are quarantined."),
        dg.AssetCheckSpec("reconciliation", asset="landed_referrals",
                          description="Source rows = landed + already landed + quarantined, for every batch."),
    ],
)
def landed_referrals(context: dg.AssetExecutionContext, config: IngestConfig):
    """Referral records from the area's system, checked, pseudonymised and landed once; failures
    quarantined with their reason. Personal data stops here."""
    area = area_config(context.partition_key)
    reports = ingest_area(area, ccs_home(), pseudonymisation_key(), full_resync=config.full_resync, link=False)
    totals = {k: sum(getattr(r, k) for r in reports) for k in ("rows_in", "landed", "already_landed", "quarantined")}
    reasons: dict = {}
    for r in reports:
        for k, v in r.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    yield dg.MaterializeResult(metadata={
        "batches": len(reports), **totals, "sources": [r.source for r in reports][:50],
        "quarantine_reasons": reasons})
    rules = {}
    for r in reports:
        for name, stats in r.rules.items():
            rules[name] = stats
    yield dg.AssetCheckResult(
        check_name="contract", passed=totals["quarantined"] == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined_rows": totals["quarantined"], "reasons": reasons,
                  "failed_rules": {k: v["unexpected"] for k, v in rules.items() if not v["success"]},
                  "rules_checked": len(rules), "contract": reports[0].contract if reports else None})
    yield dg.AssetCheckResult(
        check_name="reconciliation", passed=all(r.reconciles for r in reports),
        metadata={**totals, "batches_not_reconciling": [r.batch_id for r in reports if not r.reconciles]})


@dg.asset(partitions_def=area_partitions, group_name="ingestion", deps=[landed_referrals], kinds={"python", "parquet"})
def linked_people(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Each landed referral's person pseudonym, linking records by keyed match keys."""
    with area_lock(ccs_home(), context.partition_key):
        linked = link_people(context.partition_key, ccs_home())
    return dg.MaterializeResult(metadata=linked)


@dg.asset(partitions_def=area_partitions, group_name="ingestion", kinds={"python", "parquet"})
def landed_directory(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The area's service directory as it stands: organisations, services with the issues they accept
    and where, intake pauses (Open Referral UK feeds or directory export files)."""
    counts = ingest_directory(area_config(context.partition_key), ccs_home())
    return dg.MaterializeResult(metadata=counts)


@dg.asset(
    group_name="ingestion",
    kinds={"python", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("contract", asset="landed_grants",
                          description="Every grant meets the 360Giving contract; rows that do not are quarantined."),
        dg.AssetCheckSpec("reconciliation", asset="landed_grants",
                          description="Rows read = landed + quarantined."),
    ],
)
def landed_grants(context: dg.AssetExecutionContext):
    """Funders' grants from the 360Giving files configured under `grants:` in areas.yaml, checked and
    landed as a whole (grants to individuals without the person); failures quarantined with their reason."""
    report = ingest_grants(None, ccs_home())
    yield dg.MaterializeResult(metadata={
        "rows_in": report.rows_in, "landed": report.landed, "quarantined": report.quarantined,
        "to_individuals": report.to_individuals, "files": [f["source"] for f in report.files][:50],
        "quarantine_reasons": report.reasons})
    yield dg.AssetCheckResult(check_name="contract", passed=report.quarantined == 0, severity=dg.AssetCheckSeverity.WARN,
                              metadata={"quarantined_rows": report.quarantined, "reasons": report.reasons,
                                        "contract": report.contract})
    yield dg.AssetCheckResult(check_name="reconciliation", passed=report.reconciles,
                              metadata={"rows_in": report.rows_in, "landed": report.landed,
                                        "quarantined": report.quarantined})


dbt_project = DbtProject(project_dir=DBT_PROJECT, profiles_dir=DBT_PROJECT)
ensure_manifest()  # not prepare_if_dev(): that only runs under `dagster dev`, and looks for dbt on PATH


# dbt reads each area's landed files as a source (landing/<area>_referrals, landing/<area>_people):
# those are what the ingestion assets write.
landing_views = [
    dg.AssetSpec(["landing", f"{area}_{table}"], deps=[producer], group_name="ingestion",
                 description=f"{area}'s landed {table} as dbt reads them (Parquet under $CCS_HOME/landing/{area}).")
    for area in AREAS
    for table, producer in (("referrals", "landed_referrals"), ("people", "linked_people"),
                            ("organisations", "landed_directory"), ("services", "landed_directory"),
                            ("intake_pauses", "landed_directory"))
]


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project)
def warehouse(context: dg.AssetExecutionContext, dbt_cli: DbtCliResource):
    """Every dbt model and seed as an asset, its tests as asset checks."""
    write_seeds()
    os.environ.setdefault("CCS_HOME", str(ccs_home()))
    with area_lock(ccs_home(), "warehouse"):  # one build at a time: DuckDB has one writer
        # the areas the manifest was parsed for (an area landing for the first time joins on reload)
        areas = json.loads(Path(dbt_project.manifest_path).read_text())["metadata"]["ccs_areas"]
        invocation = dbt_cli.cli([*BUILD, "--vars", json.dumps({"areas": areas})], context=context)
        yield from invocation.stream()
        everything = set(context.op_execution_context.op_def.output_dict)
        if set(context.op_execution_context.selected_output_names) == everything:
            # the whole warehouse was built and tested: publish the serving snapshot
            target = Path(invocation.target_path)
            publish(run_results=target / "run_results.json", manifest=target / "manifest.json")


ingest_job = dg.define_asset_job("ingest", selection=[landed_referrals, linked_people, landed_directory])


@dg.sensor(job=ingest_job, minimum_interval_seconds=60)
def export_files(context: dg.SensorEvaluationContext):
    """A run for each CSV area with new export files in its drop folder; the run key (the files and
    their content) makes sure files are processed once even if the sensor fires twice."""
    try:
        areas = load_areas()
    except Exception as error:  # no areas.yaml yet: nothing to watch
        return dg.SkipReason(str(error))
    requests = []
    for area in areas:
        if area.transport != "csv":
            continue
        files = pending_files(area, ccs_home())
        if files:  # one run lands every new file of the area; the key names the files and their content
            run_key = f"{area.key}:" + ",".join(f"{p.name}:{file_digest(p)[:16]}" for p in files)
            requests.append(dg.RunRequest(run_key=run_key, partition_key=area.key,
                                          tags={"export_files": ", ".join(p.name for p in files)[:1000]}))
    return requests or dg.SkipReason("no new export files")


@dg.schedule(job=ingest_job, cron_schedule="0 6 * * *", execution_timezone="Europe/London")
def daily(context: dg.ScheduleEvaluationContext):
    """Every morning: sync every configured area."""
    for area in load_areas():
        yield dg.RunRequest(run_key=f"daily:{area.key}:{context.scheduled_execution_time:%Y-%m-%d}",
                            partition_key=area.key)


warehouse_job = dg.define_asset_job("build_warehouse", selection=dg.AssetSelection.assets(warehouse))


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[ingest_job], request_job=warehouse_job)
def warehouse_after_ingestion(context: dg.RunStatusSensorContext):
    """The sensor and the schedule drive the whole graph: after each successful ingestion run, build
    the warehouse and publish (builds queue on a lock, so a later build includes every landing)."""
    return dg.RunRequest(run_key=f"after:{context.dagster_run.run_id}")


everything_job = dg.define_asset_job("everything", selection=dg.AssetSelection.all())

defs = dg.Definitions(
    assets=[landed_referrals, linked_people, landed_directory, landed_grants, *landing_views, warehouse],
    jobs=[ingest_job, warehouse_job, everything_job],
    sensors=[export_files, warehouse_after_ingestion],
    schedules=[daily],
    resources={"dbt_cli": DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT),
                                         dbt_executable=DBT_EXECUTABLE)},
)
