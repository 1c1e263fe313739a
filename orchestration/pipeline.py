"""The whole pipeline through Dagster, outside the webserver: `ccs run` and `ccs demo` use it.

Runs go into the Dagster instance in DAGSTER_HOME when it is set (so `dagster dev` shows them), else an
ephemeral one.
"""

import contextlib
import os
import sys
from datetime import datetime

import dagster as dg

from .config import ConfigError, ccs_home, load_areas


def run_everything(areas: list[str] | None = None, demo_key: bool = False) -> bool:
    """Ingest each configured area (its own partition), import the grants, then build and test the
    warehouse, which publishes the snapshot. One area's failure does not stop the others; the warehouse
    is built from whatever is landed. True when every step succeeded."""
    if demo_key:
        os.environ["CCS_DEMO"] = "1"  # the assets may use (or make) the demo's key file
    from .definitions import defs, landed_directory, landed_grants, landed_referrals, linked_people, warehouse

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    configured = [a.key for a in load_areas()]
    unknown = set(areas or ()) - set(configured)
    if unknown:
        raise ConfigError(f"not configured in areas.yaml: {', '.join(sorted(unknown))}")
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # report() says what happened
    ok = True
    for key in areas or configured:
        result = dg.materialize([landed_referrals, linked_people, landed_directory], partition_key=key,
                                instance=instance, resources=defs.resources, raise_on_error=False, run_config=quiet)
        ok &= report(f"{key}: ingestion", result)
    ok &= report("grants", dg.materialize([landed_grants], instance=instance, raise_on_error=False, run_config=quiet))
    log = ccs_home() / "logs" / f"warehouse-{datetime.now():%Y%m%dT%H%M%S}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out, contextlib.redirect_stdout(out):  # dagster-dbt echoes every dbt event
        result = dg.materialize([warehouse], instance=instance, resources=defs.resources, raise_on_error=False,
                                run_config=quiet)
    ok &= report("warehouse", result)
    print(f"warehouse: dbt's log: {log}")
    return ok


def report(step: str, result: dg.ExecuteInProcessResult) -> bool:
    """Print what a step did: its materialisations' main figures and any check that failed."""
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        figures = ", ".join(f"{k} {v.value}" for k, v in metadata.items()
                            if k in ("rows_in", "landed", "already_landed", "quarantined", "people", "services"))
        if figures:
            print(f"{step}: {event.materialization.asset_key.to_user_string()}: {figures}", flush=True)
    failed_checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
    for check in failed_checks:
        print(f"{step}: check {check.asset_key.to_user_string()}:{check.check_name} did not pass", flush=True)
    if not result.success:
        for event in result.all_events:
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                error = event.step_failure_data.error
                cause = (error.cause or error).message.strip()  # the asset's own error, not Dagster's wrapper
                print(f"{step}: {event.step_key} FAILED: {cause}", file=sys.stderr, flush=True)
        return False
    checks = len(result.get_asset_check_evaluations())
    print(f"{step}: done ({checks} checks, {len(failed_checks)} not passed)", flush=True)
    return True
