"""Grant priorities (community foundations): which needs are growing, where demand goes unmet, which
organisations carry the load, what is emerging, and a paragraph of evidence for a committee paper."""

import streamlit as st

from dashboards import evidence, figures, ui
from dashboards.disclosure import disclose_change, disclose_table, format_percent

ctx = ui.context()
f = ctx.filters
year = f.period.year

st.subheader(f"Growing needs: {f.period.label} against {f.period.year_earlier().label}")
growing = figures.growing_needs(ctx.snap, f)
growing = growing[["area", "issue_name", "issue_group", "referrals", "referrals_year_earlier", "rise"]]
changes = [disclose_change(now, before) for now, before in zip(growing["referrals"], growing["referrals_year_earlier"])]
shown = disclose_table(growing, ["referrals", "referrals_year_earlier"])
shown["rise"] = [rise for rise, _ in changes]
shown["growth"] = [format_percent(growth) for _, growth in changes]
ui.show_table(ctx, ui.area_label_column(ctx, shown.head(25)), f"Growing needs {f.period.label}", "growing_needs",
              column_config={"rise": st.column_config.NumberColumn("Rise", format="%+d")})
st.caption("Growth is the ratio of the two rounded figures (shown only when last year's count is at least 8).")

st.subheader(f"Unmet demand by issue and place, {year}")
unmet = figures.unmet_by_issue_place(ctx.snap, f)
unmet = unmet[["area", "issue_name", "issue_group", "place_name", "referrals", "unmet", "declined_no_capacity",
               "expired", "bounce_referrals", "sent_during_paused_intake", "declined_not_eligible", "declined_out_of_area"]]
counts = [c for c in unmet.columns if c not in ("area", "issue_name", "issue_group", "place_name")]
ui.show_table(ctx, ui.area_label_column(ctx, disclose_table(unmet.head(30), counts)), f"Unmet demand {year}", "unmet_demand")
st.caption("Unmet = declined for lack of capacity + expired with no response + bounced (three or more referrals for the "
           "same issue in 90 days, none accepted) + sent while the service had paused intake.")

st.subheader(f"Organisations carrying the load, {year}")
orgs = figures.organisations(ctx.snap, f)
orgs = orgs[["area", "organisation_name", "organisation_type", "role", "referrals_received", "accepted",
             "declined_no_capacity", "referrals_sent"]]
shown = disclose_table(orgs.head(25), ["referrals_received", "accepted", "declined_no_capacity", "referrals_sent"],
                       rates={"acceptance_rate": ("accepted", "referrals_received")})
ui.show_table(ctx, ui.area_label_column(ctx, shown), f"Organisations carrying the load {year}", "organisations")
st.caption("Acceptance rate here is accepted / referrals received.")

st.subheader(f"Emerging issues, {f.period.label}")
emerging = figures.emerging_issues(ctx.snap, f)
if emerging.empty:
    st.info("No issue rose significantly above its own seasonal baseline in this period.")
else:
    emerging = emerging.assign(month=emerging["month"].astype(str).str[:7], baseline=emerging["baseline"].round())
    emerging = emerging[["area", "month", "issue_name", "issue_group", "referrals", "baseline"]]
    shown = disclose_table(emerging, ["referrals", "baseline"])
    shown["rise"] = [disclose_change(now, base)[0] for now, base in zip(emerging["referrals"], emerging["baseline"])]
    ui.show_table(ctx, ui.area_label_column(ctx, shown), f"Emerging issues {f.period.label}", "emerging_issues")

st.subheader("Grant evidence")
st.caption("Plain text for a committee paper; the figures follow the disclosure rule.")
for area in f.areas:
    st.code(evidence.grant_paragraph(ctx.snap, f, area), language=None, wrap_lines=True)
