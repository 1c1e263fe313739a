"""The generated world: calibration to the seed documents, network growth, determinism, personal-data
noise, and agreement between the ground truth and what the exports show."""

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import SHARED_REFERENCE, ccs


def read_norfolk(world: Path) -> pd.DataFrame:
    """Every Norfolk export file, oldest first; the last row of a referral is its latest state."""
    files = sorted((world / "norfolk" / "exports").glob("NCAN_referrals_*.csv"))
    rows = pd.concat([pd.read_csv(f, encoding="cp1252", dtype=str, keep_default_na=False) for f in files])
    rows["sent"] = pd.to_datetime(rows["Date Referred"], format="%d/%m/%Y %H:%M")
    return rows


@pytest.fixture(scope="module")
def norfolk_rows(world) -> pd.DataFrame:
    return read_norfolk(world)


@pytest.fixture(scope="module")
def norfolk_latest(norfolk_rows) -> pd.DataFrame:
    return norfolk_rows.drop_duplicates("Referral ID", keep="last").set_index("Referral ID")


@pytest.fixture(scope="module")
def norfolk_orgs(world) -> dict[str, str]:
    orgs = pd.read_csv(world / "norfolk" / "directory" / "NCAN_organisations.csv", encoding="cp1252")
    return dict(zip(orgs["Organisation"], orgs["Organisation Type"]))


def test_norfolk_volumes_match_the_evaluation(norfolk_latest):
    per_year = norfolk_latest["sent"].dt.year.value_counts()
    assert abs(per_year[2019] / 3283 - 1) <= 0.03, per_year[2019]
    assert abs(per_year[2021] / 4549 - 1) <= 0.03, per_year[2021]


def network(latest: pd.DataFrame, org_type: dict[str, str], year: int) -> dict:
    """The evaluators' network figures, computed from the export alone."""
    rows = latest[latest["sent"].dt.year == year]
    referring = rows["Referring Organisation"].map(org_type)
    pairs = {tuple(sorted(p)) for p in zip(rows["Referring Organisation"], rows["Receiving Organisation"]) if p[0] != p[1]}
    orgs = {o for p in pairs for o in p}
    referrers = rows.drop_duplicates("Referring Organisation")["Referring Organisation"].map(org_type)
    return {
        "la_statutory_referring": int(referrers.isin(["Local Authority", "Statutory"]).sum()),
        "vcs_referring": int((referrers == "Voluntary & Community").sum()),
        "connections": len(pairs),
        "average_connections": 2 * len(pairs) / len(orgs),
        "to_vcs": int((rows["Receiving Organisation"].map(org_type) == "Voluntary & Community").sum()),
        "referrals": len(rows),
        "_referring": referring,
    }


def test_norfolk_network_grows_as_the_evaluators_measured(norfolk_latest, norfolk_orgs):
    before, after = network(norfolk_latest, norfolk_orgs, 2019), network(norfolk_latest, norfolk_orgs, 2021)
    change = lambda key: after[key] / before[key] - 1
    stated = {"la_statutory_referring": 0.48, "vcs_referring": 0.37, "connections": 0.80, "to_vcs": 0.20}
    for key, expected in stated.items():
        assert abs(change(key) / expected - 1) <= 0.15, (key, round(change(key), 3), expected)
    assert abs(before["average_connections"] / 5.7 - 1) <= 0.15, before["average_connections"]
    assert abs(after["average_connections"] / 7.2 - 1) <= 0.15, after["average_connections"]
    assert abs(change("average_connections") / (7.2 / 5.7 - 1) - 1) <= 0.15


def test_ground_truth_network_agrees_with_the_export(norfolk_latest, norfolk_orgs, truth):
    for year in (2019, 2021):
        mine = network(norfolk_latest, norfolk_orgs, year)
        theirs = truth["areas"]["norfolk"]["years"][str(year)]["network"]
        assert mine["connections"] == theirs["distinct_connections"]
        assert mine["la_statutory_referring"] == theirs["referring_la_or_statutory_organisations"]
        assert mine["vcs_referring"] == theirs["referring_vcs_organisations"]
        assert mine["to_vcs"] == theirs["referrals_to_vcs"]
        assert round(mine["average_connections"], 3) == theirs["average_connections_per_organisation"]


def test_ground_truth_counts_agree_with_the_export(norfolk_latest, truth):
    years = truth["areas"]["norfolk"]["years"]
    labels = {"No capacity": "no_capacity", "Does not meet criteria": "not_eligible", "Outside area": "out_of_area",
              "Client declined": "client_declined", "Duplicate referral": "duplicate", "Other": "other"}
    for year, figures in years.items():
        rows = norfolk_latest[norfolk_latest["sent"].dt.year == int(year)]
        assert len(rows) == figures["referrals"]
        declined = rows[rows["Status"] == "Declined"]["Decline Reason"].map(labels).value_counts()
        assert {k: int(declined.get(k, 0)) for k in labels.values()} == figures["declines_by_reason"]
        assert (rows["Status"] == "Expired").sum() == figures["responses"]["expired"]
        assert (rows["Status"] == "Awaiting Response").sum() == figures["awaiting_response"]


def working_days_after(start: date, end: date, holidays: set[date]) -> int:
    """Working days d with start < d <= end, counted one day at a time (independent of the generator)."""
    days, d = 0, start
    while d < end:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in holidays:
            days += 1
    return days


def test_sla_breaches_agree_with_the_export(norfolk_latest, truth, manifest):
    """Contact within 8 working days of sending, weekends and England & Wales bank holidays excluded,
    recomputed from the export with the published bank holidays."""
    holidays = {date.fromisoformat(d) for d in pd.read_csv(SHARED_REFERENCE / "uk_bank_holidays_england_and_wales.csv")["date"]}
    end = date.fromisoformat(f"{manifest['end']}-01") + timedelta(days=31)
    end = end.replace(day=1)
    rows = norfolk_latest[(norfolk_latest["sent"].dt.year == 2019) & (norfolk_latest["Date Accepted"] != "")]
    due = breaches = 0
    for sent, contact in zip(rows["sent"].dt.date, rows["Date First Contact"]):
        if working_days_after(sent, end - timedelta(days=1), holidays) <= 8:
            continue  # deadline not yet passed at the end of the data
        due += 1
        contacted = pd.to_datetime(contact, format="%d/%m/%Y %H:%M").date() if contact else None
        if contacted is None or working_days_after(sent, contacted, holidays) > 8:
            breaches += 1
    sla = truth["areas"]["norfolk"]["years"]["2019"]["sla"]
    assert (due, breaches) == (sla["due"], sla["breaches"])
    assert 0.05 < breaches / due < 0.35  # breaches happen, but most referrals are contacted in time


def test_ground_truth_people_agree_with_the_export(world, norfolk_latest, truth):
    people = pq.read_table(world / "ground_truth_people" / "norfolk.parquet").to_pandas().set_index("referral_id")
    assert set(people.index) == set(norfolk_latest.index)
    rows = norfolk_latest.join(people)
    for year, figures in truth["areas"]["norfolk"]["years"].items():
        assert rows[rows["sent"].dt.year == int(year)]["person_id"].nunique() == figures["people"]


def test_tower_hamlets_and_other_areas_start_when_the_seeds_say(truth):
    monthly = truth["areas"]["tower_hamlets"]["monthly_referrals_by_issue"]
    total = lambda first, last: sum(sum(v.values()) for m, v in monthly.items() if first <= m <= last)
    assert min(monthly) == "2021-03"
    assert abs(total("2021-03", "2022-02") / 800 - 1) <= 0.1
    assert abs(total("2022-04", "2022-09") / 800 - 1) <= 0.1
    assert min(truth["areas"]["oldham"]["monthly_referrals_by_issue"]) >= "2021-10"
    assert min(truth["areas"]["swansea_npt"]["monthly_referrals_by_issue"]) >= "2021-09"
    th = truth["areas"]["tower_hamlets"]["years"]["2022"]
    assert th["organisations_on_system"] == 40
    assert abs(th["registered_users"] / 295 - 1) <= 0.1
    assert abs(th["network"]["la_share"] - 0.20) <= 0.07  # "20% of referrals to or from the council"


def test_money_is_the_biggest_need_in_norfolk(truth):
    groups = truth["areas"]["norfolk"]["years"]["2021"]["referrals_by_issue_group"]
    assert abs(groups["money"] / sum(groups.values()) - 0.42) <= 0.05


def test_every_area_has_a_planted_rise_that_shows_in_the_data(truth):
    """Each planted rise lifts its issue's share of referrals well above the share in the 12 months
    before it (a share, so that an area's growth alone cannot pass)."""
    for area, figures in truth["areas"].items():
        assert figures["emerging_issues"], area
        monthly = figures["monthly_referrals_by_issue"]
        share = lambda months, issue: sum(monthly[m].get(issue, 0) for m in months) / sum(sum(monthly[m].values()) for m in months)
        for rise in figures["emerging_issues"]:
            during = [m for m in rise["extra_referrals_by_month"] if m in monthly]
            before = [m for m in sorted(monthly) if m < min(during)][-12:]
            assert share(during, rise["issue"]) > 1.5 * share(before, rise["issue"]), (area, rise["issue"])


def test_advice_after_a_crisis_means_fewer_returns(truth):
    for year, cohort in truth["areas"]["norfolk"]["repeat_crisis_cohorts"].items():
        if cohort["final"]:
            assert cohort["with_advice"]["rate"] < cohort["without_advice"]["rate"] - 0.05, year
    assert not truth["areas"]["norfolk"]["repeat_crisis_cohorts"]["2022"]["final"]


def test_capacity_declines_rise_when_services_are_stretched(norfolk_latest, truth):
    """The planted winter 2022 fuel-crisis rise in Norfolk stretches the services that take it."""
    fuel = norfolk_latest[norfolk_latest["Issues"].str.startswith("Fuel Crisis")]
    rate = lambda first, last: (fuel[(fuel["sent"] >= first) & (fuel["sent"] < last)]["Decline Reason"] == "No capacity").mean()
    assert rate("2022-10-01", "2023-01-01") > 1.5 * rate("2021-10-01", "2022-01-01")
    for figures in truth["areas"]["norfolk"]["years"].values():
        assert figures["bounce_referrals"] > 0 and figures["sent_during_paused_intake"] > 0
        assert figures["responses"]["expired"] > 0 and figures["responses"]["cancelled"] > 0


def test_personal_data_has_real_data_entry_noise(world, norfolk_rows):
    people = pq.read_table(world / "ground_truth_people" / "norfolk.parquet").to_pandas().set_index("referral_id")
    rows = norfolk_rows.drop_duplicates("Referral ID").set_index("Referral ID").join(people)
    by_person = rows.groupby("person_id")
    assert (by_person["Client ID"].nunique() > 1).sum() > 10, "nobody is registered twice"
    assert (by_person["Client Surname"].nunique() > 1).sum() > 10, "no surname typos"
    assert (rows["Client DOB"] == "").mean() > 0.02, "no missing dates of birth"
    dobs = by_person["Client DOB"].agg(lambda s: sorted({d for d in s if d}))
    swapped = [d for d in dobs if len(d) == 2 and d[0][:2] == d[1][3:5] and d[0][3:5] == d[1][:2]]
    assert len(swapped) > 3, "no day/month swaps"
    assert rows["Notes"].str.contains("£").any()


def test_swansea_has_welsh_names_and_diacritics(world):
    table = pq.read_table(world / "swansea_npt" / "system" / "referral_versions.parquet",
                          columns=["person.forename", "person.surname"]).to_pandas()
    names = " ".join(table["person.forename"]) + " " + " ".join(table["person.surname"])
    for letter in "ŵŷâ":
        assert letter in names


def test_every_dialect_differs(world):
    norfolk = (world / "norfolk" / "exports" / "NCAN_referrals_2022-03.csv").read_bytes()
    oldham = (world / "oldham" / "exports" / "ocan_export_202203.csv").read_bytes()
    th = pq.read_schema(world / "tower_hamlets" / "system" / "referral_versions.parquet").names
    snp = pq.read_schema(world / "swansea_npt" / "system" / "referral_versions.parquet").names
    headers = [set(norfolk.split(b"\r\n")[0].decode().replace('"', "").split(",")),
               set(oldham[3:].split(b"\n")[0].decode().replace('"', "").split(",")), set(th), set(snp)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert len(headers[i] & headers[j]) <= 3, (i, j, headers[i] & headers[j])
    assert b"\r\n" in norfolk and not oldham.startswith(b"\xef\xbb\xbf\xef") and oldham.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" not in oldham
    n_rows = pd.read_csv(world / "norfolk" / "exports" / "NCAN_referrals_2022-03.csv", encoding="cp1252", dtype=str)
    o_rows = pd.read_csv(world / "oldham" / "exports" / "ocan_export_202203.csv", encoding="utf-8-sig", dtype=str)
    assert n_rows["Date Referred"].str.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d").all()
    assert o_rows["created_at"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    lsoa11 = set(pd.read_csv(SHARED_REFERENCE / "lookup_lsoa11_lsoa21_lad22.csv")["lsoa11_code"])
    lsoa21_only = set(pd.read_csv(SHARED_REFERENCE / "lookup_lsoa11_lsoa21_lad22.csv")["lsoa21_code"]) - lsoa11
    assert set(n_rows["Client LSOA"]) <= lsoa11
    oldham_lsoas = set(pd.concat([pd.read_csv(f, encoding="utf-8-sig", dtype=str)["lsoa21"]
                                  for f in (world / "oldham" / "exports").glob("*.csv")]))
    assert oldham_lsoas & lsoa21_only, "Oldham records 2021 LSOA codes"
    issue_sets = [set(n_rows["Issues"].str.split("; ").explode()), set(o_rows["need_codes"].str.split("|").explode())]
    assert not issue_sets[0] & issue_sets[1]


def test_same_seed_gives_byte_identical_output(tmp_path):
    def fingerprint(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        result = ccs("generate", "--out", str(tmp_path / name), "--seed", str(seed), "--start", "2021-06", "--end", "2021-12")
        assert result.returncode == 0, result.stderr
        runs.append(fingerprint(tmp_path / name))
    assert len(runs[0]) > 10
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_bad_arguments_get_a_clear_error(tmp_path):
    result = ccs("generate", "--out", str(tmp_path), "--start", "2022-13")
    assert result.returncode != 0 and "is not a month like 2019-01" in result.stderr
    result = ccs("generate", "--out", str(tmp_path), "--start", "2022-06", "--end", "2022-01")
    assert result.returncode != 0 and "before --start" in result.stderr
    manifest = tmp_path / "manifest.json"
    assert not manifest.exists()


def test_need_rises_with_deprivation(norfolk_latest):
    """Referrals per 1,000 residents, by the real IMD 2019 decile of the client's neighbourhood."""
    imd = pd.read_csv(SHARED_REFERENCE / "imd2019_england_lsoa11_domains.csv").iloc[:, [0, 5]]
    imd.columns = ["lsoa", "decile"]
    population = pd.read_csv(SHARED_REFERENCE / "lsoa11_population_mid2019.csv")
    lsoas = imd.merge(population, on="lsoa")
    lsoas = lsoas[lsoas["lsoa"].isin(set(norfolk_latest["Client LSOA"]))]
    counts = norfolk_latest["Client LSOA"].value_counts().rename("referrals")
    lsoas = lsoas.join(counts, on="lsoa")
    by_decile = lsoas.groupby("decile")[["referrals", "pop"]].sum()
    rate = 1000 * by_decile["referrals"] / by_decile["pop"]
    assert rate.loc[[1, 2]].mean() > 1.5 * rate.loc[[9, 10]].mean()
    assert len(lsoas) > 500  # people come from nearly every neighbourhood in Norfolk
