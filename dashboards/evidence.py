"""Sentences of evidence an officer can paste into a committee paper, with disclosed figures."""

import pandas as pd

from . import figures
from .disclosure import current_rule, disclose_change, disclose_count
from .exports import data_as_of_text
from .filters import Filters
from .snapshot import Snapshot


def grant_paragraph(snap: Snapshot, f: Filters, area: str) -> str:
    one = Filters((area,), f.period, f.issue_groups, f.organisation_types)
    name = figures.area_names(snap).get(area, area)
    network = snap.table("snapshot_info").set_index("area").get("network_name", pd.Series(dtype=str)).get(area)
    sentences = []
    kpis = figures.kpis(snap, one)
    if len(kpis):
        row = kpis.iloc[0]
        text = f"In {f.period.label} {network or f'the {name} network'} recorded {row['referrals']:,} referrals"
        if pd.notna(row["referrals_growth"]):
            text += f", {row['referrals_growth']:+.0%} on the same period a year earlier"
        sentences.append(text + f", for {row['people']:,} people.")
    growing = figures.growing_needs(snap, one)
    growing = growing[growing["rise"] > 0].head(3)
    rising = []
    for row in growing.to_dict("records"):
        rise, growth = disclose_change(row["referrals"], row["referrals_year_earlier"])
        if rise and rise > 0:
            rising.append(f"{row['issue_name'].lower()} ({disclose_count(row['referrals_year_earlier'])} to "
                          f"{disclose_count(row['referrals'])}{'' if growth is None else f', {growth:+.0%}'})")
    if rising:
        sentences.append("The fastest-growing needs were " + ", ".join(rising) + ".")
    unmet = figures.unmet_by_issue_place(snap, one).head(3)
    places = [f"{row['issue_name'].lower()} in {row['place_name']} ({disclose_count(row['unmet'])} referrals unmet)"
              for row in unmet.to_dict("records") if row["unmet"] > 0]
    if places:
        sentences.append(f"Unmet demand in {f.period.year} was highest for " + "; ".join(places) + ".")
    orgs = figures.organisations(snap, one).head(3)
    if len(orgs):
        load = [f"{row['organisation_name']} ({disclose_count(row['referrals_received'])} received, "
                f"{disclose_count(row['declined_no_capacity'])} declined for capacity)" for row in orgs.to_dict("records")]
        sentences.append("The organisations carrying most of the load were " + "; ".join(load) + ".")
    emerging = figures.emerging_issues(snap, one).head(2)
    if len(emerging):
        items = [f"{row['issue_name'].lower()} in {pd.Timestamp(row['month']):%B %Y} ({disclose_count(row['referrals'])} "
                 f"referrals against about {disclose_count(row['baseline'])} expected)" for row in emerging.to_dict("records")]
        sentences.append("Emerging: " + "; ".join(items) + ".")
    sentences.append(f"Source: CCS Insights, snapshot {snap.version}, data as of {data_as_of_text(snap, (area,))}. "
                     f"{current_rule().describe()}")
    return " ".join(sentences)
