"""Provision gaps (local-authority strategy teams): reach by neighbourhood against deprivation,
under-reached deprived neighbourhoods, issue x place cells with no accepting service, contact SLA by
receiving organisation, repeat crisis with and without advice, links with welfare assistance."""

import streamlit as st

from dashboards import charts, figures, ui
from dashboards.disclosure import current_rule, disclose_count, disclose_table, disclosed_number, format_count
from dashboards.filters import Filters, Period

ctx = ui.context()
f = ctx.filters
year = f.period.year


@st.cache_data(max_entries=16, show_spinner=False)
def features(version: str, area: str, year: int, threshold_key: str) -> list[dict]:
    """Map features per snapshot, area and year (the GeoJSON is the slow part of a rerun)."""
    reach = figures.neighbourhood_reach(ctx.snap, Filters((area,), Period(str(year))))
    boundaries = ctx.snap.table("neighbourhood_boundaries")
    reach = reach.assign(rate=[None if (n := disclosed_number(r)) is None else n / p * 1000
                               for r, p in zip(reach["referrals"], reach["residents"])],
                         referrals=[format_count(disclose_count(r)) for r in reach["referrals"]])
    return charts.map_features(reach, boundaries[boundaries["area"] == area])


st.subheader(f"Reach by neighbourhood, {year}")
st.caption("Referral rate per 1,000 residents (mid-2019) by LSOA, beside its deprivation decile (1 = most deprived). "
           "Grey: fewer than 8 referrals. Boundaries: ONS, OGL v3.0; contains OS data © Crown copyright and database right.")
# one area's maps at a time: each map carries every neighbourhood's outline, so drawing them all is slow
area = f.areas[0] if len(f.areas) == 1 else st.radio("Map of", f.areas, format_func=ctx.area_name, horizontal=True,
                                                       key="map_area", bind="query-params")
shapes = features(ctx.snap.version, area, year, current_rule().describe())
if not shapes:
    st.info(f"{ctx.area_name(area)}: no neighbourhood figures for {year}.")
else:
    left, right = st.columns(2)
    left.vega_lite_chart(charts.choropleth(shapes, "rate", f"{ctx.area_name(area)}: referrals per 1,000", "blues",
                                           "per 1,000"), width="stretch", key="rate_map")
    right.vega_lite_chart(charts.choropleth(shapes, "decile", f"{ctx.area_name(area)}: deprivation decile", "reds",
                                            "decile", reverse=True, domain=[1, 10]), width="stretch", key="decile_map")

st.subheader(f"Under-reached deprived neighbourhoods, {year}")
reach = figures.neighbourhood_reach(ctx.snap, f)
under = reach[reach["is_under_reached"]].sort_values(["area", "referrals_per_1000"])
under = under[["area", "lsoa11_code", "lsoa11_name", "ward_name", "deprivation_index", "deprivation_decile", "residents",
               "referrals", "area_median_per_1000"]]
shown = disclose_table(under, ["referrals"])
shown["per_1000"] = [None if (n := disclosed_number(r)) is None else round(n / p * 1000, 1)
                     for r, p in zip(under["referrals"], under["residents"])]
shown["area_median_per_1000"] = shown["area_median_per_1000"].round(1)
ui.show_table(ctx, ui.area_label_column(ctx, shown), f"Under-reached deprived neighbourhoods {year}", "under_reached")
st.caption("Deprivation decile 1-2 and a referral rate below the area's median neighbourhood. Rates come from the "
           "rounded referral count; residents are the ONS mid-2019 estimate.")

st.subheader(f"Demand with no service accepting it, {year}")
gaps = figures.provision_gaps(ctx.snap, f)[["area", "issue_name", "issue_group", "place_name", "referrals"]]
ui.show_table(ctx, ui.area_label_column(ctx, disclose_table(gaps, ["referrals"])), f"Provision gaps {year}", "provision_gaps")
st.caption("Issue x place cells (ward in Tower Hamlets and Oldham, district in Norfolk and Swansea & NPT) where residents "
           "were referred but no service in the directory accepts that issue for that place.")

st.subheader(f"Contact within 8 working days, by receiving organisation, {year}")
sla = figures.sla_by_receiving_organisation(ctx.snap, f)
sla = sla[["area", "organisation_name", "organisation_type", "sla_due", "sla_met", "sla_breaches",
           "median_working_days_to_contact"]]
ui.show_table(ctx, ui.area_label_column(ctx, disclose_table(sla, ["sla_due", "sla_met", "sla_breaches"],
                                                            rates={"sla_met_rate": ("sla_met", "sla_due")})),
              f"Contact SLA by receiving organisation {year}", "sla_organisations")

st.subheader("Repeat crisis")
people = figures.repeat_crisis(ctx.snap, f)
if len(people):
    ui.show_table(ctx, ui.area_label_column(ctx, people), f"People in crisis {year} (whole area)", "repeat_crisis")
cohorts = figures.repeat_crisis_cohorts(ctx.snap, f)
cohorts = cohorts.assign(status=cohorts["is_final"].map({True: "final", False: "provisional"}))
cohorts = cohorts[["area", "cohort_year", "advice", "episodes", "repeated_within_365_days", "status"]]
shown = disclose_table(cohorts, ["episodes", "repeated_within_365_days"],
                       rates={"repeat_rate": ("repeated_within_365_days", "episodes")})
ui.show_table(ctx, ui.area_label_column(ctx, shown), "Repeat-crisis rate by cohort, with and without advice", "repeat_cohorts")
st.caption("A cohort is the crisis episodes ending in a year; repeat = a new episode within 365 days. With advice = an "
           "accepted money or housing referral within 30 days of the episode. Cohorts without a full year of follow-up "
           "are provisional.")

st.subheader(f"Links with the council's welfare-assistance scheme, {f.period.label}")
links = figures.welfare_assistance_links(ctx.snap, f)
shown = disclose_table(links, ["referrals", "accepted", "responded"], rates={"acceptance_rate": ("accepted", "responded")})
ui.show_table(ctx, ui.area_label_column(ctx, shown), f"Emergency-grant referrals {f.period.label}", "welfare_assistance")
st.caption("Referrals for emergency grants (local welfare assistance in England, the Discretionary Assistance Fund in "
           "Wales), by the type of organisation that referred and that received.")
