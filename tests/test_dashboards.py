"""The dashboards, driven with Streamlit's AppTest against a real serving snapshot (the seed-7 test world
built by the `warehouse_home` fixture): every page and filter, the figures shown compared with
independent queries of the snapshot, disclosure control on everything shown and exported, the
steering-group pack (python-pptx and LibreOffice).

`CCS_DASHBOARD_TEST_SNAPSHOT=FILE` runs the same tests against another snapshot without building one.
"""

import csv
import io
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboards" / "app.py"
PAGES = ["views/overview.py", "views/grant_priorities.py", "views/provision_gaps.py", "views/network.py",
         "views/data_quality.py"]

# Tables of whole-area figures (shown as they are); every other table is below area level.
WHOLE_AREA_TABLES = {"kpis", "network_history", "repeat_crisis", "reconciliation", "snapshot_info", "checks_not_passed",
                     "funding_areas", "grants_quarantine"}
COUNT_COLUMNS = {"referrals", "accepted", "responded", "unmet", "declined_no_capacity", "declined_not_eligible",
                 "declined_out_of_area", "expired", "bounce_referrals", "sent_during_paused_intake",
                 "referrals_received", "referrals_sent", "sla_due", "sla_met", "sla_breaches", "episodes",
                 "repeated_within_365_days", "rows", "baseline", "referrals_year_earlier", "unmet_referrals",
                 "referrals_last_year"}


# -- the snapshot and independent expectations ------------------------------------------------------

@pytest.fixture(scope="session")
def snapshot(request) -> Path:
    override = os.environ.get("CCS_DASHBOARD_TEST_SNAPSHOT")
    if override:
        return Path(override)
    home = request.getfixturevalue("warehouse_home")
    current = home / "serving" / "current.duckdb"
    return current if current.exists() else home / "serving" / "snapshot.duckdb"


@pytest.fixture(scope="session")
def db(snapshot):
    connection = duckdb.connect(str(snapshot), read_only=True)
    yield connection
    connection.close()


def sql(db, query: str, *params) -> pd.DataFrame:
    return db.execute(query, list(params)).df()


@pytest.fixture(scope="session")
def names(db) -> dict[str, str]:
    """Area key -> name; the area filter shows names, and so they are what the URL carries."""
    return dict(sql(db, "select area, area_name from snapshot_info").values)


def shown(n) -> str:
    """The disclosure rule written out again, independently of dashboards/disclosure.py."""
    n = int(n)
    if n == 0:
        return "0"
    if n < 8:
        return "<8"
    return str(int(math.floor(n / 5 + 0.5)) * 5)


def is_disclosed(value) -> bool:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value in ("", "<8"):
        return True
    n = int(value)
    return n == 0 or (n >= 8 and n % 5 == 0)


@pytest.fixture(scope="session")
def latest_year(db) -> int:
    return int(sql(db, "select max(period_label) as y from mart_area_kpis where period_type = 'year' and is_complete")["y"][0])


# -- driving the app ----------------------------------------------------------------------------------

def open_page(snapshot: Path, page: str, **query) -> AppTest:
    """The app as a visitor with this URL query sees it (AppTest runs the script in this process)."""
    os.environ["CCS_SNAPSHOT"] = str(snapshot)
    at = AppTest.from_file(str(APP), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tables(at: AppTest) -> dict[str, pd.DataFrame]:
    """Every table on the page by its export name (each table is followed by its CSV button)."""
    found, last = {}, None
    for element in at.main:
        if element.type == "arrow_data_frame" or type(element).__name__ == "Dataframe":
            last = element.value
        elif type(element).__name__ == "DownloadButton" and element.key and element.key.startswith("csv_"):
            found[element.key[4:]] = last
    return found


def chart_specs(at: AppTest) -> list[dict]:
    import json
    return [json.loads(e.proto.spec) for e in at.main if getattr(e, "type", None) == "vega_lite_chart"]


@pytest.fixture(autouse=True)
def _restore_environment():
    saved = {k: os.environ.get(k) for k in ("CCS_SNAPSHOT", "CCS_DISCLOSURE", "CCS_DISCLOSURE_THRESHOLD", "CCS_HOME")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# -- disclosure rule ----------------------------------------------------------------------------------

def test_disclosure_rule_for_one_count(monkeypatch):
    from dashboards.disclosure import disclose_count, disclose_rate
    monkeypatch.delenv("CCS_DISCLOSURE", raising=False)
    monkeypatch.delenv("CCS_DISCLOSURE_THRESHOLD", raising=False)
    assert [disclose_count(n) for n in (0, 1, 7, 8, 12, 13, 17, 18, 1234, None)] == \
        [0, "<8", "<8", 10, 10, 15, 15, 20, 1235, None]
    assert disclose_rate(3, 40) is None  # the numerator is hidden: a percentage would give it away
    assert disclose_rate(9, 7) is None  # the denominator is under 8
    assert disclose_rate(13, 42) == pytest.approx(15 / 40)  # from the rounded figures
    assert disclose_rate(0, 9) == 0


def test_disclosure_threshold_is_configuration_and_on_by_default(monkeypatch):
    from dashboards.disclosure import current_rule, disclose_count
    monkeypatch.delenv("CCS_DISCLOSURE", raising=False)
    monkeypatch.delenv("CCS_DISCLOSURE_THRESHOLD", raising=False)
    assert current_rule().enabled and current_rule().threshold == 8
    monkeypatch.setenv("CCS_DISCLOSURE_THRESHOLD", "10")
    assert disclose_count(9) == "<10" and disclose_count(11) == 10
    monkeypatch.setenv("CCS_DISCLOSURE", "off")
    assert disclose_count(3) == 3


# -- every page, every filter ---------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("areas", [["norfolk"], ["oldham", "swansea_npt"], []], ids=["one", "several", "all"])
def test_every_page_renders_for_one_several_and_all_areas(snapshot, db, names, page, areas):
    query = {"area": [names[a] for a in areas]} if areas else {}
    at = open_page(snapshot, page, **query)
    expected = areas or sorted(names)
    caption = " ".join(c.value for c in at.caption)
    for area in expected:
        assert names[area] in caption  # "data as of" for every selected area
    for area in set(names) - set(expected):
        assert f"**{names[area]}**" not in caption
    assert tables(at), "every page shows at least one table"


@pytest.mark.parametrize("areas", [["norfolk"], ["oldham", "tower_hamlets"], []], ids=["one", "several", "all"])
def test_overview_kpis_are_the_snapshots(snapshot, db, names, latest_year, areas):
    query = {"area": [names[a] for a in areas]} if areas else {}
    at = open_page(snapshot, PAGES[0], **query)
    expected = sql(db, "select * from mart_area_kpis where period_label = ? order by area", str(latest_year))
    if areas:
        expected = expected[expected["area"].isin(areas)]
    referrals = [m.value for m in at.metric if m.label == "Referrals"]
    assert referrals == [f"{n:,}" for n in expected["referrals"]]
    people = [m.value for m in at.metric if m.label == "People referred"]
    assert people == [f"{n:,}" for n in expected["people"]]
    kpis = tables(at)["kpis"]
    assert list(kpis["referrals"]) == list(expected["referrals"])  # whole-area figures are shown as they are
    assert list(kpis["organisations_active"]) == list(expected["organisations_active"])


def period_choices(db) -> list[str]:
    year = sql(db, "select max(period_label) p from mart_area_kpis where period_type = 'year' and is_complete")["p"][0]
    quarter = sql(db, "select max(period_label) p from mart_area_kpis where period_type = 'quarter' and period_label like ?",
                  f"{year}%")["p"][0]
    month = sql(db, "select min(period_label) p from mart_area_kpis where period_type = 'month' and period_label like ?",
                f"{year}%")["p"][0]
    return [year, quarter, month]


def months_of(period: str) -> tuple[str, str]:
    from dashboards.filters import Period
    p = Period(period)
    return str(p.start), str(p.end)


@pytest.mark.parametrize("period_index", [0, 1, 2], ids=["year", "quarter", "month"])
@pytest.mark.parametrize("groups,types", [([], []), (["money"], []), ([], ["vcs"]), (["crisis", "housing"], ["local_authority"])],
                         ids=["unfiltered", "issue-group", "org-type", "both"])
def test_overview_issue_group_table_follows_every_filter(snapshot, db, names, period_index, groups, types):
    period = period_choices(db)[period_index]
    labels = {"money": "Money", "crisis": "Crisis", "housing": "Housing", "vcs": "VCS", "local_authority": "Local authority"}
    query = {"area": [names["norfolk"], names["tower_hamlets"]], "period": period}
    if groups:
        query["issue_group"] = [labels[g] for g in groups]
    if types:
        query["org_type"] = [labels[t] for t in types]
    at = open_page(snapshot, PAGES[0], **query)
    start, end = months_of(period)
    group_filter = f"and issue_group in ({', '.join(repr(g) for g in groups)})" if groups else ""
    type_filter = (f"and (referring_organisation_type in ({', '.join(repr(t) for t in types)}) "
                   f"or receiving_organisation_type in ({', '.join(repr(t) for t in types)}))") if types else ""
    expected = sql(db, f"""
        select area, issue_group, sum(referrals) as referrals, sum(accepted) as accepted
        from mart_referrals_monthly
        where area in ('norfolk', 'tower_hamlets') and month >= ?::date and month < ?::date {group_filter} {type_filter}
        group by all order by area, referrals desc, issue_group""", start, end)
    table = tables(at)["issue_groups"]
    got = sorted(zip(table["area"], table["issue_group"], table["referrals"], table["accepted"]))
    want = sorted((names[a], g, shown(r), shown(c)) for a, g, r, c in expected.itertuples(index=False))
    assert got == want
    if groups:
        assert set(table["issue_group"]) <= set(groups)


def test_grant_priorities_figures_are_the_snapshots(snapshot, db, names, latest_year):
    at = open_page(snapshot, PAGES[1], area=[names["norfolk"]])
    found = tables(at)
    unmet = found["unmet_demand"]
    expected = sql(db, """
        select primary_issue, place_name, referrals, declined_no_capacity, expired, bounce_referrals,
               sent_during_paused_intake,
               declined_no_capacity + expired + bounce_referrals + sent_during_paused_intake as unmet
        from mart_unmet_demand_by_issue_place where area = 'norfolk' and year = ?
        order by unmet desc, referrals desc""", latest_year)
    assert len(unmet) == min(30, len(expected))
    top = expected.iloc[0]
    assert unmet.iloc[0]["place_name"] == top["place_name"]
    assert unmet.iloc[0]["unmet"] == shown(top["unmet"])
    assert list(unmet["unmet"]) == [shown(v) for v in expected["unmet"].head(30)]

    orgs = found["organisations"]
    expected = sql(db, """select organisation_name, referrals_received, declined_no_capacity from mart_organisations_by_year
                          where area = 'norfolk' and year = ? order by referrals_received desc, referrals_sent desc, organisation_name""",
                   latest_year).head(25)
    assert list(orgs["organisation_name"]) == list(expected["organisation_name"])
    assert list(orgs["referrals_received"]) == [shown(v) for v in expected["referrals_received"]]
    assert list(orgs["declined_no_capacity"]) == [shown(v) for v in expected["declined_no_capacity"]]

    growing = found["growing_needs"]
    expected = sql(db, """
        with now as (select primary_issue, sum(referrals) n from mart_referrals_monthly
                     where area = 'norfolk' and year(month) = ? group by all),
             before as (select primary_issue, sum(referrals) n from mart_referrals_monthly
                        where area = 'norfolk' and year(month) = ? group by all)
        select i.issue_name, coalesce(now.n, 0) as now, coalesce(before.n, 0) as before
        from now full join before using (primary_issue) join dim_issues i on i.issue = primary_issue""",
                   latest_year, latest_year - 1)
    by_issue = {r.issue_name: (shown(r.now), shown(r.before)) for r in expected.itertuples()}
    assert len(growing) == min(25, len(expected))
    for row in growing.itertuples():
        assert (row.referrals, row.referrals_year_earlier) == by_issue[row.issue_name]

    evidence = " ".join(c.value for c in at.code)
    kpi = sql(db, "select referrals from mart_area_kpis where area = 'norfolk' and period_label = ?", str(latest_year))
    assert f"recorded {kpi['referrals'][0]:,} referrals" in evidence
    assert "Source: CCS Insights" in evidence


def test_issue_group_and_organisation_type_narrow_the_tables(snapshot, db, names, latest_year):
    at = open_page(snapshot, PAGES[1], area=[names["norfolk"]], issue_group=["Housing"], org_type=["VCS"])
    found = tables(at)
    assert set(found["unmet_demand"]["issue_group"]) == {"housing"}
    expected = sql(db, """select count(*) n from mart_unmet_demand_by_issue_place
                          where area = 'norfolk' and year = ? and issue_group = 'housing'""", latest_year)["n"][0]
    assert len(found["unmet_demand"]) == min(30, expected)
    assert set(found["organisations"]["organisation_type"]) == {"VCS"}
    expected = sql(db, """select organisation_name from mart_organisations_by_year where area = 'norfolk' and year = ?
                          and organisation_type = 'vcs' order by referrals_received desc, referrals_sent desc, organisation_name""",
                   latest_year).head(25)
    assert list(found["organisations"]["organisation_name"]) == list(expected["organisation_name"])
    assert set(found["growing_needs"]["issue_group"]) <= {"housing"}

    at = open_page(snapshot, PAGES[2], area=[names["norfolk"]], issue_group=["Crisis"], org_type=["Local authority"])
    found = tables(at)
    assert set(found["provision_gaps"]["issue_group"]) <= {"crisis"}
    assert set(found["sla_organisations"]["organisation_type"]) == {"Local authority"}


def test_provision_gaps_figures_are_the_snapshots(snapshot, db, names, latest_year):
    at = open_page(snapshot, PAGES[2], area=[names["norfolk"], names["oldham"]])
    found = tables(at)
    gaps = found["provision_gaps"]
    expected = sql(db, """select area, primary_issue, place_code, referrals from mart_provision_gaps
                          where area in ('norfolk', 'oldham') and year = ?""", latest_year)
    assert len(gaps) == len(expected)
    assert sorted(gaps["referrals"]) == sorted(shown(v) for v in expected["referrals"])

    under = found["under_reached"]
    expected = sql(db, """select lsoa11_code, referrals, residents from mart_neighbourhood_reach
                          where area in ('norfolk', 'oldham') and year = ? and is_under_reached""", latest_year)
    assert sorted(under["lsoa11_code"]) == sorted(expected["lsoa11_code"])
    by_code = {r.lsoa11_code: r for r in expected.itertuples()}
    for row in under.itertuples():
        assert row.referrals == shown(by_code[row.lsoa11_code].referrals)

    cohorts = found["repeat_cohorts"]
    expected = sql(db, """select cohort_year, advice, episodes, repeated_within_365_days from mart_repeat_crisis_cohorts
                          where area = 'oldham' and cohort_year <= ?""", latest_year)
    oldham = cohorts[cohorts["area"] == names["oldham"]]
    assert sorted(zip(oldham["cohort_year"], oldham["advice"], oldham["episodes"])) == \
        sorted((y, a, shown(e)) for y, a, e, _ in expected.itertuples(index=False))
    for row in oldham.itertuples():
        e = expected[(expected["cohort_year"] == row.cohort_year) & (expected["advice"] == row.advice)].iloc[0]
        if e["episodes"] >= 8 and shown(e["repeated_within_365_days"]) != "<8":
            assert row.repeat_rate == f"{int(shown(e['repeated_within_365_days'])) / int(shown(e['episodes'])) * 100:.1f}%"
        else:
            assert row.repeat_rate in ("", None)

    sla = found["sla_organisations"]
    expected = sql(db, """select organisation_name, sla_due, sla_met from mart_organisations_by_year
                          where area in ('norfolk', 'oldham') and year = ? and sla_due > 0""", latest_year)
    assert sorted(sla["organisation_name"]) == sorted(expected["organisation_name"])

    maps = [s for s in chart_specs(at) if "geoshape" in str(s.get("mark"))]
    assert len(maps) == 2  # rate and deprivation, for the first area (a radio button picks another)
    features = maps[0]["data"]["values"] if "values" in maps[0].get("data", {}) else next(iter(maps[0]["datasets"].values()))
    lsoas = sql(db, "select count(*) n from neighbourhood_boundaries where area = 'norfolk'")["n"][0]
    assert len(features) == lsoas
    at.radio(key="map_area").set_value("oldham").run()
    maps = [s for s in chart_specs(at) if "geoshape" in str(s.get("mark"))]
    lsoas = sql(db, "select count(*) n from neighbourhood_boundaries where area = 'oldham'")["n"][0]
    assert len(maps) == 2 and len(maps[0]["data"]["values"]) == lsoas
    rates = {f["properties"]["name"]: f["properties"]["rate"] for f in maps[0]["data"]["values"]}
    reach = sql(db, """select lsoa11_name, referrals, residents from mart_neighbourhood_reach
                       where area = 'oldham' and year = ?""", latest_year)
    for row in reach.itertuples():  # the map's rate comes from the rounded count, and is hidden with it
        expected = None if shown(row.referrals) == "<8" else int(shown(row.referrals)) / row.residents * 1000
        assert rates[row.lsoa11_name] == (None if expected is None else pytest.approx(expected))


def test_network_figures_are_the_snapshots(snapshot, db, names, latest_year):
    at = open_page(snapshot, PAGES[3], area=[names["norfolk"]])
    found = tables(at)
    comparison = found["network_norfolk"]
    expected = sql(db, "select * from mart_network_by_area_year where area = 'norfolk' order by year")
    now = expected[expected["year"] == latest_year].iloc[0]
    before = expected[expected["year"] == latest_year - 1].iloc[0]
    rows = comparison.set_index("measure")
    assert rows.loc["Referrals", str(latest_year)] == now["referrals"]
    assert rows.loc["Referrals", str(latest_year - 1)] == before["referrals"]
    assert rows.loc["Connections between organisations", str(latest_year)] == now["distinct_connections"]
    assert rows.loc["Average connections per organisation", str(latest_year)] == pytest.approx(
        now["average_connections_per_organisation"], abs=0.005)
    assert rows.loc["LA share of referrals (to or from), %", str(latest_year)] == pytest.approx(now["la_share"] * 100, abs=0.05)
    assert rows.loc["Referrals", "change"] == pytest.approx(now["referrals"] / before["referrals"] - 1)

    flows = found["top_flows"]
    expected = sql(db, """select referrals from mart_network_edges where area = 'norfolk' and year = ?
                          order by referrals desc limit 20""", latest_year)
    assert list(flows["referrals"]) == [shown(v) for v in expected["referrals"]]

    network = [s for s in chart_specs(at) if "layer" in s]
    assert len(network) == 1
    organisations = sql(db, "select count(*) n from mart_organisations_by_year where area = 'norfolk' and year = ?",
                        latest_year)["n"][0]
    assert f"{organisations} organisations" in str(network[0].get("title"))


def test_network_compare_year_comes_from_the_url(snapshot, db, names, latest_year):
    years = sql(db, "select year from mart_network_by_area_year where area = 'norfolk' order by year")["year"]
    first = int(years.iloc[0])
    at = open_page(snapshot, PAGES[3], area=[names["norfolk"]], compare=str(first))
    comparison = tables(at)["network_norfolk"]
    assert str(first) in comparison.columns


def test_data_quality_figures_are_the_snapshots(snapshot, db):
    at = open_page(snapshot, PAGES[4])
    found = tables(at)
    expected = sql(db, "select * from mart_reconciliation order by area")
    assert list(found["reconciliation"]["rows_in"]) == list(expected["rows_in"])
    assert list(found["reconciliation"]["quarantined"]) == list(expected["quarantined"])
    metrics = {m.label: m.value for m in at.metric}
    checks = sql(db, "select status, count(*) n from snapshot_checks group by status")
    for status, n in checks.itertuples(index=False):
        assert metrics[f"Checks: {status}"] == str(n)


# -- funding against demand (360Giving) ----------------------------------------------------------------------

def pounds(value) -> str:
    return f"£{float(value):,.0f}"


def per_shown(amount, count):
    """Pounds per referral from the rounded count (written out again): none under 8 referrals."""
    if count is None or pd.isna(count) or count < 8:
        return None
    return float(amount) / int(shown(count))


def same_money(got, want) -> bool:
    if want is None or (not isinstance(want, str) and pd.isna(want)):
        return got is None or pd.isna(got)
    return got is not None and not pd.isna(got) and abs(float(got) - float(want)) < 0.006


def test_funding_figures_are_the_snapshots(snapshot, db, names, latest_year):
    at = open_page(snapshot, PAGES[1], area=[names["norfolk"], names["oldham"]])
    found = tables(at)
    areas = ("norfolk", "oldham")

    # area totals (every funder, individuals included, as area totals only)
    totals = sql(db, """select area, sum(grants) grants, sum(amount_awarded) amount, sum(grants_to_individuals) gi,
                               sum(amount_to_individuals) ai, sum(amount_to_network_organisations) an
                        from mart_grants_by_funder_year where area in ('norfolk', 'oldham') and year = ?
                        group by area order by area""", latest_year)
    assert len(totals) == 2 and (totals["grants"] > 0).all()
    table = found["funding_areas"]
    assert list(table["area"]) == [names[a] for a in areas]
    assert list(table["grants"]) == [int(v) for v in totals["grants"]]
    assert list(table["grants_to_individuals"]) == [int(v) for v in totals["gi"]]
    assert all(same_money(g, w) for g, w in zip(table["amount_awarded"], totals["amount"]))
    awarded = [m.value for m in at.metric if m.label == "Grants awarded"]
    assert awarded == [pounds(v) for v in totals["amount"]]
    individuals = [m.value for m in at.metric if m.label == "To individuals (area total)"]
    assert individuals == [pounds(v) for v in totals["ai"]]

    # by funder, with nothing about individuals below area level
    funders = found["funding_funders"]
    expected = sql(db, """select area, funding_org_name, grants, amount_awarded, amount_to_network_organisations
                          from mart_grants_by_funder_year where area in ('norfolk', 'oldham') and year = ?""", latest_year)
    assert sorted(zip(funders["area"], funders["funding_org_name"], funders["grants"])) == \
        sorted((names[a], n, g) for a, n, g, _, _ in expected.itertuples(index=False))
    assert sum(funders["amount_awarded"]) == pytest.approx(float(expected["amount_awarded"].sum()))
    for name, frame in found.items():
        if name != "funding_areas":
            assert not any("individual" in c for c in frame.columns), name

    # by issue: demand and unmet demand disclosed, funding as attributed, per referral from the rounded count
    issues = found["funding_issues"]
    expected = sql(db, """select f.area, i.issue_name, f.referrals, f.referrals_last_year, f.unmet_referrals,
                                 f.funding_attributed
                          from mart_funding_by_issue_area_year f join dim_issues i on i.issue = f.primary_issue
                          where f.area in ('norfolk', 'oldham') and f.year = ?""", latest_year)
    assert len(issues) == len(expected) > 0
    by_issue = {(names[r.area], r.issue_name): r for r in expected.itertuples()}
    for row in issues.itertuples():
        want = by_issue[(row.area, row.issue_name)]
        assert (row.referrals, row.unmet_referrals) == (shown(want.referrals), shown(want.unmet_referrals))
        assert same_money(row.funding_attributed, want.funding_attributed)
        assert same_money(row.funding_per_referral, per_shown(want.funding_attributed, want.referrals))
        last = want.referrals_last_year
        if pd.notna(last) and last >= 8 and shown(want.referrals) != "<8":
            assert row.growth == pytest.approx(int(shown(want.referrals)) / int(shown(last)) - 1, abs=1e-4)
        else:
            assert row.growth is None or pd.isna(row.growth)
    top = sql(db, """select area, unmet_referrals from mart_funding_by_issue_area_year where area in ('norfolk', 'oldham')
                     and year = ? order by unmet_referrals desc, referrals desc limit 1""", latest_year).iloc[0]
    assert issues.iloc[0]["unmet_referrals"] == shown(top["unmet_referrals"])

    # per receiving organisation
    received = found["funding_per_referral"]
    expected = sql(db, """select area, recipient_key, organisation_names, referrals_received, unmet_referrals, grants,
                                 amount_awarded
                          from mart_funding_per_referral where area in ('norfolk', 'oldham') and year = ?""", latest_year)
    assert len(received) == len(expected) > 0
    assert list(received["referrals_received"]) == [shown(v) for v in expected.sort_values(
        ["referrals_received", "amount_awarded", "organisation_names"], ascending=[False, False, True])["referrals_received"]]
    by_name = {(names[r.area], r.organisation_names): r for r in expected.itertuples()}
    for row in received.itertuples():
        want = by_name[(row.area, row.organisation_names)]
        assert (row.referrals_received, row.unmet_referrals, row.grants) == \
            (shown(want.referrals_received), shown(want.unmet_referrals), want.grants)
        assert same_money(row.amount_awarded, want.amount_awarded)
        assert same_money(row.funding_per_referral_received, per_shown(want.amount_awarded, want.referrals_received))
    assert (received["amount_awarded"] > 0).sum() == (expected["amount_awarded"] > 0).sum() > 0

    # high demand with little or no funding
    neglected = found["high_demand_low_funding"]
    expected = sql(db, """select area, organisation_names, referrals_received, funding_level
                          from mart_high_demand_low_funding where area in ('norfolk', 'oldham') and year = ?
                          order by area, demand_rank, organisation_names""", latest_year)
    assert len(expected) > 0
    assert list(zip(neglected["area"], neglected["organisation_names"], neglected["referrals_received"])) == \
        [(names[a], n, shown(r)) for a, n, r, _ in expected.itertuples(index=False)]
    assert list(neglected["funding_level"] == "No grant") == list(expected["funding_level"] == "no_funding")

    # grants by recipient organisation (every funder together) and the unmatched recipients
    recipients = found["funding_recipients"]
    expected = sql(db, """select area, org_identifier, sum(grants) grants, sum(amount_awarded) amount
                          from mart_grants_by_organisation_year where area in ('norfolk', 'oldham') and year = ?
                          group by all""", latest_year)
    assert sorted(zip(recipients["org_identifier"], recipients["grants"])) == sorted(zip(expected["org_identifier"], expected["grants"]))
    assert list(recipients["amount_awarded"]) == sorted(recipients["amount_awarded"], reverse=True)
    assert sum(recipients["amount_awarded"]) == pytest.approx(float(expected["amount"].sum()))
    unmatched = found["funding_unmatched"]
    expected = sql(db, """select recipient_org_identifier, funding_org_name, grants, amount_awarded
                          from mart_grants_unmatched_recipients where area in ('norfolk', 'oldham')""")
    assert len(unmatched) == len(expected) > 0
    assert sorted(zip(unmatched["recipient_org_identifier"], unmatched["funding_org_name"], unmatched["grants"])) == \
        sorted(zip(expected["recipient_org_identifier"], expected["funding_org_name"], expected["grants"]))

    # the committee paper mentions the money
    evidence = [c.value for c in at.code]
    assert f"awarded {pounds(totals['amount'][0])} in {latest_year} in {int(totals['grants'][0]):,} grants" in evidence[0]
    assert f"individuals {pounds(totals['ai'][0])} (area totals)" in evidence[0]
    unfunded = sql(db, """select count(*) n from mart_high_demand_low_funding where area = 'norfolk' and year = ?
                          and funding_level = 'no_funding'""", latest_year)["n"][0]
    if unfunded:
        assert f"referrals, {unfunded} had no matched grant in {latest_year}" in evidence[0]
    worst = sql(db, """select i.issue_name, f.unmet_referrals from mart_funding_by_issue_area_year f
                       join dim_issues i on i.issue = f.primary_issue where f.area = 'norfolk' and f.year = ?
                       order by f.unmet_referrals desc, f.referrals desc limit 1""", latest_year).iloc[0]
    assert f"{worst['issue_name'].lower()} ({shown(worst['unmet_referrals'])} referrals unmet" in evidence[0]


def test_funding_tables_follow_the_filters(snapshot, db, names, latest_year):
    quarter = period_choices(db)[1]
    at = open_page(snapshot, PAGES[1], area=[names["norfolk"]], issue_group=["Money"], org_type=["VCS"], period=quarter)
    found = tables(at)  # kept by year in the snapshot: a quarter shows its year
    issues = found["funding_issues"]
    expected = sql(db, """select count(*) n from mart_funding_by_issue_area_year where area = 'norfolk' and year = ?
                          and issue_group = 'money'""", latest_year)["n"][0]
    assert len(issues) == expected > 0 and set(issues["issue_group"]) == {"money"}
    received = found["funding_per_referral"]
    expected = sql(db, """select organisation_names from mart_funding_per_referral where area = 'norfolk' and year = ?
                          and organisation_type = 'vcs'""", latest_year)
    assert sorted(received["organisation_names"]) == sorted(expected["organisation_names"])
    assert set(received["organisation_type"]) == {"VCS"}
    assert set(found["high_demand_low_funding"]["organisation_type"]) <= {"VCS"}
    recipients = found["funding_recipients"]
    expected = sql(db, """select distinct org_identifier from mart_grants_by_organisation_year where area = 'norfolk'
                          and year = ? and organisation_type = 'vcs' and list_contains(string_split(issue_groups_accepted, ', '), 'money')""",
                   latest_year)
    assert sorted(recipients["org_identifier"]) == sorted(expected["org_identifier"])
    assert all("money" in groups.split(", ") for groups in recipients["issue_groups_accepted"])
    everything = sql(db, "select count(distinct org_identifier) n from mart_grants_by_organisation_year where area = 'norfolk' and year = ?",
                     latest_year)["n"][0]
    assert len(recipients) < everything  # the filters did narrow it
    assert set(found["funding_areas"]["area"]) == {names["norfolk"]}


def test_funding_tables_suppress_small_counts_and_cannot_be_divided_back(snapshot, db, names):
    """Pounds per referral are worked out from the rounded count: dividing a published grant amount by the
    rate shown gives the rounded count, never the exact one; small counts show as <8 with no rate."""
    at = open_page(snapshot, PAGES[1])
    found = tables(at)
    small = 0
    for name, count, rate, amount in [("funding_per_referral", "referrals_received", "funding_per_referral_received", "amount_awarded"),
                                      ("high_demand_low_funding", "referrals_received", "funding_per_referral_received", "amount_awarded"),
                                      ("funding_issues", "referrals", "funding_per_referral", "funding_attributed")]:
        frame = found[name]
        assert len(frame) > 0
        for row in frame.to_dict("records"):
            assert is_disclosed(row[count]), (name, row)
            if row[count] in ("<8", "0"):
                small += row[count] == "<8"
                assert row[rate] is None or pd.isna(row[rate]), (name, row)
            elif row[amount] > 0:
                # the rate (in pence) is the amount over the rounded count shown beside it
                assert row[rate] == pytest.approx(float(row[amount]) / int(row[count]), abs=0.006), (name, row)
    assert small > 0, "the test world has organisations or issues with 1-7 referrals: they must show as <8"
    exact = sql(db, """select count(*) n from mart_funding_per_referral
                       where referrals_received >= 8 and referrals_received % 5 != 0 and amount_awarded > 0""")["n"][0]
    assert exact > 0  # so the check above would catch rates from the exact counts
    for spec in chart_specs(at):
        for value in chart_counts(spec):
            assert value is None or value == 0 or (value >= 8 and value % 5 == 0)


def test_data_quality_shows_the_grants_quarantine(snapshot, db, names, tmp_path):
    at = open_page(snapshot, PAGES[4])
    table = tables(at)["grants_quarantine"]
    expected = sql(db, "select * from mart_grants_quarantine_by_reason")
    assert len(table) == len(expected)
    changed = copy_with(snapshot, tmp_path / "quarantine.duckdb",
                        "delete from mart_grants_quarantine_by_reason",
                        """insert into mart_grants_quarantine_by_reason values
                           ('norfolk/grants/ncf.csv', 'Amount Awarded', 'not_a_number', 3),
                           ('oldham/grants/ocf.json', 'Currency', 'not_gbp', 12)""")
    at = open_page(changed, PAGES[4], area=[names["norfolk"]])  # every file, whatever the area
    table = tables(at)["grants_quarantine"]
    assert list(zip(table["source"], table["rule"], table["failures"])) == \
        [("oldham/grants/ocf.json", "not_gbp", 12), ("norfolk/grants/ncf.csv", "not_a_number", 3)]


# -- nothing small escapes --------------------------------------------------------------------------------

NARROW_VIEWS = [  # area keys are replaced by their names
    {"area": ["oldham"], "org_type": ["Statutory"]},
    {"area": ["swansea_npt"], "issue_group": ["Legal"]},
    {"area": ["tower_hamlets", "oldham"], "issue_group": ["Crisis"], "org_type": ["Local authority"]},
    {},
]


@pytest.mark.parametrize("query", NARROW_VIEWS, ids=["org-type", "issue-group", "both", "all"])
def test_no_small_count_escapes_a_page_or_an_export(snapshot, db, names, query):
    from dashboards import exports
    from dashboards.filters import Filters, Period
    query = {**query, **({"area": [names[a] for a in query["area"]]} if "area" in query else {})}
    months = period_choices(db)
    checked = 0
    for period in (months[0], months[2]):
        for page in PAGES:
            at = open_page(snapshot, page, period=period, **query)
            for name, frame in tables(at).items():
                if name in WHOLE_AREA_TABLES or name.startswith("network_") and name != "network_history":
                    continue
                for column in COUNT_COLUMNS & set(frame.columns):
                    escaped = [v for v in frame[column] if not is_disclosed(v)]
                    assert not escaped, f"{page} {name}.{column} shows {escaped[:5]}"
                    checked += len(frame)
                # the exports are made from the frame shown: check what they hold
                header = exports.header_rows(open_snapshot(snapshot), Filters(("norfolk",), Period(period)), name)
                rows = list(csv.reader(io.StringIO(exports.to_csv(frame, header).decode())))
                table = pd.DataFrame(rows[len(header) + 2:], columns=rows[len(header) + 1])
                for column in COUNT_COLUMNS & set(table.columns):
                    assert all(is_disclosed(v) for v in table[column]), f"CSV of {name}.{column}"
            for spec in chart_specs(at):
                for value in chart_counts(spec):
                    assert value is None or value == 0 or (value >= 8 and value % 5 == 0), f"{page} chart shows {value}"
            for text in (c.value for c in at.code):
                # every figure in the evidence text is either whole-area or disclosed
                whole = sql(db, "select referrals, people from mart_area_kpis where period_label = ?", period)
                allowed = {f"{n:,}" for n in whole["referrals"]} | {f"{n:,}" for n in whole["people"]}
                for number in re.findall(r"(?<![<\w.-])(\d[\d,]*)(?= referrals| received| declined| to )", text):
                    assert number in allowed or is_disclosed(number.replace(",", "")), f"evidence text shows {number}"
    assert checked > 0


def chart_counts(spec: dict) -> list:
    """Counts drawn by a chart: trend lines (`referrals`), network widths and sizes, map properties."""
    values = []
    datasets = list(spec.get("datasets", {}).values())
    inline = spec.get("data", {}).get("values") if isinstance(spec.get("data"), dict) else None
    for rows in datasets + ([inline] if inline else []):
        for row in rows:
            if "properties" in row:  # a map feature: its referrals are text, its rate derived from them
                value = row["properties"].get("referrals")
                values.append(None if value in ("", "<8", None) else int(value))
            for key in ("referrals", "volume"):
                if key in row and not isinstance(row[key], str):
                    values.append(row[key])
    return values


def open_snapshot(path: Path):
    from dashboards.snapshot import Snapshot
    return Snapshot(path)


# -- exports ------------------------------------------------------------------------------------------------

def test_exports_have_header_rows_the_filters_in_the_name_and_the_figures_shown(snapshot, db, names, latest_year):
    from dashboards import exports
    from dashboards.filters import Filters, Period
    at = open_page(snapshot, PAGES[0], area=[names["norfolk"]], issue_group=["Money"])
    frame = tables(at)["issue_groups"]
    filters = Filters(("norfolk",), Period(str(latest_year)), ("money",))
    snap = open_snapshot(snapshot)
    header = exports.header_rows(snap, filters, "Referrals by issue group")
    assert exports.file_name("issue_groups", filters, "csv") == f"ccs_issue_groups_norfolk_{latest_year}_money.csv"
    assert any(b.key == "csv_issue_groups" for b in at.download_button)
    assert any(b.key == "xlsx_issue_groups" for b in at.download_button)

    rows = list(csv.reader(io.StringIO(exports.to_csv(frame, header).decode())))
    assert rows[0] == ["CCS Insights: Referrals by issue group"]
    assert rows[1][0].startswith(f"Source: CCS Insights serving snapshot {snap.version}; data as of norfolk ")
    assert "issue groups: money" in rows[2][0] and f"period: {latest_year}" in rows[2][0]
    assert rows[3][0].startswith("Disclosure control: ") and "<8" in rows[3][0]
    assert rows[len(header) + 1] == list(frame.columns)
    assert rows[len(header) + 2:] == [[str(v) for v in r] for r in frame.itertuples(index=False)]

    from openpyxl import load_workbook
    book = load_workbook(io.BytesIO(exports.to_xlsx(frame, header, "issue_groups")))
    sheet = book.active
    assert [sheet.cell(row=i + 1, column=1).value for i in range(len(header))] == header
    top = len(header) + 2
    assert [c.value for c in sheet[top]] == list(frame.columns)
    referrals = [sheet.cell(row=top + 1 + i, column=list(frame.columns).index("referrals") + 1).value
                 for i in range(len(frame))]
    assert [str(v) for v in referrals] == list(frame["referrals"])


# -- the snapshot: versions, freshness, absence ------------------------------------------------------------

def copy_with(snapshot: Path, target: Path, *statements: str) -> Path:
    shutil.copy(snapshot, target)
    with duckdb.connect(str(target)) as connection:
        for statement in statements:
            connection.execute(statement)
    return target


def test_a_new_publish_shows_without_a_restart(snapshot, tmp_path):
    versions = tmp_path / "serving" / "snapshots"
    versions.mkdir(parents=True)
    first = copy_with(snapshot, versions / "20250101T000000.duckdb")
    second = copy_with(snapshot, versions / "20250102T000000.duckdb",
                       "update snapshot_info set data_as_of = timestamp '2031-05-04 10:00'")
    current = tmp_path / "serving" / "current.duckdb"
    current.symlink_to(first)
    os.environ.pop("CCS_SNAPSHOT", None)
    os.environ["CCS_HOME"] = str(tmp_path)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception
    assert "20250101T000000" in " ".join(c.value for c in at.caption)
    switch = tmp_path / "serving" / "next.duckdb"
    switch.symlink_to(second)
    os.replace(switch, current)  # how the pipeline publishes: one rename
    at.run()
    captions = " ".join(c.value for c in at.caption)
    assert "20250102T000000" in captions and "04 May 2031" in captions


def test_stale_data_and_failed_checks_warn_on_every_page(snapshot, names, tmp_path):
    changed = copy_with(snapshot, tmp_path / "stale.duckdb",
                        "update snapshot_info set freshness = 'stale' where area = 'oldham'",
                        "update snapshot_info set checks_failed = 3 where area = 'norfolk'")
    for page in PAGES:
        at = open_page(changed, page)
        warnings = " ".join(w.value for w in at.warning)
        assert f"{names['oldham']}: data is stale" in warnings
        assert f"{names['norfolk']}: 3 data check(s) failed" in warnings
        assert names["tower_hamlets"] not in warnings


def test_missing_snapshot_says_how_to_make_one(tmp_path):
    os.environ["CCS_SNAPSHOT"] = str(tmp_path / "nothing.duckdb")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception
    assert "No serving snapshot" in at.error[0].value and "ccs build" in at.error[0].value


# -- the steering-group pack ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pack(snapshot, latest_year, tmp_path_factory) -> Path:
    from dashboards.pack import build_pack
    out = tmp_path_factory.mktemp("pack") / "norfolk.pptx"
    assert build_pack(snapshot, "norfolk", str(latest_year), out) == out
    return out


def slide_texts(slide) -> list[str]:
    texts = []
    for shape in slide.shapes:
        if shape.has_text_frame:
            texts.append(shape.text_frame.text)
        if shape.has_table:
            texts.extend(cell.text for row in shape.table.rows for cell in row.cells)
    return texts


def test_pack_opens_with_python_pptx_and_holds_the_figures(pack, db, latest_year):
    from pptx import Presentation
    deck = Presentation(str(pack))
    titles = [slide_texts(s)[0] for s in deck.slides]
    assert len(titles) == 10
    for expected in ("Key figures", "Monthly referrals", "The network in", "Gaps and unmet demand", "Repeat crisis",
                     "Emerging issues", "Funding against demand", "About these figures"):
        assert any(t.startswith(expected) for t in titles), (expected, titles)
    kpi = sql(db, "select referrals, people from mart_area_kpis where area = 'norfolk' and period_label = ?",
              str(latest_year))
    key_figures = slide_texts(deck.slides[1])
    assert f"{kpi['referrals'][0]:,}" in key_figures and f"{kpi['people'][0]:,}" in key_figures
    everything = "\n".join(t for s in deck.slides for t in slide_texts(s))
    assert "Open Government Licence v3.0" in everything and "data as of" in everything.lower()
    # the network picture: one circle per organisation active that year
    organisations = sql(db, "select count(*) n from mart_organisations_by_year where area = 'norfolk' and year = ?",
                        latest_year)["n"][0]
    network = next(s for s in deck.slides if slide_texts(s)[0].startswith("The network in"))
    ovals = [sh for sh in network.shapes if sh.shape_type == 1 and sh.auto_shape_type == 9]  # autoshape, oval
    assert len(ovals) == organisations


def test_pack_shows_no_small_count(pack):
    from pptx import Presentation
    deck = Presentation(str(pack))
    for slide in deck.slides:
        title = slide_texts(slide)[0]
        for shape in slide.shapes:
            if not shape.has_table or title.startswith(("Key figures", "The network,")):
                continue  # whole-area tables
            table = shape.table
            headers = [c.text for c in table.rows[0].cells]
            for column, header in enumerate(headers):
                if header in ("referrals", "unmet", "no capacity", "expired", "bounced", "episodes",
                              "repeated within 365 days", "expected"):
                    values = [table.cell(r, column).text for r in range(1, len(table.rows))]
                    assert all(is_disclosed(v) for v in values), (title, header, values)
        for text in slide_texts(slide):
            for number in re.findall(r"(?<![<\w.-])(?<!than )(\d+) referrals", text):
                if not title.startswith(("Key figures", "Repeat crisis")):
                    assert is_disclosed(number), (title, text)
            for number in re.findall(r"(?<![<\w.£,-])(\d[\d,]*) received", text):
                assert is_disclosed(number.replace(",", "")), (title, text)


def test_pack_has_the_funding_slide(pack, db, latest_year):
    from pptx import Presentation
    deck = Presentation(str(pack))
    slide = next(s for s in deck.slides if slide_texts(s)[0].startswith("Funding against demand"))
    texts = slide_texts(slide)
    assert texts[0] == f"Funding against demand, {latest_year}"
    totals = sql(db, """select sum(grants) grants, sum(amount_awarded) amount, sum(amount_to_individuals) ai
                        from mart_grants_by_funder_year where area = 'norfolk' and year = ?""", latest_year).iloc[0]
    everything = "\n".join(texts)
    assert f"{pounds(totals['amount'])} in {int(totals['grants']):,} grants (whole area)" in everything
    assert f"individuals {pounds(totals['ai'])}." in everything
    table = next(sh.table for sh in slide.shapes if sh.has_table)
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0] == ["issue", "referrals", "unmet", "growth", "funding", "per referral"]
    expected = sql(db, """select i.issue_name, f.referrals, f.unmet_referrals, f.funding_attributed
                          from mart_funding_by_issue_area_year f join dim_issues i on i.issue = f.primary_issue
                          where f.area = 'norfolk' and f.year = ? order by f.unmet_referrals desc, f.referrals desc, f.primary_issue
                          limit 8""", latest_year)
    assert [r[:3] + [r[4]] for r in rows[1:]] == [[n, shown(r), shown(u), pounds(a)] for n, r, u, a in expected.itertuples(index=False)]
    for row, want in zip(rows[1:], expected.itertuples(index=False)):
        per = per_shown(want.funding_attributed, want.referrals)
        assert row[5] == ("" if per is None else pounds(per))
    neglected = sql(db, """select referrals_received from mart_high_demand_low_funding where area = 'norfolk' and year = ?
                           order by demand_rank, organisation_names limit 8""", latest_year)
    listed = re.findall(r": (\S+) received, £", everything)
    assert listed == [shown(v) for v in neglected["referrals_received"]]


def test_pack_converts_to_pdf_with_libreoffice(pack, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice is needed: .ci/run installs libreoffice-impress"
    result = subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
                             "--convert-to", "pdf", "--outdir", str(tmp_path), str(pack)],
                            capture_output=True, text=True, timeout=180)
    pdf = tmp_path / "norfolk.pdf"
    assert pdf.exists(), result.stdout + result.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) == 10


def test_pack_is_one_click_in_the_app(snapshot, names, latest_year):
    at = open_page(snapshot, PAGES[1], area=[names["oldham"]])
    button = next(b for b in at.sidebar.download_button if b.key == "pack")
    assert button.label == f"Steering-group pack: {names['oldham']}, {latest_year}"
    from dashboards.pack import pack_bytes
    from pptx import Presentation
    deck = Presentation(io.BytesIO(pack_bytes(snapshot, "oldham", str(latest_year))))
    assert names["oldham"] in slide_texts(deck.slides[0])[0]


def test_pack_from_the_command_line(snapshot, latest_year, tmp_path):
    out = tmp_path / "cli.pptx"
    result = subprocess.run([sys.executable, "-m", "dashboards.pack", "--snapshot", str(snapshot), "--area", "oldham",
                             "--period", str(latest_year), "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.exists() and out.stat().st_size > 20_000
    bad = subprocess.run([sys.executable, "-m", "dashboards.pack", "--snapshot", str(snapshot), "--area", "atlantis",
                          "--period", str(latest_year), "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "atlantis" in bad.stderr
