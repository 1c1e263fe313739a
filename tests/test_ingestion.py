"""Ingestion: contracts, quarantine, reconciliation, the privacy boundary and linkage, on the files and
over the HTTP API of a generated world."""

import json
import os
import shutil
import uuid
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from orchestration.config import AreaConfig
from orchestration.ingest.contracts import CONTRACTS, ContractError, contract_for, load_contract, read_contract
from orchestration.ingest.landing import Landing
from orchestration.ingest.linkage import pair_quality
from orchestration.ingest.privacy import MissingKeyError, load_key
from orchestration.ingest.run import file_digest, ingest_area, pending_files
from orchestration.ingest.sources import BatchError

KEY = b"test-pseudonymisation-key-0123456789abcdef"


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def drop_folder(tmp_path: Path, world: Path, area: str, months: list[str]) -> Path:
    folder = tmp_path / f"{area}-drop"
    folder.mkdir()
    for f in sorted((world / area / "exports").iterdir()):
        if any(m in f.name for m in months):
            shutil.copy(f, folder / f.name)
    return folder


def landed(home: Path, area: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in sorted((home / "landing" / area / "referrals").glob("*.parquet"))])


def quarantined(home: Path, area: str) -> pd.DataFrame:
    files = sorted((home / "landing" / area / "quarantine").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame()


def test_every_contract_loads_and_a_malformed_one_fails_loudly(tmp_path):
    for area in ("norfolk", "tower_hamlets", "oldham", "swansea_npt"):
        contract = contract_for(area)
        assert contract.area == area and contract.personal["surname"].name
    canonical = read_contract(CONTRACTS / "canonical_referral_event.odcs.yaml")
    assert {p.name for p in canonical.schema_[0].properties} >= {"person_key", "age_band", "lsoa_code", "status"}
    broken = tmp_path / "broken.odcs.yaml"
    text = contract_for("norfolk").path.read_text().replace("logicalType: timestamp", "logicalTyp: timestamp", 1)
    broken.write_text(text)
    with pytest.raises(ContractError, match="broken.odcs.yaml: not a valid ODCS v3 contract"):
        load_contract(broken)


def test_csv_exports_land_once_and_reconcile(tmp_path, home, world):
    area = AreaConfig("norfolk", drop_folder=drop_folder(tmp_path, world, "norfolk", ["2021-0"]))
    reports = ingest_area(area, home, KEY)
    assert len(reports) == 9 and all(r.reconciles for r in reports)
    rows_in = sum(len(pd.read_csv(f, encoding="cp1252")) for f in area.drop_folder.iterdir())
    assert sum(r.rows_in for r in reports) == rows_in == len(landed(home, "norfolk"))
    assert ingest_area(area, home, KEY) == []  # a file is read once, however often it is seen
    # ... and an unchanged file is not even hashed again to tell
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("orchestration.ingest.run.file_digest", lambda path: pytest.fail(f"{path} hashed again"))
        assert pending_files(area, home) == []
    # a file touched but not changed is hashed, found the same, and not read
    os.utime(area.drop_folder / "NCAN_referrals_2021-01.csv")
    assert pending_files(area, home) == []
    # a corrected file with the same name is read again, and only its changes land
    export = area.drop_folder / "NCAN_referrals_2021-03.csv"
    rows = pd.read_csv(export, encoding="cp1252", dtype=str, keep_default_na=False)
    rows.loc[0, "Status Date"] = "31/03/2021 23:59"
    rows.to_csv(export, index=False, encoding="cp1252")
    # ... found changed by its size, without hashing it first
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("orchestration.ingest.run.file_digest",
                      lambda path: pytest.fail(f"{path} hashed to tell") if path == export else file_digest(path))
        assert pending_files(area, home) == [export]
    [again] = ingest_area(area, home, KEY)
    assert (again.landed, again.already_landed, again.quarantined, again.unchanged) == (1, 0, 0, len(rows) - 1)
    assert again.rows_in == len(rows) and again.reconciles


def test_a_backlog_lands_the_same_one_file_at_a_time(tmp_path, world, monkeypatch):
    """Runs of files land one after another, each checked against what the runs before landed (kept in a
    scratch file rather than read again): the same landing, quarantine and counts as one run."""
    from orchestration.ingest import run

    folder = drop_folder(tmp_path, world, "norfolk", ["2021-0"])
    late = pd.read_csv(folder / "NCAN_referrals_2021-03.csv", encoding="cp1252", dtype=str, keep_default_na=False)
    closed = late.index[late["Status"] == "Closed"][0]
    other_outcome = next(o for o in late["Outcome"].unique() if o and o != late.loc[closed, "Outcome"])
    clash = late.loc[[closed]].assign(Outcome=other_outcome)  # the same version, a different record
    behind = late.loc[[closed]].assign(**{"Status": "Awaiting Response", "Status Date": "30/09/2021 23:59"})
    pd.concat([clash, behind]).to_csv(folder / "NCAN_referrals_2021-09.csv", index=False, encoding="cp1252")
    area = AreaConfig("norfolk", drop_folder=folder)
    together = ingest_area(area, tmp_path / "together", KEY)
    monkeypatch.setattr(run, "CHUNK_BYTES", 1)  # every file a run of its own
    apart = ingest_area(area, tmp_path / "apart", KEY)
    assert len(together) == len(apart) == 9 and all(r.reconciles for r in apart)
    counts = lambda reports: [(r.rows_in, r.landed, r.already_landed, r.quarantined, r.reasons) for r in reports]
    assert counts(apart) == counts(together)
    assert apart[-1].reasons == {"Status Date: conflictingVersion": 1, "Status: statusOrder": 1}
    pd.testing.assert_frame_equal(snapshot(tmp_path / "apart", "norfolk").drop(columns="_content_hash"),
                                  snapshot(tmp_path / "together", "norfolk").drop(columns="_content_hash"))
    assert not list((tmp_path / "apart" / "state").glob(".*.duckdb*"))  # the scratch file is gone


def test_a_reissued_file_costs_only_its_changed_and_new_rows(tmp_path, home, world):
    """The month's export re-issued as the month goes on (same name, rows changed and added in referral
    order, not appended): only the changed and the new row are checked and land, at their true row
    numbers; the rest are counted unchanged, and a row quarantined the first time is not counted again."""
    folder = drop_folder(tmp_path, world, "norfolk", ["2022-05"])
    area = AreaConfig("norfolk", drop_folder=folder)
    export = next(folder.iterdir())
    rows = pd.read_csv(export, encoding="cp1252", dtype=str, keep_default_na=False)
    rows.loc[3, "Issues"] = "Debt; Covid-19 Support"  # quarantined on the first read
    rows.to_csv(export, index=False, encoding="cp1252", lineterminator="\r\n")
    [first] = ingest_area(area, home, KEY)
    assert (first.rows_in, first.quarantined, first.unchanged) == (len(rows), 1, 0)
    changed = rows.index[rows["Status"] == "Awaiting Response"][0]
    rows.loc[changed, ["Status", "Status Date"]] = ["Accepted", "31/05/2022 23:58"]
    new = rows.loc[[changed]].assign(**{"Referral ID": "NCAN-NEW-1", "Status": "Awaiting Response"})
    rows = pd.concat([rows.loc[:changed + 4], new, rows.loc[changed + 5:]], ignore_index=True)
    rows.to_csv(export, index=False, encoding="cp1252")  # and the line endings changed: the fields did not
    [again] = ingest_area(area, home, KEY)
    assert (again.rows_in, again.landed, again.already_landed, again.quarantined, again.unchanged) == (
        len(rows), 2, 0, 0, len(rows) - 2)
    assert again.reconciles
    fresh = landed(home, "norfolk")
    fresh = fresh[fresh["_batch_id"] == again.batch_id].set_index("Referral ID")
    assert fresh.loc[rows.loc[changed, "Referral ID"], "_source_row"] == changed + 1
    assert fresh.loc["NCAN-NEW-1", "_source_row"] == changed + 6
    assert (quarantined(home, "norfolk")["rule"] == "invalidValues").sum() == 1
    batches = [json.loads(f.read_text()) for f in (home / "landing" / "norfolk" / "batches").glob("*.json")]
    assert sum(b["rows_in"] for b in batches) == sum(
        b["landed"] + b["already_landed"] + b["quarantined"] + b["unchanged"] for b in batches)
    # the state keeps keyed digests of the rows read, never the rows
    [digests] = (home / "state" / "norfolk" / "rows_read").glob("*.parquet")
    kept = pd.read_parquet(digests)
    assert list(kept.columns) == ["row_digest"] and len(kept) == len(rows) + 1  # both versions of the changed row
    # re-issued again with nothing changed but its bytes: nothing is checked again
    rows.to_csv(export, index=False, encoding="cp1252", lineterminator="\r\n")
    [third] = ingest_area(area, home, KEY)
    assert (third.rows_in, third.landed, third.quarantined, third.unchanged) == (len(rows), 0, 0, len(rows))


def test_row_digests_tell_rows_apart_and_depend_on_the_key():
    from orchestration.ingest.privacy import row_digests

    frame = pd.DataFrame({"a": ["x", "x", "x\x1fy", "x", None, "\x1e", ""], "b": ["y", "y", None, "\x1fy", "z", "z", "z"]},
                         dtype=object)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    digests = row_digests(table, KEY)
    assert digests[0] == digests[1] and len(set(digests)) == len(frame) - 1 and all(len(d) == 16 for d in digests)
    clean = table.take([0, 4])
    assert row_digests(clean, KEY) == [digests[0], digests[4]]  # a row's digest never depends on the others
    assert row_digests(table.slice(2), KEY) == digests[2:]  # arrays that start part-way into their buffers
    assert row_digests(table, b"another-key-entirely-0123456789abcdef")[0] != digests[0]
    assert row_digests(table.rename_columns(["a", "c"]), KEY)[0] != digests[0]  # nor on the header


def test_export_times_are_read_with_the_contracts_format_as_the_warehouse_reads_them():
    """A contract's time format is read with DuckDB's strptime, as the staging models read it: what the
    checks accept, the warehouse can read; what they cannot read is missing (and quarantined)."""
    from orchestration.ingest.validate import parse_times

    values = pd.Series(["01/02/2022 09:05", "1/2/2022 9:05", "2022-05-03", None, "31/02/2022 10:00", "28/02/2022 23:59"],
                       index=[10, 11, 12, 13, 14, 15], dtype=object)
    parsed = parse_times(values, "%d/%m/%Y %H:%M")
    assert parsed.index.tolist() == values.index.tolist()
    assert parsed.tolist()[:2] == [pd.Timestamp("2022-02-01 09:05")] * 2 and parsed[15] == pd.Timestamp("2022-02-28 23:59")
    assert parsed[[12, 13, 14]].isna().all()


def test_bad_rows_are_quarantined_with_file_row_field_and_rule(tmp_path, home, world):
    folder = drop_folder(tmp_path, world, "norfolk", ["2022-05"])
    export = next(folder.iterdir())
    rows = pd.read_csv(export, encoding="cp1252", dtype=str, keep_default_na=False)
    rows.loc[2, "Issues"] = "Debt; Covid-19 Support"  # a label nobody mapped
    rows.loc[4, "Referral ID"] = ""
    rows.loc[6, "Date Referred"] = "2022-05-03"  # not the export's date format
    rows.loc[8, "Status Date"] = "01/01/2099 09:00"  # in the future
    rows.to_csv(export, index=False, encoding="cp1252", lineterminator="\r\n")
    [report] = ingest_area(AreaConfig("norfolk", drop_folder=folder), home, KEY)
    assert report.quarantined == 4 and report.reconciles
    q = quarantined(home, "norfolk").set_index("source_row")
    assert q.loc[3, ["field", "rule"]].tolist() == ["Issues", "invalidValues"]
    assert q.loc[5, ["field", "rule"]].tolist() == ["Referral ID", "nullValues"]
    assert q.loc[7, ["field", "rule"]].tolist() == ["Date Referred", "format"]
    assert q.loc[9, ["field", "rule"]].tolist() == ["Status Date", "notInFuture"]
    assert (q["source"] == export.name).all()
    assert "Client Surname" not in q.loc[3, "record"] and rows.loc[2, "Client Surname"] not in q.loc[3, "record"]
    assert "Covid-19 Support" not in set(landed(home, "norfolk")["Issues"])


def test_a_status_that_goes_backwards_is_quarantined(tmp_path, home, world):
    folder = drop_folder(tmp_path, world, "norfolk", ["2022-05"])
    area = AreaConfig("norfolk", drop_folder=folder)
    ingest_area(area, home, KEY)
    export = next(folder.iterdir())
    rows = pd.read_csv(export, encoding="cp1252", dtype=str, keep_default_na=False)
    closed = rows.index[rows["Status"] == "Closed"][0]
    rows.loc[closed, ["Status", "Status Date"]] = ["Awaiting Response", "31/05/2022 23:59"]
    late = folder / "NCAN_referrals_2022-05-correction.csv"
    rows.loc[[closed]].to_csv(late, index=False, encoding="cp1252")
    [report] = ingest_area(area, home, KEY)
    assert report.quarantined == 1 and report.reasons == {"Status: statusOrder": 1}


def test_a_renamed_column_stops_the_batch_saying_what_changed(tmp_path, home, world):
    folder = drop_folder(tmp_path, world, "oldham", ["202206"])
    export = next(folder.iterdir())
    export.write_bytes(export.read_bytes().replace(b'"last_name"', b'"surname"', 1).replace(b",last_name,", b",surname,", 1))
    with pytest.raises(BatchError, match=r"ocan_export_202206.csv: column\(s\) \['last_name'\] missing.*\['surname'\] \(renamed\?\)"):
        ingest_area(AreaConfig("oldham", drop_folder=folder), home, KEY)
    assert not list((home / "landing" / "oldham" / "referrals").glob("*.parquet"))
    assert Landing(home, "oldham").state()["files"] == {}


def test_a_wrong_encoding_stops_the_batch(tmp_path, home, world):
    folder = drop_folder(tmp_path, world, "oldham", ["202206"])
    export = next(folder.iterdir())
    text = export.read_bytes()[3:].decode("utf-8").replace("has no money", "owes £40 and has no money")
    export.write_bytes(text.encode("cp1252", errors="replace"))
    with pytest.raises(BatchError, match="not utf-8-sig as the contract says"):
        ingest_area(AreaConfig("oldham", drop_folder=folder), home, KEY)


def test_rows_with_the_wrong_number_of_fields_are_quarantined_saying_where(tmp_path, home, world):
    """One row too long, one too short (after a value holding a line break, which pyarrow cannot place):
    both quarantined under (row): fieldCount with their place in the file and nothing of their text;
    every other row lands under its own row number, and the counts reconcile. Re-issued, the file adds
    nothing and the two rows are counted unchanged."""
    folder = drop_folder(tmp_path, world, "oldham", ["202206"])
    export = next(folder.iterdir())
    rows = pd.read_csv(export, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    rows.loc[1, "referral_notes"] = "Sian said\nshe owes money"  # a quoted line break before the bad rows
    rows.loc[4, "referral_notes"] = ""  # so its last two fields are its last two commas
    lines = rows.to_csv(index=False).split("\n")
    assert len(lines) == len(rows) + 3  # header, rows, the break inside row 2, the last newline
    lines[4] = lines[4] + ",Sian owes money"  # data row 3: one field too many
    lines[6] = lines[6].rsplit(",", 2)[0]  # data row 5: two fields short
    export.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    [report] = ingest_area(AreaConfig("oldham", drop_folder=folder), home, KEY)
    assert report.reconciles and report.rows_in == len(rows)
    assert report.reasons["(row): fieldCount"] == 2 and report.quarantined >= 2
    q = quarantined(home, "oldham")
    bad = q[q["rule"] == "fieldCount"].sort_values("source_row")
    width = len(rows.columns)
    assert bad["source_row"].tolist() == [3, 5] and set(bad["field"]) == {"(row)"}
    assert bad["value"].tolist() == [f"{width + 1} fields, the header {width}", f"{width - 2} fields, the header {width}"]
    assert bad["record"].isna().all() and not q.astype(str).apply(lambda c: c.str.contains("Sian")).any().any()
    got = landed(home, "oldham")
    assert not set(got["_source_row"]) & {3, 5}
    # every landed row under its own number, the rows after the bad ones too
    assert (got["referral_ref"].to_numpy() == rows.loc[got["_source_row"] - 1, "referral_ref"].to_numpy()).all()
    assert got["_source_row"].max() > 5
    export.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")  # re-issued: a blank line more
    [again] = ingest_area(AreaConfig("oldham", drop_folder=folder), home, KEY)
    assert (again.rows_in, again.landed, again.quarantined, again.unchanged) == (len(rows), 0, 0, len(rows))
    assert again.reconciles


def test_bom_windows_line_endings_and_welsh_names(tmp_path, home, world):
    folder = drop_folder(tmp_path, world, "oldham", ["202207"])
    export = next(folder.iterdir())
    rows = pd.read_csv(export, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    rows.loc[0, ["first_name", "last_name"]] = ["Llŷr", "Gwŵr-Prŷs"]
    rows.loc[0, "referral_notes"] = "Siân's neighbour said\r\nhe needs help"
    export.write_bytes(b"\xef\xbb\xbf" + rows.to_csv(index=False, lineterminator="\r\n").encode("utf-8"))
    [report] = ingest_area(AreaConfig("oldham", drop_folder=folder), home, KEY)
    assert report.landed == len(rows) and report.quarantined == 0
    first = landed(home, "oldham").iloc[0]
    assert first["referral_ref"] == rows.loc[0, "referral_ref"] and first["mk_name_dob"]


def test_no_key_no_run(monkeypatch, home):
    monkeypatch.delenv("CCS_PSEUDONYMISATION_KEY", raising=False)
    with pytest.raises(MissingKeyError):
        load_key(home)
    key = load_key(home, create=True)
    assert (home / "pseudonymisation.key").stat().st_mode & 0o777 == 0o600
    assert load_key(home, create=True) == key
    monkeypatch.setenv("CCS_PSEUDONYMISATION_KEY", "short")
    with pytest.raises(MissingKeyError, match="at least 32 bytes"):
        load_key(home)
    monkeypatch.setenv("CCS_PSEUDONYMISATION_KEY", "from-the-environment-" + "k" * 20)
    assert load_key(home) == b"from-the-environment-" + b"k" * 20


def test_batches_made_with_another_key_are_refused(tmp_path, home, world):
    area = AreaConfig("oldham", drop_folder=drop_folder(tmp_path, world, "oldham", ["202206"]))
    ingest_area(area, home, KEY)
    with pytest.raises(MissingKeyError, match="different pseudonymisation key"):
        ingest_area(area, home, b"another-key-entirely-0123456789abcdef")


def test_a_conflicting_version_is_quarantined_and_a_reread_quarantines_nothing_twice(tmp_path, home, world):
    folder = drop_folder(tmp_path, world, "oldham", ["202206"])
    area = AreaConfig("oldham", drop_folder=folder)
    export = next(folder.iterdir())
    rows = pd.read_csv(export, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    rows.loc[1, "referral_notes"] = "Siân owes £40"
    rows.loc[2, "current_status"] = "LOST"  # quarantined
    rows.to_csv(export, index=False, encoding="utf-8-sig")
    [first] = ingest_area(area, home, KEY)
    # the same key (referral, last change) with a different status: not a repeat, a conflict
    clash = rows.loc[[0]].copy()
    clash["current_status"] = "REJECTED" if clash.iloc[0]["current_status"] != "REJECTED" else "ACCEPTED"
    clash.to_csv(folder / "ocan_export_202206-clash.csv", index=False, encoding="utf-8-sig")
    rows.to_csv(export, index=False, encoding="utf-8-sig", lineterminator="\r\n")  # the month re-exported
    reports = ingest_area(area, home, KEY)
    assert [r.reasons for r in reports if "clash" in r.source] == [{"modified_at: conflictingVersion": 1}]
    assert all(r.reconciles for r in reports)
    q = quarantined(home, "oldham")
    assert (q["rule"] == "invalidValues").sum() == 1  # the re-exported bad row is not quarantined twice
    assert len(landed(home, "oldham")) == first.landed


def api_area(sources, area: str, monkeypatch) -> AreaConfig:
    monkeypatch.setenv(f"TOKEN_{area.upper()}", sources.token(area))
    return AreaConfig(area, base_url=f"{sources.base}/{area}/api", token_env=f"TOKEN_{area.upper()}")


def snapshot(home: Path, area: str) -> pd.DataFrame:
    """What is landed, without the batch bookkeeping: the same data, however it got there."""
    data = landed(home, area).drop(columns=["_batch_id", "_loaded_at", "_source", "_source_row"])
    return data.sort_values([f.name for f in contract_for(area).record_key]).reset_index(drop=True)


def test_api_incremental_sync_across_two_runs(api, home, monkeypatch):
    area = api_area(api, "tower_hamlets", monkeypatch)
    api.admin("clock", {"now": "2022-06-30T12:00:00Z"})
    [first] = ingest_area(area, home, KEY)
    cursor = Landing(home, "tower_hamlets").state()["cursor"]
    api.admin("clock", {"now": None})
    [second] = ingest_area(area, home, KEY)
    assert first.landed > 0 and second.landed > 0 and second.rows_in < first.rows_in + second.landed
    assert Landing(home, "tower_hamlets").state()["cursor"] > cursor
    clean_home = home.parent / "clean"
    ingest_area(area, clean_home, KEY)
    latest = lambda h: snapshot(h, "tower_hamlets").drop_duplicates("id", keep="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(latest(home), latest(clean_home))


@pytest.mark.parametrize("fault", [{"error_every": 3}, {"rate_limit": 3}, {"repeat_record": 1}, {"slow_ms": 150}])
def test_api_faults_end_with_the_same_landed_data(api, home, monkeypatch, fault):
    area = api_area(api, "swansea_npt", monkeypatch)
    ingest_area(area, home / "clean", KEY)
    api.admin("faults", fault)
    [report] = ingest_area(area, home / "faulty", KEY)
    assert report.reconciles
    pd.testing.assert_frame_equal(snapshot(home / "faulty", "swansea_npt"), snapshot(home / "clean", "swansea_npt"))


def test_a_truncated_page_commits_nothing_and_the_next_run_recovers(api, home, monkeypatch):
    area = api_area(api, "swansea_npt", monkeypatch)
    api.admin("faults", {"truncate_every": 2})
    with pytest.raises(BatchError, match="the sync failed and nothing was committed"):
        ingest_area(area, home, KEY)
    assert not list((home / "landing" / "swansea_npt" / "referrals").glob("*.parquet"))
    assert Landing(home, "swansea_npt").state()["cursor"] is None
    api.admin("faults", {})
    [report] = ingest_area(area, home, KEY)
    assert report.landed > 1000


def all_values(frame: pd.DataFrame, columns: list[str]) -> set[str]:
    values = set()
    for c in columns:
        values |= {str(v) for v in frame[c] if v not in (None, "") and len(str(v)) >= 5}
    return values


def test_no_personal_data_passes_the_boundary(tmp_path, home, world, api, monkeypatch):
    """Every file the pipeline wrote, scanned for every personal value the sources hold."""
    norfolk = AreaConfig("norfolk", drop_folder=drop_folder(tmp_path, world, "norfolk", ["2022-0"]))
    ingest_area(norfolk, home, KEY)
    ingest_area(api_area(api, "tower_hamlets", monkeypatch), home, KEY)
    exports = pd.concat([pd.read_csv(f, encoding="cp1252", dtype=str, keep_default_na=False)
                         for f in norfolk.drop_folder.iterdir()])
    personal = all_values(exports, ["Client Forename", "Client Surname", "Client DOB", "Client Phone", "Client Email",
                                    "Client Postcode", "Notes", "Client ID"])
    versions = pd.read_parquet(world / "tower_hamlets" / "system" / "referral_versions.parquet")
    personal |= all_values(versions, ["client.firstName", "client.lastName", "client.dateOfBirth", "client.phone",
                                      "client.email", "client.postcode", "notes", "client.clientId"])
    personal -= {"Other"}
    written = [p for p in home.rglob("*") if p.is_file() and p.name != "pseudonymisation.key"]
    assert len(written) > 10
    for path in written:
        values = set()
        if path.suffix == ".parquet":
            for column in pd.read_parquet(path).astype(object).itertuples(index=False):
                values |= {str(v) for v in column if v is not None}
        elif path.suffix == ".duckdb":  # the match keys kept for linkage
            with duckdb.connect(str(path), read_only=True) as con:
                for (table,) in con.execute("show tables").fetchall():
                    for row in con.execute(f'select * from "{table}"').fetchall():
                        values |= {str(v) for v in row if v is not None}
        else:
            values.add(path.read_text())
        values |= {leaf for v in list(values) for leaf in json_leaves(v)}  # quarantined records, batch records
        hits = personal & values
        assert not hits, f"{path} holds personal data: {sorted(hits)[:3]}"


def json_leaves(text: str) -> set[str]:
    try:
        document = json.loads(text)
    except (ValueError, TypeError):
        return set()
    leaves, stack = set(), [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif node is not None:
            leaves.add(str(node))
    return leaves


def test_linkage_finds_the_real_people(tmp_path, home, world):
    area = AreaConfig("norfolk", drop_folder=world / "norfolk" / "exports")
    ingest_area(area, home, KEY)
    people = pd.read_parquet(home / "landing" / "norfolk" / "people.parquet").set_index("referral_id")["person_key"]
    truth = pd.read_parquet(world / "ground_truth_people" / "norfolk.parquet").set_index("referral_id")["person_id"]
    quality = pair_quality(people, truth.reindex(people.index))
    assert quality["records"] == len(truth)
    assert quality["precision"] >= 0.98 and quality["recall"] >= 0.98, quality
    assert all(isinstance(p, uuid.UUID) for p in people)  # pseudonyms, 128 bits each
    # some people really were registered twice or mistyped, and linkage joined them
    clients = landed(home, "norfolk").groupby("Referral ID").size()
    assert quality["people_found"] < len(clients)


def test_linking_in_a_day_gives_the_people_linking_everything_gives(tmp_path, home, world):
    """The linkage links in only the batches landed since it last ran (the people they touch are linked
    again from all their records): the people must be those of linking everything at once. A people file
    from before the keys were UUIDs (text) is linked again whole."""
    from orchestration.ingest.run import link_people

    drop = tmp_path / "drop"
    drop.mkdir()
    files = sorted((world / "norfolk" / "exports").glob("*.csv"))
    for f in files[:-3]:
        (drop / f.name).symlink_to(f)
    area = AreaConfig("norfolk", drop_folder=drop)
    ingest_area(area, home, KEY)
    people_file = home / "landing" / "norfolk" / "people.parquet"
    before = pd.read_parquet(people_file).set_index("referral_id")["person_key"]
    for f in files[-3:]:
        (drop / f.name).symlink_to(f)
    ingest_area(area, home, KEY)
    day = pd.read_parquet(people_file).set_index("referral_id").sort_index()
    linked_in = day["person_key"]
    assert len(linked_in) > len(before)
    # each referral says which linkage run gave it its person: the day's (2) for the new referrals and
    # those the day gave another person, the first for the others
    given = day.index.difference(before.index).union(before.index[before != linked_in.reindex(before.index)])
    assert set(day.index[day["linked_in"] == 2]) == set(given) and set(day["linked_in"]) == {1, 2}
    # the day's numbers, kept from the numbers before it and the people it touched, are the file's
    assert link_people("norfolk", home) == {"referrals": len(day), "people": day["person_key"].nunique()}
    assert link_people("norfolk", home, full=True)["referrals"] == len(linked_in)
    relinked = pd.read_parquet(people_file).set_index("referral_id").sort_index()
    whole = relinked["person_key"]
    pd.testing.assert_series_equal(linked_in, whole)
    pd.testing.assert_series_equal(relinked["linked_in"], day["linked_in"])  # nobody was given another person
    # later records were linked to earlier people (else the test shows nothing)
    assert whole[~whole.index.isin(before.index)].isin(set(before)).sum() > 100

    with duckdb.connect() as con:  # as written before: keys as text
        con.execute(f"copy (select referral_id, 'p_' || replace(cast(person_key as varchar), '-', '') as person_key "
                    f"from read_parquet('{people_file}')) to '{tmp_path / 'text.parquet'}'")
    shutil.move(tmp_path / "text.parquet", people_file)
    counts = link_people("norfolk", home)
    assert counts == {"referrals": len(whole), "people": whole.nunique()}
    pd.testing.assert_series_equal(pd.read_parquet(people_file).set_index("referral_id")["person_key"].sort_index(), whole)


def test_directories_land_from_both_feed_envelopes_and_from_files(api, home, world, monkeypatch):
    from orchestration.ingest.directory import ingest_directory

    for area in ("tower_hamlets", "swansea_npt"):
        counts = ingest_directory(api_area(api, area, monkeypatch), home)
        total = api.get(area, "services", params={"per_page": 1}).json()
        assert counts["services"] == total.get("total_items", total.get("totalElements"))
        services = pd.read_parquet(home / "landing" / area / "directory" / "services.parquet")
        assert services["service_name"].notna().all()  # empty names in the feed fall back to the organisation's
        assert services["issue_labels"].map(len).min() >= 1 and services["coverage"].map(len).min() >= 1
        assert not any("<" in n for n in services["service_name"])
    counts = ingest_directory(AreaConfig("norfolk", drop_folder=world / "norfolk" / "exports"), home)
    assert counts["services"] > 70 and counts["organisations"] > 130 and counts["intake_pauses"] > 0
    labels = set(contract_for("norfolk").by_canonical("issues").valid_values)
    services = pd.read_parquet(home / "landing" / "norfolk" / "directory" / "services.parquet")
    assert set(services["issue_labels"].explode()) <= labels  # the directory speaks the contract's labels


@pytest.mark.parametrize("key", [KEY, b"k" * 64, b"a-key-longer-than-a-sha256-block-" * 3])
def test_match_key_hashes_are_hmac_sha256_exactly(key):
    """The pseudonyms must not change with the way they are computed: landed batches stay linkable."""
    import hmac

    from orchestration.ingest.privacy import keyed_hash

    values = pa.array(["JOHN|SMITH|1980-01-02", None, "Siân", "", "JOHN|SMITH|1980-01-02", "x" * 200])
    expected = [None if v is None else uuid.UUID(bytes=hmac.digest(key, b"norfolk:name_dob\x1f" + v.encode(), "sha256")[:16])
                for v in values.to_pylist()]
    assert keyed_hash(key, "norfolk:name_dob", values).to_pylist() == expected


def test_content_hashes_are_the_hashes_of_each_rows_public_json():
    """Content hashes are compared with what was landed before: computing them column-wise must give
    the very hash of the row's JSON."""
    from orchestration.ingest.landing import content_hash, content_hashes

    contract = contract_for("tower_hamlets")
    names = [f.name for f in contract.fields if not f.personal_role]
    odd = ["Siân \"quoted\" \\ back", None, float("nan"), ["Debt", "Food"], 7, True, "line\r\nbreak\x1f", "", "€"]
    frame = pd.DataFrame({n: [odd[(k + i) % len(odd)] for i in range(3 * len(odd))] for k, n in enumerate(names)},
                         dtype=object)
    frame[names[0]] = [f"id-{i % 4}" for i in range(len(frame))]  # a plain text column, with repeats
    expected = [content_hash(row, contract) for _, row in frame.iterrows()]
    assert content_hashes(frame, contract).tolist() == expected


def components_by_label_propagation(groups, n, start=None):
    """The linkage algorithm before scipy (label propagation), kept as the reference."""
    label = (np.arange(n) if start is None else np.asarray(start)).astype(np.int64)
    position_of = np.empty(n, np.int64)
    position_of[label] = np.arange(n)
    present = [(np.flatnonzero(g >= 0), g[g >= 0]) for g in map(np.asarray, groups) if (np.asarray(g) >= 0).any()]
    while True:
        before = label.copy()
        for rows, group in present:
            smallest = np.full(group.max() + 1, np.iinfo(np.int64).max)
            np.minimum.at(smallest, group, label[rows])
            label[rows] = smallest[group]
        while not np.array_equal(followed := label[position_of[label]], label):
            label = followed
        if np.array_equal(before, label):
            return label


@pytest.mark.parametrize("seed", range(8))
def test_linkage_components_match_label_propagation(seed):
    from orchestration.ingest.linkage import components

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    groups = [np.where(rng.random(n) < rng.random(), rng.integers(0, max(1, n // int(rng.integers(1, 20))), n), -1)
              for _ in range(int(rng.integers(1, 9)))]
    start = rng.permutation(n) if seed % 2 else None
    found = components(groups, n, start)
    assert np.array_equal(found, components_by_label_propagation(groups, n, start))
    assert len(np.unique(found)) < n or n < 50  # the random graphs do join records
