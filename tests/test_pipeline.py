"""The whole graph through Dagster (`ccs run`): it gives the same marts every time on the same input,
and a run killed mid-build leaves the served snapshot as it was."""

import os
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from conftest import ROOT, WAREHOUSE_KEY, ccs
from orchestration.config import AreaConfig, write_areas

# Records of the runs themselves, which differ between runs by design: when each landing and publish
# happened, and each run's batches (a second API sync re-reads its look-back window as already landed).
RUN_METADATA = {"snapshot_info", "snapshot_checks", "mart_area_status", "mart_reconciliation"}


def published_tables(snapshot) -> list[str]:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return sorted(t for (t,) in con.execute("select table_name from information_schema.tables").fetchall()
                      if t not in RUN_METADATA)


def differences(a, b, tables: tuple[str, ...] | None = None) -> dict[str, int]:
    """Rows in one DuckDB file's table and not the other's, per table (0 everywhere: identical); by
    default the tables a snapshot publishes. Not compared: `built_at`, when the build that wrote a row
    started."""
    rows = "select columns(lambda c: c <> 'built_at') from"
    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        return {t: con.execute(f"select count(*) from (({rows} a.{t} except all {rows} b.{t}) "
                               f"union all ({rows} b.{t} except all {rows} a.{t}))").fetchone()[0]
                for t in tables or published_tables(a)}


def built_home_copy(warehouse_home, tmp_path):
    """A home of its own with the built home's landing and warehouse, for a test that changes them."""
    home = tmp_path / "home"
    shutil.copytree(warehouse_home / "landing", home / "landing")
    shutil.copy(warehouse_home / "warehouse.duckdb", home / "warehouse.duckdb")
    return home


@pytest.fixture(scope="module")
def run_home(world, sources, manifest, tmp_path_factory):
    """A CCS_HOME whose areas.yaml points at the test world (CSV folders, the served APIs, the grants)."""
    home = tmp_path_factory.mktemp("run-home")
    env = {**os.environ, "CCS_HOME": str(home), "CCS_PSEUDONYMISATION_KEY": WAREHOUSE_KEY.decode()}
    areas = []
    for area, info in manifest["areas"].items():
        if info["transport"] == "csv":
            areas.append(AreaConfig(area, drop_folder=world / info["exports"]))
        else:
            env[f"RUN_TEST_TOKEN_{area}"] = info["token"]
            areas.append(AreaConfig(area, base_url=f"{sources.base}{info['api_path']}", token_env=f"RUN_TEST_TOKEN_{area}"))
    write_areas(home / "areas.yaml", areas, grants=[world / info["grants"] for info in manifest["areas"].values()])
    sources.reset()
    return home, env


def test_the_whole_graph_twice_gives_identical_marts(run_home, warehouse_home):
    home, env = run_home
    first = ccs("run", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "warehouse: done" in first.stdout
    snapshot_1 = (home / "serving" / "current.duckdb").resolve()
    # the same input as the warehouse fixture, landed and built another way (functions, not Dagster)
    assert not any(differences(snapshot_1, warehouse_home / "serving" / "current.duckdb").values())
    second = ccs("run", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "landed 0," in second.stdout  # nothing new: every row was already landed
    snapshot_2 = (home / "serving" / "current.duckdb").resolve()
    assert snapshot_2 != snapshot_1
    found = differences(snapshot_1, snapshot_2)
    assert len(found) >= 20 and not any(found.values()), found


def test_a_run_killed_mid_build_leaves_the_old_snapshot_served(warehouse_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(warehouse_home, home, symlinks=True)
    shutil.rmtree(home / "dbt" / "logs")  # the log is how the test sees dbt at work
    current = home / "serving" / "current.duckdb"
    served = current.resolve()
    with duckdb.connect(str(current), read_only=True) as con:
        before = con.execute("select sum(referrals) from mart_area_kpis where period_type = 'year'").fetchone()[0]
    build = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "build"], cwd=ROOT, start_new_session=True,
                             env={**os.environ, "CCS_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = home / "dbt" / "logs" / "dbt.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.exists() and "fct_referrals" in log.read_text(errors="ignore")):
        time.sleep(0.1)  # until dbt is building the models
    assert build.poll() is None, "the build ended before it could be killed"
    os.killpg(build.pid, signal.SIGKILL)  # the build and its dbt process, as a crash or an OOM kill would
    build.wait()
    assert current.resolve() == served
    with duckdb.connect(str(current), read_only=True) as con:
        assert con.execute("select sum(referrals) from mart_area_kpis where period_type = 'year'").fetchone()[0] == before
        assert con.execute("select count(*) from snapshot_info").fetchone()[0] == 4
    again = ccs("build", env={**os.environ, "CCS_HOME": str(home)})  # the next run recovers
    assert again.returncode == 0, again.stdout + again.stderr
    assert current.resolve() != served


def test_ccs_compare_reproduces_the_evaluators_norfolk_table(warehouse_home):
    result = ccs("compare", "--area", "norfolk", "2019", "2021", env={**os.environ, "CCS_HOME": str(warehouse_home)})
    assert result.returncode == 0, result.stdout + result.stderr
    judged = [line for line in result.stdout.splitlines() if line.endswith((" yes", " NO"))]
    assert len(judged) == 6 and all(line.endswith(" yes") for line in judged), result.stdout
    with duckdb.connect(str(warehouse_home / "serving" / "current.duckdb"), read_only=True) as con:
        connections = con.execute("select distinct_connections from mart_network_by_area_year "
                                  "where area = 'norfolk' and year = 2021").fetchone()[0]
    assert f"{connections:,}" in next(line for line in judged if line.startswith("Connections"))
    missing = ccs("compare", "--area", "oldham", "2019", "2022", env={**os.environ, "CCS_HOME": str(warehouse_home)})
    assert missing.returncode == 2 and "no oldham figures for 2019" in missing.stderr


def test_an_incremental_build_equals_a_full_one(warehouse_home, tmp_path):
    """Build without two landed batches (one from the middle: batches of a run share their landing second;
    and the one with the latest change, which moves the data's as-of date on) and with one person split in
    two, as if the record linking them had not landed yet; then land them, link again and build again: the
    incremental models pick it all up, and the marts, the referrals, their events and versions equal a full
    build's."""
    home = tmp_path / "home"
    shutil.copytree(warehouse_home / "landing", home / "landing")
    landed = home / "landing" / "norfolk" / "referrals"
    batches = sorted(landed.glob("*.parquet"))
    people = home / "landing" / "norfolk" / "people.parquet"
    with duckdb.connect(str(warehouse_home / "warehouse.duckdb"), read_only=True) as con:
        (latest,) = con.execute("select arg_max(batch_id, changed_at) from int_referral_versions "
                                "where area = 'norfolk'").fetchone()
        held_back = sorted({batches[len(batches) // 2], landed / f"{latest}.parquet"})
        # a crisis bounce with exactly two earlier referrals of the person for the issue in its 90 days: with
        # one of them given a person of its own it is no bounce, and that person has a crisis episode of
        # their own, which the build after the relinking must delete (none of the three in a held-back batch)
        landed_late = f'select distinct "Referral ID" from read_parquet({[str(b) for b in held_back]})'
        bounce, split = con.execute(f"""
            with landed_late as ({landed_late}),
            pairs as (
                select b.referral_id as bounce, a.referral_id as earlier
                from fct_referrals as b
                join fct_referrals as a on a.area = b.area and a.person_key = b.person_key
                    and a.primary_issue = b.primary_issue and a.sent_at < b.sent_at and b.sent_date - a.sent_date <= 89
                where b.area = 'norfolk' and b.is_bounce and b.primary_issue_group = 'crisis')
            select bounce, min(earlier) from pairs
            where bounce not in (from landed_late) and earlier not in (from landed_late)
            group by bounce having count(*) = 2 order by bounce limit 1""").fetchone()
        con.execute(f"copy (select referral_id, case when referral_id = '{split}' then uuid() "
                    f"else person_key end as person_key, linked_in from read_parquet('{people}')) to '{tmp_path / 'split.parquet'}'")
        # linked again, as a later linkage run would: the referral back with its person, and the referrals of
        # the held-back batches given theirs (first linked), under that run's number
        con.execute(f"""copy (
            select referral_id, person_key,
                   case when referral_id = '{split}' or referral_id in ({landed_late})
                        then (select max(linked_in) + 1 from read_parquet('{people}')) else linked_in end as linked_in
            from read_parquet('{people}')) to '{tmp_path / 'joined.parquet'}'""")
    shutil.move(tmp_path / "split.parquet", people)
    for batch in held_back:
        shutil.move(batch, tmp_path / batch.name)
    env = {**os.environ, "CCS_HOME": str(home)}
    first = ccs("build", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    with duckdb.connect(str(home / "serving" / "current.duckdb"), read_only=True) as con:
        without = con.execute("select sum(referrals) from mart_area_kpis where period_type = 'year'").fetchone()[0]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(f"select is_bounce from fct_referrals where referral_id = '{bounce}'").fetchone() == (False,)
        # referrals accepted and not yet due for the contact SLA that fall due as the as-of date moves on, with
        # no version in the held-back batches: only their SLA changes in the next build
        con.execute(f"attach '{warehouse_home / 'warehouse.duckdb'}' as full_build (read_only)")
        falling_due = con.execute(f"""
            select count(*) from fct_referrals as r join full_build.fct_referrals as f using (area, referral_id)
            where r.accepted_at is not null and not r.sla_due and f.sla_due and r.area = 'norfolk'
            and r.referral_id not in (select "Referral ID" from read_parquet({[str(tmp_path / b.name) for b in held_back]}))
            """).fetchone()[0]
        assert falling_due > 0
    for batch in held_back:
        shutil.move(tmp_path / batch.name, batch)
    shutil.move(tmp_path / "joined.parquet", people)
    second = ccs("build", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    with duckdb.connect(str(home / "serving" / "current.duckdb"), read_only=True) as con:
        assert con.execute("select sum(referrals) from mart_area_kpis where period_type = 'year'").fetchone()[0] > without
    found = differences(home / "serving" / "current.duckdb", warehouse_home / "serving" / "current.duckdb")
    assert not any(found.values()), found
    found = differences(home / "warehouse.duckdb", warehouse_home / "warehouse.duckdb",
                        ("fct_referrals", "fct_referral_events", "int_referral_versions", "int_crisis_episodes",
                         "int_person_years", "int_person_issue_months", "int_person_neighbourhood_years"))
    assert not any(found.values()), found


def test_a_warehouse_made_when_person_keys_were_text_is_made_again(warehouse_home, tmp_path):
    """Person keys were text before they were UUIDs: `fct_referrals` could not take the new ones
    incrementally. The build drops it first (dbt's on-run-start) and makes it again whole."""
    home = built_home_copy(warehouse_home, tmp_path)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("alter table fct_referrals alter person_key type varchar "
                    "using 'p_' || replace(cast(person_key as varchar), '-', '')")
    result = ccs("build", env={**os.environ, "CCS_HOME": str(home)})
    assert result.returncode == 0, result.stdout + result.stderr
    found = differences(home / "warehouse.duckdb", warehouse_home / "warehouse.duckdb",
                        ("fct_referrals", "int_crisis_episodes"))
    assert not any(found.values()), found


def test_canonical_codes_typed_otherwise_are_typed_again_as_the_contracts_list_them(warehouse_home, tmp_path):
    """fct_referrals holds canonical codes as ENUMs of the codes the contracts allow. A table from before
    (text) or from another list of codes is retyped in place by the next build, which then equals a full one."""
    home = built_home_copy(warehouse_home, tmp_path)
    warehouse = str(home / "warehouse.duckdb")
    enums = ("select table_name, column_name, data_type from information_schema.columns "
             "where data_type like 'ENUM%' order by all")
    with duckdb.connect(str(warehouse_home / "warehouse.duckdb"), read_only=True) as con:
        typed = con.execute(enums).fetchall()
        statuses = [s for (s,) in con.execute("select distinct status from fct_referrals order by 1").fetchall()]
    assert ("fct_referrals", "area", "ENUM('norfolk', 'oldham', 'swansea_npt', 'tower_hamlets')") in typed
    with duckdb.connect(warehouse) as con:
        con.execute("alter table fct_referrals alter area type varchar")
        con.execute("alter table int_person_years alter area type varchar")
        con.execute(f"alter table fct_referrals alter status type enum({', '.join(repr(s) for s in [*statuses, 'withdrawn'])})")
        assert con.execute(enums).fetchall() != typed
    result = ccs("build", env={**os.environ, "CCS_HOME": str(home)})
    assert result.returncode == 0, result.stdout + result.stderr
    with duckdb.connect(warehouse, read_only=True) as con:
        assert con.execute(enums).fetchall() == typed
    found = differences(home / "warehouse.duckdb", warehouse_home / "warehouse.duckdb",
                        ("fct_referrals", "int_person_years", "mart_referrals_monthly"))
    assert not any(found.values()), found


def test_a_repeated_referral_event_fails_every_build_until_it_is_mended(warehouse_home, tmp_path):
    """The uniqueness tests of the referral tables check only the rows written since they last passed. A
    build that fails one records no pass: the builds after it check its rows again, and fail, until the
    repeat is gone."""
    home = built_home_copy(warehouse_home, tmp_path)
    env = {**os.environ, "CCS_HOME": str(home)}
    warehouse = str(home / "warehouse.duckdb")
    passes = "select count(*) from data_tests_passed where model = 'fct_referral_events'"
    with duckdb.connect(warehouse) as con:  # an event written twice by a build (after the last pass)
        before = con.execute(passes).fetchone()[0]
        con.execute("insert into fct_referral_events select * replace (now() as built_at) from fct_referral_events limit 1")
    for _ in range(2):
        result = ccs("build", env=env)
        assert result.returncode != 0 and "unique_combination_fct_referral_events" in result.stdout + result.stderr
    with duckdb.connect(warehouse) as con:
        assert con.execute(passes).fetchone()[0] == before
        con.execute("""delete from fct_referral_events where rowid = (select max(rowid) from fct_referral_events)""")
    result = ccs("build", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    with duckdb.connect(warehouse) as con:
        assert con.execute(passes).fetchone()[0] == before + 1


def test_people_files_from_before_linkage_runs_are_built_whole_then_incrementally(warehouse_home, tmp_path):
    """People files linked before they said which linkage run gave each person (`linked_in`) cannot tell
    the warehouse what was relinked: a build then makes fct_referrals whole; linked again (every person
    under run 1), the next build is whole once more, and the one after incremental; all equal to a full build."""
    home = built_home_copy(warehouse_home, tmp_path)
    for people in (home / "landing").glob("*/people.parquet"):
        duckdb.execute(f"copy (select referral_id, person_key from read_parquet('{people}')) to '{people}.old' (format parquet)")
        os.replace(f"{people}.old", people)
    env = {**os.environ, "CCS_HOME": str(home)}

    def build_made_fct_referrals_whole() -> bool:
        result = ccs("build", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            return con.execute("select whole from fct_referrals_change").fetchone()[0]

    assert build_made_fct_referrals_whole()  # no runs to go by
    for people in (home / "landing").glob("*/people.parquet"):  # linked again: every person under run 1
        shutil.copy(warehouse_home / "landing" / people.parent.name / "people.parquet", people)
    assert build_made_fct_referrals_whole()  # no run was recorded by the build before
    assert not build_made_fct_referrals_whole()
    found = differences(home / "warehouse.duckdb", warehouse_home / "warehouse.duckdb",
                        ("fct_referrals", "int_crisis_episodes", "int_person_years"))
    assert not any(found.values()), found
