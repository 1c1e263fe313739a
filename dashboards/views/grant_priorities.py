"""Grant priorities (community foundations): which needs are growing, where demand goes unmet, which
organisations carry the load, what is emerging, where grants went (360Giving) against where demand and
unmet demand are, and a paragraph of evidence for a committee paper."""

import streamlit as st

from dashboards import charts, evidence, figures, funding, ui
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

MONEY = "£%,.0f"
PER_REFERRAL = "£%,.2f"

st.subheader(f"Funding against demand, {year}")
if not figures.has_funding(ctx.snap):
    st.info("This snapshot has no grants tables (360Giving); publish a newer one to see funding against demand.")
else:
    totals = figures.funding_by_area(ctx.snap, f)
    columns = st.columns(len(totals)) if len(totals) <= 4 else st.columns(4)
    for i, row in enumerate(totals.to_dict("records")):
        with columns[i % len(columns)].container(border=True):
            st.markdown(f"#### {ctx.area_name(row['area'])}")
            st.metric("Grants awarded", funding.pounds(row["amount_awarded"]), f"{row['grants']:,} grants", delta_color="off", delta_arrow="off")
            st.metric("To network organisations", funding.pounds(row["amount_to_network_organisations"]),
                      f"{row['grants_to_network_organisations']:,} grants", delta_color="off", delta_arrow="off")
            st.metric("To other organisations", funding.pounds(row["amount_to_other_organisations"]),
                      f"{row['grants_to_other_organisations']:,} grants", delta_color="off", delta_arrow="off")
            st.metric("To individuals (area total)", funding.pounds(row["amount_to_individuals"]),
                      f"{row['grants_to_individuals']:,} grants", delta_color="off", delta_arrow="off")
    money = {c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format=MONEY)
             for c in ("amount_awarded", "amount_to_network_organisations", "amount_to_other_organisations",
                       "amount_to_individuals", "funding_attributed")}
    per_referral = {c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format=PER_REFERRAL)
                    for c in ("funding_per_referral", "funding_per_referral_received")}
    with st.expander("The area totals as a table, to download"):
        ui.show_table(ctx, ui.area_label_column(ctx, totals), f"Grants by area {year} (whole area)", "funding_areas",
                      column_config=money)
    st.caption(f"Grants awarded in {year} by every funder in the 360Giving data, whole-area totals (grants to "
               "individuals are shown only here, as area totals). Amounts in pounds, as published.")

    st.markdown(f"**Where the money went: funders, {year}**")
    funders = figures.funding_by_funder(ctx.snap, f).drop(columns="funding_org_identifier")
    ui.show_table(ctx, ui.area_label_column(ctx, funders), f"Grants by funder {year}", "funding_funders", column_config=money)
    st.caption("Grants to individuals are not shown by funder, only in the area totals above. Not narrowed by issue "
               "group or organisation type.")

    st.markdown(f"**Funding against demand and unmet demand by issue, {year}**")
    issues = funding.by_issue(ctx.snap, f)
    points = funding.issue_points(ctx.snap, f)
    columns = st.columns(min(len(f.areas), 4))
    for i, area in enumerate(f.areas):
        columns[i % len(columns)].vega_lite_chart(
            charts.funding_against_demand(points[points["area"] == area], ctx.area_name(area)), width="stretch",
            key=f"funding_issues_{area}")
    ui.show_table(ctx, ui.area_label_column(ctx, issues), f"Funding against demand by issue {year}", "funding_issues",
                  column_config={**money, **per_referral,
                                 "growth": st.column_config.NumberColumn("Growth", format="percent")}, height=400)
    st.caption("Unmet = declined for lack of capacity, not eligible or out of area, or expired. Funding attributed: each "
               "grant to a network organisation split equally over the issues its services accept (an assumption; "
               "grants rarely say which service they pay for). Growth and funding per referral come from the rounded "
               "counts, and only where the count is at least 8. Not narrowed by organisation type.")

    st.markdown(f"**Funding per referral received, {year}**")
    received = funding.per_referral(ctx.snap, f)
    ui.show_table(ctx, ui.area_label_column(ctx, received), f"Funding per referral received {year}", "funding_per_referral",
                  column_config={**money, **per_referral}, height=400)
    st.caption("Receiving organisations by referrals received; an org-id's departments (a council's) together. Grants "
               "matched by org-id, charity or company number. Funding per referral = grants ÷ the rounded referral count.")

    st.markdown(f"**High demand, little or no funding, {year}**")
    neglected = funding.high_demand(ctx.snap, f)
    if neglected.empty:
        st.info("No organisation in the top quarter of demand went without funding in this selection.")
    ui.show_table(ctx, ui.area_label_column(ctx, neglected), f"High demand little or no funding {year}",
                  "high_demand_low_funding", column_config={**money, **per_referral})
    st.caption("Organisations in the top quarter of their area's referrals received with no matched grant, or funding "
               "per referral under a quarter of the area median among funded organisations. Without an org-id in the "
               "directory a grant cannot be matched, so \"no grant\" may be unseen funding.")

    with st.expander(f"Grants to network organisations and unmatched recipients, {year}"):
        st.markdown(f"**Grants to network organisations, {year}**")
        recipients = figures.grants_by_organisation(ctx.snap, f)
        recipients = recipients[["area", "organisation_names", "organisation_type", "org_identifier", "issue_groups_accepted",
                                 "funders", "grants", "amount_awarded"]]
        ui.show_table(ctx, ui.area_label_column(ctx, recipients), f"Grants to network organisations {year}",
                      "funding_recipients", column_config=money, height=400)
        st.caption("Every funder together, largest first; narrowed by organisation type and by the issue groups the "
                   "organisation's services accept.")

        st.markdown("**Recipients not matched to the network (every year)**")
        unmatched = figures.unmatched_recipients(ctx.snap, f)
        unmatched = unmatched[["area", "recipient_org_name", "recipient_org_identifier", "identifier_scheme", "funding_org_name",
                               "grants", "amount_awarded", "first_award_date", "last_award_date"]]
        ui.show_table(ctx, ui.area_label_column(ctx, unmatched), "Grant recipients not matched to the network",
                      "funding_unmatched", column_config=money, height=300)
        st.caption("Organisations outside the network, and network groups without a registration that a funder "
                   "identifies by its own 360G id. Listed, not dropped; all years, as the snapshot does not keep this by year.")

st.subheader("Grant evidence")
st.caption("Plain text for a committee paper; the figures follow the disclosure rule.")
for area in f.areas:
    st.code(evidence.grant_paragraph(ctx.snap, f, area), language=None, wrap_lines=True)
