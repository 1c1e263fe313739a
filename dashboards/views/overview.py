"""Overview: each area's KPIs with the change on the same period last year, the monthly trend by issue
group, areas side by side."""

import pandas as pd
import streamlit as st

from dashboards import charts, figures, ui
from dashboards.disclosure import disclose_table, disclosed_number

ctx = ui.context()
f = ctx.filters

kpis = figures.kpis(ctx.snap, f)
st.subheader(f"Key figures, {f.period.label} (whole area)")
if kpis.empty:
    st.info(f"No figures for {f.period.label} in the selected areas.")
columns = st.columns(max(len(kpis), 1))
for column, row in zip(columns, kpis.to_dict("records")):
    with column.container(border=True):
        st.markdown(f"#### {ctx.area_name(row['area'])}")
        if not row["is_complete"]:
            st.caption("Part period: the data does not cover all of it.")
        growth = row["referrals_growth"]
        st.metric("Referrals", f"{row['referrals']:,}", None if pd.isna(growth) else f"{growth:+.0%} on a year earlier")
        growth = row["people_growth"]
        st.metric("People referred", f"{row['people']:,}", None if pd.isna(growth) else f"{growth:+.0%} on a year earlier")
        st.metric("Organisations active", f"{row['organisations_active']:,}")
        rate = row["acceptance_rate"]
        st.metric("Acceptance rate", "" if pd.isna(rate) else f"{rate:.0%}")
        st.metric("Local-authority share", "" if pd.isna(row["la_share"]) else f"{row['la_share']:.0%}")

table = kpis[["area", "period_label", "referrals", "referrals_last_year", "referrals_growth", "people", "people_last_year",
              "people_growth", "organisations_active", "users_active", "accepted", "responded", "acceptance_rate", "la_share"]]
table = ui.area_label_column(ctx, table)
ui.show_table(ctx, table, f"Key figures {f.period.label}", "kpis",
              column_config={c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="percent")
                             for c in ("referrals_growth", "people_growth", "acceptance_rate", "la_share")})

st.subheader("Monthly referrals by issue group")
trend = figures.monthly_trend(ctx.snap, f)
trend = trend.assign(referrals=[disclosed_number(v) for v in trend["referrals"]])
columns = st.columns(len(f.areas)) if len(f.areas) <= 2 else st.columns(2)
for i, area in enumerate(f.areas):
    with columns[i % len(columns)]:
        st.altair_chart(charts.trend(trend[trend["area"] == area], ctx.area_name(area)), key=f"trend_{area}")
st.caption("Months with fewer than 8 referrals in a group are left out of the lines (disclosure control).")

st.subheader(f"Referrals by issue group, {f.period.label}")
selection = figures.selection_by_issue_group(ctx.snap, f)
selection = disclose_table(selection, ["referrals", "accepted", "responded"],
                           rates={"acceptance_rate": ("accepted", "responded")})
ui.show_table(ctx, ui.area_label_column(ctx, selection), f"Referrals by issue group {f.period.label}", "issue_groups")
