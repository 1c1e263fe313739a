"""360Giving grants: importing the layouts real publishers use (CSV with a BOM and money as text, XLSX,
canonical JSON), quarantine with reasons, no person past ingestion, and the funding marts against the
world's grants ground truth (grants_truth.json, written from what the generator granted)."""

import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import jsonschema
import pandas as pd
import pytest
from openpyxl import Workbook

from orchestration.ingest.grants import GrantSources, ingest_grants
from orchestration.ingest.sources import BatchError

ROOT = Path(__file__).resolve().parent.parent
AREAS = ("norfolk", "tower_hamlets", "oldham", "swansea_npt")


def landed(home: Path) -> pd.DataFrame:
    return pd.read_parquet(home / "landing" / "grants" / "grants.parquet").set_index("grant_id")


def quarantined(home: Path) -> pd.DataFrame:
    return pd.read_parquet(home / "landing" / "grants" / "quarantine.parquet")


CSV_TEXT = (
    "Identifier,Title,Description,Currency,Amount Awarded,Award Date,Recipient Org:Identifier,Recipient Org:Name,"
    "Recipient Org:Charity Number,Recipient Ind:Identifier,Recipient Ind:Name,Funding Org:Identifier,Funding Org:Name,"
    "Beneficiary Location:Geographic Code,Panel Notes\r\n"
    '360G-T-1,Core costs,Towards core costs,GBP,"£12,500.00",26/03/2021 00:00,gb-chc-1092948 ,Acle Foodbank,,,,GB-CHC-1,Test Fund,E07000143,approved\r\n'
    '360G-T-2,Hardship,Grant to Zebedee Quinctilian for rent,GBP,£350,02/04/2021,,,,360G-T-IND-77,Zebedee Quinctilian,GB-CHC-1,Test Fund,E07000148,\r\n'
    '360G-T-3,Bad money,x,GBP,twelve pounds,2021-04-03,GB-COH-01234567,Some Ltd,,,,GB-CHC-1,Test Fund,,\r\n'
    '360G-T-4,No recipient,x,GBP,"1,000",2021-04-04,,,,,,GB-CHC-1,Test Fund,,\r\n'
    '360G-T-5,Bad date,x,GBP,100,31/02/2021,GB-CHC-1,Someone,,,,GB-CHC-1,Test Fund,,\r\n'
    '360G-T-1,Published twice,x,GBP,10,2021-04-05,GB-CHC-2,Other,,,,GB-CHC-1,Test Fund,,\r\n'
    '360G-T-6,Euros,x,EUR,"2,000.50",2021-04-06,GB-CHC-3,Euro Org,,,,GB-CHC-1,Test Fund,,\r\n'
)


def test_csv_with_bom_money_as_text_uk_dates_an_individual_and_bad_rows(tmp_path):
    folder = tmp_path / "grants"
    folder.mkdir()
    (folder / "test_fund.csv").write_bytes(b"\xef\xbb\xbf" + CSV_TEXT.encode("utf-8"))
    home = tmp_path / "home"
    report = ingest_grants(GrantSources((folder,)), home)

    grants = landed(home)
    assert list(grants.index) == ["360G-T-1", "360G-T-2"]
    first = grants.loc["360G-T-1"]
    assert first["amount_awarded"] == Decimal("12500.00") and first["award_date"] == date(2021, 3, 26)
    assert first["recipient_org_identifier"] == "GB-CHC-1092948"  # one way of writing org-ids
    assert first["recipient_type"] == "organisation" and first["award_year"] == 2021
    person = grants.loc["360G-T-2"]
    assert person["recipient_type"] == "individual" and person["amount_awarded"] == Decimal("350.00")
    assert pd.isna(person["recipient_org_identifier"]) and pd.isna(person["description"])

    bad = quarantined(home).set_index("source_row")
    assert set(bad["source"]) == {str(folder / "test_fund.csv")}
    # the row numbers a person sees in the spreadsheet (the header is row 1)
    assert bad.loc[4, "field"] == "amount_awarded" and bad.loc[4, "rule"] == "invalidValues"
    assert bad.loc[4, "value"] == "twelve pounds"
    assert (bad.loc[5, "field"], bad.loc[5, "rule"]) == ("recipient_org_identifier", "recipientOrIndividual")
    assert (bad.loc[6, "field"], bad.loc[6, "rule"]) == ("award_date", "format")
    assert (bad.loc[7, "field"], bad.loc[7, "rule"]) == ("grant_id", "uniqueIdentifier")
    assert (bad.loc[8, "field"], bad.loc[8, "rule"]) == ("currency", "invalidValues")
    assert (report.rows_in, report.landed, report.quarantined, report.to_individuals) == (7, 2, 5, 1)
    assert report.reconciles and report.files[0]["extra_columns"] == ["Panel Notes"]

    # the individual's name and id never land, not even in the quarantine or the run report
    for path in (home / "landing" / "grants").rglob("*"):
        if path.suffix == ".parquet":
            text = pd.read_parquet(path).to_json()
        elif path.is_file():
            text = path.read_text()
        else:
            continue
        assert "Zebedee" not in text and "360G-T-IND-77" not in text, path


def test_xlsx_with_date_and_number_cells_and_titles_in_another_case(tmp_path):
    book = Workbook()
    book.active.title = "Notes"
    book.active.append(["This workbook lists our grants"])
    sheet = book.create_sheet("Grants")
    sheet.append(["identifier", "Title", "Description", "currency", "Amount awarded", "Award date",
                  "Recipient Org : Identifier", "Recipient Org:Name", "Funding Org: Identifier", "Officer"])
    sheet.append(["360G-X-1", "Project", "A project", "GBP", 7500, datetime(2022, 1, 5), "GB-SC-SC012345",
                  "Glasgow Group", "GB-CHC-9", "Ann"])
    sheet.append(["360G-X-2", "Project", "A project", "GBP", 1234.56, date(2022, 2, 1), "GB-COH-00000001", "Ltd",
                  "GB-CHC-9", "Bob"])
    sheet.append([None] * 10)  # spreadsheets end with blank rows
    folder = tmp_path / "grants"
    folder.mkdir()
    book.save(folder / "grants.xlsx")
    home = tmp_path / "home"
    report = ingest_grants(GrantSources((folder,)), home)
    grants = landed(home)
    assert grants.loc["360G-X-1", "amount_awarded"] == Decimal("7500.00")
    assert grants.loc["360G-X-2", "amount_awarded"] == Decimal("1234.56")
    assert grants.loc["360G-X-1", "award_date"] == date(2022, 1, 5)
    assert grants.loc["360G-X-2", "recipient_org_identifier"] == "GB-COH-00000001"
    assert grants.loc["360G-X-2", "source_row"] == 3
    assert (report.rows_in, report.landed, report.quarantined) == (2, 2, 0)


def test_canonical_json_with_an_individual_and_iso_date_times(tmp_path):
    document = {"grants": [
        {"id": "360G-J-1", "title": "T", "description": "D", "currency": "GBP", "amountAwarded": 5000,
         "awardDate": "2020-11-30T23:30:00+00:00", "recipientOrganization": [{"id": "GB-CHC-1111111", "name": "Org"}],
         "fundingOrganization": [{"id": "GB-CHC-2", "name": "Fund"}],
         "beneficiaryLocation": [{"name": "Oldham", "geoCode": "E08000004", "geoCodeType": "LAD"}]},
        {"id": "360G-J-2", "title": "Hardship grant to Wilhelmina Oddbody", "description": "D", "currency": "GBP",
         "amountAwarded": 250.5, "awardDate": "2020-12-01",
         "recipientIndividual": {"id": "IND-1", "name": "Wilhelmina Oddbody"},
         "fundingOrganization": [{"id": "GB-CHC-2", "name": "Fund"}]},
        {"id": "360G-J-3", "title": "T", "description": "D", "currency": "GBP", "awardDate": "2020-12-02",
         "recipientOrganization": [{"id": "GB-CHC-3", "name": "Org 3"}], "fundingOrganization": [{"id": "GB-CHC-2"}]},
    ]}
    folder = tmp_path / "grants"
    folder.mkdir()
    (folder / "fund.json").write_text(json.dumps(document))
    home = tmp_path / "home"
    report = ingest_grants(GrantSources((folder,)), home)
    grants = landed(home)
    assert grants.loc["360G-J-1", "award_date"] == date(2020, 11, 30)
    assert grants.loc["360G-J-1", "beneficiary_location_geocode"] == "E08000004"
    assert grants.loc["360G-J-2", "recipient_type"] == "individual"
    assert grants.loc["360G-J-2", "amount_awarded"] == Decimal("250.50")
    assert pd.isna(grants.loc["360G-J-2", "title"])  # free text about a person's grant may name them
    bad = quarantined(home)
    assert bad[["source_row", "field", "rule"]].values.tolist() == [[3, "amount_awarded", "nullValues"]]
    assert report.reconciles and (report.landed, report.quarantined) == (2, 1)
    assert "Wilhelmina" not in pd.read_parquet(home / "landing" / "grants" / "grants.parquet").to_json()
    assert "Wilhelmina" not in bad.to_json()


def test_a_file_missing_a_required_column_stops_the_import_naming_file_and_column(tmp_path):
    folder = tmp_path / "grants"
    folder.mkdir()
    (folder / "renamed.csv").write_text("Identifier,Currency,Amount,Award Date,Funding Org:Identifier\nA,GBP,1,2021-01-01,F\n")
    home = tmp_path / "home"
    with pytest.raises(BatchError, match=r"renamed\.csv: column 'Amount Awarded' is missing"):
        ingest_grants(GrantSources((folder,)), home)
    assert not (home / "landing" / "grants" / "grants.parquet").exists()  # nothing replaced


def test_nothing_configured_still_lands_empty_tables_with_the_columns(tmp_path):
    report = ingest_grants(GrantSources(), tmp_path)
    assert report.rows_in == 0 and report.reconciles
    assert "amount_awarded" in landed(tmp_path).columns and len(landed(tmp_path)) == 0


def test_the_worlds_json_grants_follow_the_360giving_schema(world):
    schema = json.loads((ROOT / "data_contracts" / "threesixtygiving" / "360-giving-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0
    for path in world.glob("*/grants/*.json"):
        for grant in json.loads(path.read_text())["grants"]:
            errors = [e.message for e in validator.iter_errors(grant)]
            assert not errors, (path.name, grant["id"], errors[:3])
            checked += 1
    assert checked > 100


def test_dagster_asset_imports_the_configured_folders(world, manifest, tmp_path, monkeypatch):
    from orchestration.definitions import landed_grants

    folders = [str(world / info["grants"]) for info in manifest["areas"].values()]
    (tmp_path / "areas.yaml").write_text(json.dumps({"areas": [], "grants": {"folders": folders}}))
    monkeypatch.setenv("CCS_HOME", str(tmp_path))
    result = dg.materialize([landed_grants], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"contract": True, "reconciliation": True}
    truth = json.loads((world / "grants_truth.json").read_text())
    assert len(landed(tmp_path)) == sum(len(a["grants"]) for a in truth["areas"].values())


# ----- the warehouse against the world's grants ground truth -----

@pytest.fixture(scope="module")
def grants_truth(world) -> dict:
    return json.loads((world / "grants_truth.json").read_text())


@pytest.fixture
def warehouse(warehouse_home):
    with duckdb.connect(str(warehouse_home / "warehouse.duckdb"), read_only=True) as con:
        yield con


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def true_grants(grants_truth):
    for area, part in grants_truth["areas"].items():
        for g in part["grants"]:
            yield area, g


def test_grants_by_funder_match_the_truth(warehouse, grants_truth):
    expected = defaultdict(lambda: [0, Decimal(0), 0, Decimal(0), 0, Decimal(0), 0, Decimal(0)])
    for area, g in true_grants(grants_truth):
        row = expected[(area, g["year"], g["funder_identifier"])]
        row[0] += 1
        row[1] += money(g["amount"])
        kind = 2 if g["recipient"] == "network" and g["matchable"] else 6 if g["recipient"] == "individual" else 4
        row[kind] += 1
        row[kind + 1] += money(g["amount"])
    found = {(a, y, f): [n, amt, nn, na, on, oa, i_n, ia] for a, y, f, n, amt, nn, na, on, oa, i_n, ia in warehouse.sql(
        """select area, year, funding_org_identifier, grants, amount_awarded, grants_to_network_organisations,
                  amount_to_network_organisations, grants_to_other_organisations, amount_to_other_organisations,
                  grants_to_individuals, amount_to_individuals from mart_grants_by_funder_year""").fetchall()}
    assert found == {k: v for k, v in expected.items()}
    assert sum(v[6] for v in expected.values()) > 50  # grants to individuals are in the totals


def test_grants_by_organisation_match_the_truth(warehouse, grants_truth):
    expected = defaultdict(Decimal)
    for area, g in true_grants(grants_truth):
        if g["recipient"] == "network" and g["matchable"]:
            expected[(area, g["year"], g["funder_identifier"], g["org_identifier"])] += money(g["amount"])
    found = {tuple(r[:4]): r[4] for r in warehouse.sql(
        """select area, year, funding_org_identifier, org_identifier, amount_awarded
           from mart_grants_by_organisation_year""").fetchall()}
    assert found == dict(expected) and len(found) > 50
    # some of them are published under a company number with the charity number beside it
    assert warehouse.sql("select count(*) from int_grants_matched where matched_by = 'charity_number'").fetchall()[0][0] > 0
    issues = dict(warehouse.sql("select org_identifier, issues_accepted from mart_grants_by_organisation_year").fetchall())
    for area, part in grants_truth["areas"].items():
        for org in part["organisations"].values():
            if org["org_identifier"] in issues and org["issues"]:
                assert set(org["issues"]) <= set(issues[org["org_identifier"]].split(", "))


def test_unmatched_recipients_are_listed_not_dropped(warehouse, grants_truth):
    expected = defaultdict(Decimal)
    for area, g in true_grants(grants_truth):
        if g["recipient"] != "individual" and not g["matchable"]:
            expected[(area, g["recipient_org_identifier"], g["funder_identifier"])] += money(g["amount"])
    found = {tuple(r[:3]): r[3] for r in warehouse.sql(
        """select area, recipient_org_identifier, funding_org_identifier, amount_awarded
           from mart_grants_unmatched_recipients""").fetchall()}
    assert found == dict(expected)
    schemes = {r[0] for r in warehouse.sql("select distinct identifier_scheme from mart_grants_unmatched_recipients").fetchall()}
    assert {"GB-CHC", "360G"} <= schemes  # outside the network, and unregistered network groups


def test_funding_by_issue_matches_the_truth(warehouse, grants_truth, truth):
    expected = defaultdict(float)
    for area, g in true_grants(grants_truth):
        if g["recipient"] == "network" and g["matchable"]:
            orgs = grants_truth["areas"][area]["organisations"]
            issues = sorted({i for oid in g["organisation_ids"] for i in orgs[oid]["issues"]})
            for issue in issues:
                expected[(area, g["year"], issue)] += g["amount"] / len(issues)
    rows = warehouse.sql("select area, year, primary_issue, referrals, funding_attributed from mart_funding_by_issue_area_year").fetchall()
    found = {(a, y, i): f for a, y, i, _, f in rows if f}
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, abs=0.006), key
    # the demand side: referrals by primary issue, as the world made them
    demand = defaultdict(int)
    for area, part in truth["areas"].items():
        for month, counts in part["monthly_referrals_by_issue"].items():
            for issue, n in counts.items():
                demand[(area, int(month[:4]), issue)] += n
    assert {(a, y, i): n for a, y, i, n, _ in rows if n} == {k: v for k, v in demand.items() if v}


def test_funding_per_referral_covers_every_referral_and_matched_pound(warehouse, grants_truth, truth):
    rows = warehouse.sql("""select area, year, sum(referrals_received), sum(amount_awarded)
                            from mart_funding_per_referral group by all""").fetchall()
    referrals = {(a, int(y)): f["referrals"] for a, v in truth["areas"].items() for y, f in v["years"].items()}
    funded = defaultdict(Decimal)
    for area, g in true_grants(grants_truth):
        if g["recipient"] == "network" and g["matchable"]:
            funded[(area, g["year"])] += money(g["amount"])
    assert {(a, y): n for a, y, n, _ in rows if n} == referrals
    assert {(a, y): m for a, y, _, m in rows if m} == dict(funded)


def test_high_demand_low_funding_follows_its_definition(warehouse):
    flagged = warehouse.sql("select area, year, recipient_key, funding_level from mart_high_demand_low_funding").fetchall()
    assert flagged
    per = warehouse.sql("""select area, year, recipient_key, referrals_received, amount_awarded, funding_per_referral_received
                           from mart_funding_per_referral where referrals_received > 0""").df()
    for area, year, key, level in flagged:
        group = per[(per["area"] == area) & (per["year"] == year)]
        row = group[group["recipient_key"] == key].iloc[0]
        assert row["referrals_received"] >= group["referrals_received"].quantile(0.75)
        assert (level == "no_funding") == (row["amount_awarded"] == 0)
    # nobody with a generous grant is flagged
    top = per.loc[per["funding_per_referral_received"].idxmax()]
    assert (top["area"], top["year"], top["recipient_key"]) not in {(a, y, k) for a, y, k, _ in flagged}


def test_no_individual_recipient_reaches_the_warehouse(warehouse, world):
    names = pd.read_csv(world / "norfolk" / "grants" / "ncf_grants_360giving.csv", encoding="utf-8-sig", dtype=str)
    people = set(names["Recipient Ind:Name"].dropna()) | set(names["Recipient Ind:Identifier"].dropna())
    assert len(people) > 20
    for (table,) in warehouse.sql("select table_name from information_schema.tables where table_name like '%grant%' "
                                  "or table_name like '%funding%'").fetchall():
        text = warehouse.sql(f"select * from {table}").df().to_json()
        assert not any(p in text for p in people), table
