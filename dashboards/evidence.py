"""Sentences of evidence an officer can paste into a committee paper, with disclosed figures."""

import pandas as pd

from . import figures, funding
from .disclosure import current_rule, disclose_change, disclose_count, disclose_per_count
from .exports import data_as_of_text
from .filters import Filters
from .snapshot import Snapshot


def _for(frame: pd.DataFrame, area: str) -> pd.DataFrame:
    return frame[frame["area"] == area]


def grant_paragraph(snap: Snapshot, f: Filters, area: str) -> str:
    """One area's paragraph. The figures are the page's (all selected areas, shared) sliced to the area:
    the same rows in the same order as computing them for the area alone."""
    one = Filters((area,), f.period, f.issue_groups, f.organisation_types)
    f = f if area in f.areas else one
    name = figures.area_names(snap).get(area, area)
    network = snap.table("snapshot_info").set_index("area").get("network_name", pd.Series(dtype=str)).get(area)
    sentences = []
    kpis = _for(figures.kpis(snap, f), area)
    if len(kpis):
        row = kpis.iloc[0]
        text = f"In {f.period.label} {network or f'the {name} network'} recorded {row['referrals']:,} referrals"
        if pd.notna(row["referrals_growth"]):
            text += f", {row['referrals_growth']:+.0%} on the same period a year earlier"
        sentences.append(text + f", for {row['people']:,} people.")
    growing = _for(figures.growing_needs(snap, f), area)
    growing = growing[growing["rise"] > 0].head(3)
    rising = []
    for row in growing.to_dict("records"):
        rise, growth = disclose_change(row["referrals"], row["referrals_year_earlier"])
        if rise and rise > 0:
            rising.append(f"{row['issue_name'].lower()} ({disclose_count(row['referrals_year_earlier'])} to "
                          f"{disclose_count(row['referrals'])}{'' if growth is None else f', {growth:+.0%}'})")
    if rising:
        sentences.append("The fastest-growing needs were " + ", ".join(rising) + ".")
    unmet = _for(figures.unmet_by_issue_place(snap, f), area).head(3)
    places = [f"{row['issue_name'].lower()} in {row['place_name']} ({disclose_count(row['unmet'])} referrals unmet)"
              for row in unmet.to_dict("records") if row["unmet"] > 0]
    if places:
        sentences.append(f"Unmet demand in {f.period.year} was highest for " + "; ".join(places) + ".")
    orgs = _for(figures.organisations(snap, f), area).head(3)
    if len(orgs):
        load = [f"{row['organisation_name']} ({disclose_count(row['referrals_received'])} received, "
                f"{disclose_count(row['declined_no_capacity'])} declined for capacity)" for row in orgs.to_dict("records")]
        sentences.append("The organisations carrying most of the load were " + "; ".join(load) + ".")
    emerging = _for(figures.emerging_issues(snap, f), area).head(2)
    if len(emerging):
        items = [f"{row['issue_name'].lower()} in {pd.Timestamp(row['month']):%B %Y} ({disclose_count(row['referrals'])} "
                 f"referrals against about {disclose_count(row['baseline'])} expected)" for row in emerging.to_dict("records")]
        sentences.append("Emerging: " + "; ".join(items) + ".")
    if figures.has_funding(snap):
        sentences.extend(funding_sentences(snap, f, area))
    sentences.append(f"Source: CCS Insights, snapshot {snap.version}, data as of {data_as_of_text(snap, (area,))}. "
                     f"{current_rule().describe()}")
    return " ".join(sentences)


def funding_sentences(snap: Snapshot, f: Filters, area: str) -> list[str]:
    """Where the grants went in the period's year against demand: area totals (whole area, as published),
    the issues with the most unmet demand and their funding per referral, and the busiest organisations
    with no grant. Referral counts are disclosed; amounts per referral use the rounded counts."""
    year = f.period.year
    sentences = []
    totals = _for(figures.funding_by_area(snap, f), area)
    row = totals.iloc[0] if len(totals) else None
    if row is None or row["grants"] == 0:
        return [f"No grants awarded in {year} are in the 360Giving data for this area."]
    sentences.append(
        f"Funders publishing to 360Giving awarded {funding.pounds(row['amount_awarded'])} in {year} in {row['grants']:,} "
        f"grants: network organisations received {funding.pounds(row['amount_to_network_organisations'])}, other "
        f"organisations {funding.pounds(row['amount_to_other_organisations'])} and individuals "
        f"{funding.pounds(row['amount_to_individuals'])} (area totals).")
    issues = _for(figures.funding_by_issue(snap, f), area)
    issues = issues[issues["unmet_referrals"] > 0].head(3)
    items = []
    for r in issues.to_dict("records"):
        per = disclose_per_count(r["funding_attributed"], r["referrals"])
        money = (f"{funding.pounds(r['funding_attributed'])} of grants attributed"
                 + ("" if per is None else f", {funding.pounds(per)} per referral")) if r["funding_attributed"] > 0 \
            else "no grant funding attributed"
        items.append(f"{r['issue_name'].lower()} ({disclose_count(r['unmet_referrals'])} referrals unmet, {money})")
    if items:
        sentences.append(f"Set against the issues with most unmet demand in {year}, funding was: " + "; ".join(items) + ".")
    neglected = _for(figures.high_demand_low_funding(snap, f), area)
    unfunded = neglected[neglected["funding_level"] == "no_funding"].head(3)
    if len(unfunded):
        names = [f"{funding.together(r['organisation_names'])} ({disclose_count(r['referrals_received'])} received)"
                 for r in unfunded.to_dict("records")]
        sentences.append(f"Among the organisations receiving the most referrals, {len(neglected[neglected['funding_level'] == 'no_funding'])} "
                         f"had no matched grant in {year}, including " + "; ".join(names) + ".")
    return sentences
