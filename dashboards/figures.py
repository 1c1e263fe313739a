"""The figures behind each page and the pack, from the snapshot's tables, before disclosure control.

Every function takes the snapshot and the filters and returns a small DataFrame with raw counts; the
caller applies `disclosure.disclose_table` to anything below whole-area level before showing it.
Year-grain tables (network, unmet demand by place, reach, organisations) use the period's year.
"""

import functools
import weakref

import pandas as pd

from .filters import Filters
from .snapshot import Snapshot

_SHARED: "weakref.WeakKeyDictionary[Snapshot, dict]" = weakref.WeakKeyDictionary()


def shared(function):
    """Remember a figure per snapshot and filters (a few dozen at most): the page, its grant-evidence
    paragraphs (one per area, sliced from the page's figures) and reruns with the same filters share one
    computation. Like the snapshot's tables, the frames returned must not be changed by callers."""
    @functools.wraps(function)
    def wrapper(snap: Snapshot, f: Filters):
        memo = _SHARED.setdefault(snap, {})
        key = (function.__name__, f)
        found = memo.get(key)  # sessions run in threads: never look twice (another may clear in between)
        if found is None:
            found = function(snap, f)
            if len(memo) >= 64:
                memo.clear()
            memo[key] = found
        return found
    return wrapper

DECLINE_COLUMNS = ["declined_no_capacity", "declined_not_eligible", "declined_out_of_area", "declined_other"]
WELFARE_ASSISTANCE_ISSUE = "emergency_grant"  # local welfare assistance (England) / DAF (Wales)


def _in(frame: pd.DataFrame, column: str, values: tuple) -> pd.Series:
    return frame[column].isin(values) if values else pd.Series(True, index=frame.index)


def area_names(snap: Snapshot) -> dict[str, str]:
    info = snap.table("snapshot_info")
    return dict(zip(info["area"], info["area_name"]))


def period_labels(snap: Snapshot) -> list[str]:
    """Every period the KPIs cover, newest first, years before quarters before months."""
    kpis = snap.table("mart_area_kpis")
    order = {"year": 0, "quarter": 1, "month": 2}
    labels = kpis[["period_type", "period_label"]].drop_duplicates()
    labels = labels.assign(o=labels["period_type"].map(order)).sort_values(["o", "period_label"], ascending=[True, False])
    return list(labels["period_label"])


def default_period(snap: Snapshot) -> str:
    """The newest year that is complete for at least one area (else the newest year)."""
    kpis = snap.table("mart_area_kpis")
    years = kpis[kpis["period_type"] == "year"]
    complete = years[years["is_complete"]]
    chosen = complete if len(complete) else years
    return str(chosen["period_label"].max())


@shared
def kpis(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """The whole-area KPIs per area for the period (with the same period a year earlier)."""
    table = snap.table("mart_area_kpis")
    rows = table[(table["period_label"] == f.period.label) & _in(table, "area", f.areas)]
    return rows.sort_values("area").reset_index(drop=True)


def referrals_monthly(snap: Snapshot, f: Filters, months: list | None = None) -> pd.DataFrame:
    """The additive monthly table narrowed by the filters (organisation type matches either end)."""
    table = snap.table("mart_referrals_monthly")
    keep = _in(table, "area", f.areas) & _in(table, "issue_group", f.issue_groups)
    if f.organisation_types:
        keep &= (table["referring_organisation_type"].isin(f.organisation_types)
                 | table["receiving_organisation_type"].isin(f.organisation_types))
    if months is not None:
        keep &= pd.to_datetime(table["month"]).isin(pd.to_datetime(months))
    return table[keep]


def responded(frame: pd.DataFrame) -> pd.Series:
    return frame["accepted"] + frame[DECLINE_COLUMNS].sum(axis=1)


def selection_by_issue_group(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Referrals, accepted and responded per area and issue group in the period."""
    rows = referrals_monthly(snap, f, f.period.months)
    rows = rows.assign(responded=responded(rows))
    out = rows.groupby(["area", "issue_group"], as_index=False)[["referrals", "accepted", "responded"]].sum()
    return out.sort_values(["area", "referrals"], ascending=[True, False]).reset_index(drop=True)


def monthly_trend(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Referrals per area, month and issue group, from the start up to the end of the period."""
    rows = referrals_monthly(snap, f)
    rows = rows[pd.to_datetime(rows["month"]) < pd.Timestamp(f.period.end)]
    out = rows.groupby(["area", "month", "issue_group"], as_index=False)["referrals"].sum()
    out["month"] = pd.to_datetime(out["month"])
    return out.sort_values(["area", "month", "issue_group"]).reset_index(drop=True)


@shared
def growing_needs(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Referrals per area and issue in the period against the same period a year earlier, ranked by
    the rise."""
    now = referrals_monthly(snap, f, f.period.months).groupby(["area", "primary_issue", "issue_group"])["referrals"].sum()
    before = referrals_monthly(snap, f, f.period.year_earlier().months).groupby(
        ["area", "primary_issue", "issue_group"])["referrals"].sum()
    out = pd.DataFrame({"referrals": now, "referrals_year_earlier": before}).fillna(0).astype(int).reset_index()
    out["rise"] = out["referrals"] - out["referrals_year_earlier"]
    out = out.merge(issue_names(snap), how="left", left_on="primary_issue", right_on="issue").drop(columns="issue")
    return out.sort_values(["rise", "referrals", "area", "primary_issue"], ascending=[False, False, True, True]).reset_index(drop=True)


def issue_names(snap: Snapshot) -> pd.DataFrame:
    return snap.table("dim_issues")[["issue", "issue_name"]]


UNMET_COLUMNS = ["declined_no_capacity", "expired", "bounce_referrals", "sent_during_paused_intake"]


@shared
def unmet_by_issue_place(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Unmet demand per area, issue and place in the period's year, ranked by capacity declines,
    expiries, bounces and paused-intake referrals together."""
    table = snap.table("mart_unmet_demand_by_issue_place")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas) & _in(table, "issue_group", f.issue_groups)]
    rows = rows.assign(unmet=rows[UNMET_COLUMNS].sum(axis=1))
    rows = rows.merge(issue_names(snap), how="left", left_on="primary_issue", right_on="issue").drop(columns="issue")
    return rows.sort_values(["unmet", "referrals", "area", "primary_issue", "place_name"],
                            ascending=[False, False, True, True, True]).reset_index(drop=True)


def unmet_by_area(snap: Snapshot, f: Filters) -> pd.DataFrame:
    table = snap.table("mart_unmet_demand_by_area_year")
    return table[(table["year"] == f.period.year) & _in(table, "area", f.areas)].sort_values("area").reset_index(drop=True)


@shared
def organisations(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Organisations active in the period's year, by referrals received (the load they carry)."""
    table = snap.table("mart_organisations_by_year")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas)
                 & _in(table, "organisation_type", f.organisation_types)]
    return rows.sort_values(["referrals_received", "referrals_sent", "organisation_name"],
                            ascending=[False, False, True]).reset_index(drop=True)


@shared
def emerging_issues(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Flagged issue-months in the period, biggest rise first."""
    table = snap.table("mart_emerging_issues")
    months = pd.to_datetime(table["month"])
    rows = table[months.isin(pd.to_datetime(f.period.months)) & table["is_flagged"] & _in(table, "area", f.areas)
                 & _in(table, "issue_group", f.issue_groups)]
    rows = rows.merge(issue_names(snap), how="left", left_on="primary_issue", right_on="issue").drop(columns="issue")
    return rows.sort_values(["rise", "referrals"], ascending=False).reset_index(drop=True)


def neighbourhood_reach(snap: Snapshot, f: Filters) -> pd.DataFrame:
    table = snap.table("mart_neighbourhood_reach")
    return table[(table["year"] == f.period.year) & _in(table, "area", f.areas)].reset_index(drop=True)


def provision_gaps(snap: Snapshot, f: Filters) -> pd.DataFrame:
    table = snap.table("mart_provision_gaps")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas) & _in(table, "issue_group", f.issue_groups)]
    rows = rows.merge(issue_names(snap), how="left", left_on="primary_issue", right_on="issue").drop(columns="issue")
    return rows.sort_values("referrals", ascending=False).reset_index(drop=True)


def sla_by_receiving_organisation(snap: Snapshot, f: Filters) -> pd.DataFrame:
    rows = organisations(snap, f)
    rows = rows[rows["sla_due"] > 0]
    return rows.assign(sla_breaches=rows["sla_due"] - rows["sla_met"]).sort_values(
        ["sla_breaches", "sla_due"], ascending=False).reset_index(drop=True)


def sla_by_area(snap: Snapshot, f: Filters) -> pd.DataFrame:
    table = snap.table("mart_sla_by_area_year")
    return table[(table["year"] == f.period.year) & _in(table, "area", f.areas)].sort_values("area").reset_index(drop=True)


def repeat_crisis(snap: Snapshot, f: Filters) -> pd.DataFrame:
    table = snap.table("mart_repeat_crisis_by_area_year")
    return table[(table["year"] == f.period.year) & _in(table, "area", f.areas)].sort_values("area").reset_index(drop=True)


def repeat_crisis_cohorts(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Every cohort up to the period's year, with and without advice side by side per row."""
    table = snap.table("mart_repeat_crisis_cohorts")
    rows = table[(table["cohort_year"] <= f.period.year) & _in(table, "area", f.areas)]
    return rows.sort_values(["area", "cohort_year", "advice"]).reset_index(drop=True)


def welfare_assistance_links(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Emergency-grant (local welfare assistance / DAF) referrals in the period, by which kind of
    organisation referred and which received: how the network links with the council's scheme."""
    rows = referrals_monthly(snap, Filters(f.areas, f.period), f.period.months)
    rows = rows[rows["primary_issue"] == WELFARE_ASSISTANCE_ISSUE]
    rows = rows.assign(responded=responded(rows))
    out = rows.groupby(["area", "referring_organisation_type", "receiving_organisation_type"], as_index=False)[
        ["referrals", "accepted", "responded"]].sum()
    return out.sort_values(["area", "referrals"], ascending=[True, False]).reset_index(drop=True)


def network_by_year(snap: Snapshot, areas: tuple[str, ...]) -> pd.DataFrame:
    table = snap.table("mart_network_by_area_year")
    return table[_in(table, "area", areas)].sort_values(["area", "year"]).reset_index(drop=True)


NETWORK_MEASURES = [
    ("referrals", "Referrals"),
    ("referrals_to_vcs", "Referrals to VCS organisations"),
    ("referring_la_or_statutory", "LA/statutory organisations referring"),
    ("referring_vcs", "VCS organisations referring"),
    ("distinct_connections", "Connections between organisations"),
    ("average_connections_per_organisation", "Average connections per organisation"),
    ("la_share", "LA share of referrals (to or from), %"),
    ("organisations_joined", "Organisations joined"),
]


def network_comparison(snap: Snapshot, area: str, year: int, compare_with: int) -> pd.DataFrame:
    """The evaluators' Norfolk table for any area and pair of years: each measure in both years and
    the change (whole-area figures)."""
    table = network_by_year(snap, (area,)).set_index("year")
    rows = []
    for column, label in NETWORK_MEASURES:
        if column not in table.columns:
            continue
        before = table[column].get(compare_with)
        after = table[column].get(year)
        if column == "la_share":  # shown as percentage points beside the counts
            before, after = (None if v is None or pd.isna(v) else round(v * 100, 1) for v in (before, after))
        elif column == "average_connections_per_organisation":
            before, after = (None if v is None or pd.isna(v) else round(v, 2) for v in (before, after))
        change = None
        if before is not None and after is not None and pd.notna(before) and pd.notna(after) and before:
            change = after / before - 1
        rows.append({"measure": label, str(compare_with): before, str(year): after, "change": change})
    return pd.DataFrame(rows)


def network_graph(snap: Snapshot, area: str, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes (organisations with their type and volume) and edges of one area's network in one year."""
    orgs = snap.table("mart_organisations_by_year")
    nodes = orgs[(orgs["area"] == area) & (orgs["year"] == year)].copy()
    nodes["volume"] = nodes["referrals_sent"] + nodes["referrals_received"]
    edges = snap.table("mart_network_edges")
    edges = edges[(edges["area"] == area) & (edges["year"] == year)]
    return nodes.reset_index(drop=True), edges.reset_index(drop=True)


def top_flows(snap: Snapshot, f: Filters, limit: int = 20) -> pd.DataFrame:
    edges = snap.table("mart_network_edges")
    rows = edges[(edges["year"] == f.period.year) & _in(edges, "area", f.areas)]
    names = snap.table("mart_organisations_by_year")
    names = names[names["year"] == f.period.year][["area", "organisation_id", "organisation_name", "organisation_type"]]
    rows = rows.merge(names.add_prefix("referring_"), how="left",
                      left_on=["area", "referring_organisation_id"], right_on=["referring_area", "referring_organisation_id"])
    rows = rows.merge(names.add_prefix("receiving_"), how="left",
                      left_on=["area", "receiving_organisation_id"], right_on=["receiving_area", "receiving_organisation_id"])
    if f.organisation_types:
        rows = rows[rows["referring_organisation_type"].isin(f.organisation_types)
                    | rows["receiving_organisation_type"].isin(f.organisation_types)]
    rows = rows.sort_values(["referrals", "referring_organisation_name", "receiving_organisation_name"],
                            ascending=[False, True, True]).head(limit)
    return rows[["area", "referring_organisation_name", "referring_organisation_type", "receiving_organisation_name",
                 "receiving_organisation_type", "referrals"]].reset_index(drop=True)


def organisations_joined(snap: Snapshot, f: Filters) -> pd.DataFrame:
    rows = organisations(snap, f)
    return rows[rows["first_year_active"] == f.period.year].sort_values(["area", "organisation_name"]).reset_index(drop=True)



# -- funding (360Giving grants, docs/grants.md) ---------------------------------------------------------

FUNDING_TABLES = ("mart_grants_by_funder_year", "mart_grants_by_organisation_year", "mart_funding_per_referral",
                  "mart_high_demand_low_funding", "mart_funding_by_issue_area_year", "mart_grants_unmatched_recipients")
FUNDER_COLUMNS = ["grants", "amount_awarded", "grants_to_network_organisations", "amount_to_network_organisations",
                  "grants_to_other_organisations", "amount_to_other_organisations"]
INDIVIDUAL_COLUMNS = ["grants_to_individuals", "amount_to_individuals"]


def has_funding(snap: Snapshot) -> bool:
    """Older snapshots were published before the grants marts existed."""
    return all(snap.has(name) for name in FUNDING_TABLES)


@shared
def funding_by_area(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Grants awarded per area in the period's year, every funder together: whole-area totals, the only
    place grants to individuals are shown."""
    table = snap.table("mart_grants_by_funder_year")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas)]
    out = rows.groupby("area", as_index=False)[FUNDER_COLUMNS + INDIVIDUAL_COLUMNS].sum()
    out = pd.DataFrame({"area": list(f.areas)}).merge(out, how="left", on="area").fillna(0)
    for column in FUNDER_COLUMNS + INDIVIDUAL_COLUMNS:
        out[column] = out[column].astype(int if column.startswith("grants") else float)
    return out


@shared
def funding_by_funder(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Where each funder's money went in the period's year: to network organisations or to others.
    Grants to individuals are left out here (they are shown only as area totals)."""
    table = snap.table("mart_grants_by_funder_year")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas)]
    rows = rows[["area", "funding_org_name", "funding_org_identifier"] + FUNDER_COLUMNS]
    return rows.sort_values(["area", "amount_awarded", "funding_org_name"], ascending=[True, False, True]).reset_index(drop=True)


def _accepts_any(groups: pd.Series, wanted: tuple) -> pd.Series:
    if not wanted:
        return pd.Series(True, index=groups.index)
    return groups.fillna("").map(lambda text: bool(set(text.split(", ")) & set(wanted)))


def grants_by_organisation(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Network organisations (by org-id) that received grants in the period's year, every funder
    together, largest first; narrowed by organisation type and by the issue groups their services accept."""
    table = snap.table("mart_grants_by_organisation_year")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas)
                 & _in(table, "organisation_type", f.organisation_types)]
    rows = rows[_accepts_any(rows["issue_groups_accepted"], f.issue_groups)]
    keys = ["area", "org_identifier", "organisation_names", "organisation_type", "issue_groups_accepted"]
    if rows.empty:
        return pd.DataFrame(columns=keys + ["funders", "grants", "amount_awarded"])
    out = rows.fillna({"issue_groups_accepted": ""}).groupby(keys, as_index=False, dropna=False).agg(
        funders=("funding_org_name", lambda names: "; ".join(sorted(set(names)))),
        grants=("grants", "sum"), amount_awarded=("amount_awarded", "sum"))
    return out.sort_values(["amount_awarded", "organisation_names"], ascending=[False, True]).reset_index(drop=True)


def funding_per_referral(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Each receiving organisation's referrals received and grants in the period's year (an org-id's
    departments together), busiest first; narrowed by organisation type."""
    table = snap.table("mart_funding_per_referral")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas)
                 & _in(table, "organisation_type", f.organisation_types)]
    return rows.sort_values(["referrals_received", "amount_awarded", "organisation_names"],
                            ascending=[False, False, True]).reset_index(drop=True)


@shared
def high_demand_low_funding(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Organisations in the top quarter of their area's demand with no grant or little funding per
    referral, in the period's year; narrowed by organisation type."""
    table = snap.table("mart_high_demand_low_funding")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas)
                 & _in(table, "organisation_type", f.organisation_types)]
    return rows.sort_values(["area", "demand_rank", "organisation_names"]).reset_index(drop=True)


@shared
def funding_by_issue(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Demand, its growth and its unmet part against the funding attributed to each issue in the
    period's year, most unmet first; narrowed by issue group."""
    table = snap.table("mart_funding_by_issue_area_year")
    rows = table[(table["year"] == f.period.year) & _in(table, "area", f.areas) & _in(table, "issue_group", f.issue_groups)]
    rows = rows.merge(issue_names(snap), how="left", left_on="primary_issue", right_on="issue").drop(columns="issue")
    rows["issue_name"] = rows["issue_name"].fillna(rows["primary_issue"])
    return rows.sort_values(["unmet_referrals", "referrals", "area", "primary_issue"],
                            ascending=[False, False, True, True]).reset_index(drop=True)


def unmatched_recipients(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Grant recipients that match no network organisation, every year (the table is not kept by year)."""
    table = snap.table("mart_grants_unmatched_recipients")
    rows = table[_in(table, "area", f.areas)]
    return rows.sort_values(["area", "amount_awarded", "recipient_org_name", "funding_org_name"],
                            ascending=[True, False, True, True]).reset_index(drop=True)
