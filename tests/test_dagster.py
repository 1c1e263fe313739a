"""The Dagster code location: it loads, an area's partition materialises with its checks, the
file-drop sensor asks for each new export file once, and a successful ingestion asks for a warehouse build."""

import shutil

import dagster as dg
import pytest

from orchestration.config import AreaConfig, write_areas
from orchestration.definitions import (defs, export_files, landed_directory, landed_referrals, linked_people,
                                      warehouse_after_ingestion)


@pytest.fixture
def home(tmp_path, world, monkeypatch):
    home = tmp_path / "home"
    drop = tmp_path / "norfolk-drop"
    drop.mkdir()
    for f in sorted((world / "norfolk" / "exports").iterdir())[:3]:
        shutil.copy(f, drop / f.name)
    shutil.copytree(world / "norfolk" / "directory", tmp_path / "directory")
    write_areas(home / "areas.yaml", [AreaConfig("norfolk", drop_folder=drop)])
    monkeypatch.setenv("CCS_HOME", str(home))
    monkeypatch.setenv("CCS_PSEUDONYMISATION_KEY", "dagster-test-key-" + "x" * 32)
    return home


def test_the_code_location_loads():
    dg.Definitions.validate_loadable(defs)
    assert landed_referrals.partitions_def.get_partition_keys() == ["norfolk", "oldham", "swansea_npt", "tower_hamlets"]


def test_an_area_partition_materialises_with_its_checks(home):
    result = dg.materialize([landed_referrals, linked_people, landed_directory], partition_key="norfolk",
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["reconciliation"].passed and checks["contract"].passed
    landed = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                  if e.materialization.asset_key == landed_referrals.key)
    assert landed["batches"].value == 3 and landed["landed"].value == landed["rows_in"].value > 0
    assert (home / "landing" / "norfolk" / "people.parquet").exists()
    assert (home / "landing" / "norfolk" / "directory" / "services.parquet").exists()


def test_the_sensor_asks_once_per_new_file(home):
    instance = dg.DagsterInstance.ephemeral()
    [request] = export_files(dg.build_sensor_context(instance=instance, definitions=defs))
    assert request.partition_key == "norfolk" and request.run_key.count(".csv:") == 3
    dg.materialize([landed_referrals], partition_key="norfolk", instance=instance)
    after = export_files(dg.build_sensor_context(instance=instance, definitions=defs))
    assert isinstance(after, dg.SkipReason)


def test_a_successful_ingestion_asks_for_a_warehouse_build(home):
    instance = dg.DagsterInstance.ephemeral()
    ingestion = defs.get_job_def("ingest").execute_in_process(partition_key="norfolk", instance=instance)
    assert ingestion.success
    context = dg.build_run_status_sensor_context(
        sensor_name="warehouse_after_ingestion", dagster_instance=instance, dagster_run=ingestion.dagster_run,
        dagster_event=ingestion.get_run_success_event())
    request = warehouse_after_ingestion(context)
    assert isinstance(request, dg.RunRequest) and request.run_key == f"after:{ingestion.run_id}"
    assert warehouse_after_ingestion.job_name == "build_warehouse"
