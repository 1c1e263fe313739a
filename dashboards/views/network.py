"""Network (network directors): the network picture for a year, the year-on-year comparison in the
evaluators' form, LA share, organisations that joined, the biggest flows."""

import streamlit as st

from dashboards import charts, figures, ui
from dashboards.disclosure import disclose_count, disclose_table, disclosed_number, format_count

ctx = ui.context()
f = ctx.filters
year = f.period.year


@st.cache_data(max_entries=32, show_spinner=False)
def layout(version: str, area: str, year: int) -> dict:
    nodes, edges = figures.network_graph(ctx.snap, area, year)
    return charts.spring_layout(list(nodes["organisation_id"]), list(zip(
        edges["referring_organisation_id"], edges["receiving_organisation_id"], edges["referrals"])))


st.subheader(f"The network in {year}")
st.caption("Organisations coloured by type, sized by referrals sent and received; line width is the number of "
           "referrals between two organisations (flows under 8 are drawn at the thinnest width).")
for area in f.areas:
    nodes, edges = figures.network_graph(ctx.snap, area, year)
    if f.organisation_types:
        nodes = nodes[nodes["organisation_type"].isin(f.organisation_types)]
        edges = edges[edges["referring_organisation_id"].isin(nodes["organisation_id"])
                      & edges["receiving_organisation_id"].isin(nodes["organisation_id"])]
    if nodes.empty:
        st.info(f"{ctx.area_name(area)}: no organisations active in {year}.")
        continue
    nodes = nodes.assign(volume_text=[format_count(disclose_count(v)) for v in nodes["volume"]],
                         volume=[disclosed_number(v) for v in nodes["volume"]])
    edges = edges.assign(referrals_text=[format_count(disclose_count(v)) for v in edges["referrals"]],
                         referrals=[disclosed_number(v) for v in edges["referrals"]])
    positions = layout(ctx.snap.version, area, year)
    st.altair_chart(charts.network(nodes, edges, positions, f"{ctx.area_name(area)} {year}: {len(nodes)} organisations, "
                                   f"{len(edges)} referral routes"), key=f"network_{area}")

st.subheader("Year on year, in the form the evaluators used")
years = sorted(figures.network_by_year(ctx.snap, f.areas)["year"].unique())
earlier = [y for y in years if y < year]
compare_with = st.selectbox("Compare with", earlier or [year], index=len(earlier) - 1 if earlier else 0,
                            key="compare", bind="query-params")
for area in f.areas:
    table = figures.network_comparison(ctx.snap, area, year, int(compare_with))
    if table.empty:
        continue
    st.markdown(f"**{ctx.area_name(area)}**: {compare_with} → {year}")
    ui.show_table(ctx, table, f"{ctx.area_name(area)} network {compare_with} to {year} (whole area)", f"network_{area}",
                  column_config={"change": st.column_config.NumberColumn("Change", format="percent")})

st.subheader("Local-authority share and organisations joining, every year")
history = figures.network_by_year(ctx.snap, f.areas)
columns = [c for c in ("area", "year", "referrals", "referrals_to_or_from_la", "la_share", "connected_organisations",
                       "distinct_connections", "average_connections_per_organisation", "organisations_joined")
           if c in history.columns]
ui.show_table(ctx, ui.area_label_column(ctx, history[columns]), "Network by year (whole area)", "network_history",
              column_config={"la_share": st.column_config.NumberColumn("LA share", format="percent")})

st.subheader(f"Organisations that joined in {year}")
joined = figures.organisations_joined(ctx.snap, f)[["area", "organisation_name", "organisation_type", "role",
                                                     "referrals_sent", "referrals_received"]]
ui.show_table(ctx, ui.area_label_column(ctx, disclose_table(joined, ["referrals_sent", "referrals_received"])),
              f"Organisations joined {year}", "organisations_joined")

st.subheader(f"Top referral flows, {year}")
flows = figures.top_flows(ctx.snap, f)
ui.show_table(ctx, ui.area_label_column(ctx, disclose_table(flows, ["referrals"])), f"Top flows {year}", "top_flows")
