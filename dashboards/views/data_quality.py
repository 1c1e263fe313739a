"""Data quality: freshness, contract and test results, quarantined rows, reconciliation."""

import streamlit as st

from dashboards import ui
from dashboards.disclosure import disclose_table

ctx = ui.context()
snap = ctx.snap
areas = list(ctx.filters.areas)

st.subheader("Freshness and checks")
info = snap.table("snapshot_info")
info = info[info["area"].isin(areas)].sort_values("area")
ui.show_table(ctx, info, "Snapshot status", "snapshot_info")

if snap.has("snapshot_checks"):
    checks = snap.table("snapshot_checks")
    counts = checks["status"].value_counts()
    columns = st.columns(4)
    for column, status in zip(columns, ("pass", "warn", "fail", "error")):
        column.metric(f"Checks: {status}", int(counts.get(status, 0)))
    problems = checks[checks["status"] != "pass"].sort_values(["status", "model", "check_name"])
    if len(problems):
        st.markdown("**Checks that did not pass**")
        ui.show_table(ctx, problems, "Checks that did not pass", "checks_not_passed")
    else:
        st.success("Every contract and test check passed in the last build.")
else:
    st.info("This snapshot has no `snapshot_checks` table.")

st.subheader("Reconciliation")
if snap.has("mart_reconciliation"):
    rec = snap.table("mart_reconciliation")
    rec = rec[rec["area"].isin(areas)].sort_values("area")
    if (~rec["reconciles"]).any():
        st.error("Rows in do not equal landed + already landed + quarantined + unchanged (re-read) for: "
                 + ", ".join(rec.loc[~rec["reconciles"], "area"]))
    ui.show_table(ctx, ui.area_label_column(ctx, rec), "Reconciliation (whole area)", "reconciliation")
else:
    st.info("This snapshot has no `mart_reconciliation` table.")

st.subheader("Quarantined rows by reason")
if snap.has("mart_quarantine_by_reason"):
    quarantine = snap.table("mart_quarantine_by_reason")
    quarantine = quarantine[quarantine["area"].isin(areas)].sort_values(["area", "rows"], ascending=[True, False])
    ui.show_table(ctx, ui.area_label_column(ctx, disclose_table(quarantine, ["rows"])), "Quarantined rows by reason",
                  "quarantine")
    st.caption("Rows a source sent that failed its data contract, by field and rule; they are kept aside, not loaded.")
else:
    st.info("This snapshot has no `mart_quarantine_by_reason` table.")

st.subheader("Grants set aside by the 360Giving import")
if snap.has("mart_grants_quarantine_by_reason"):
    grants_quarantine = snap.table("mart_grants_quarantine_by_reason").sort_values(
        ["failures", "source", "field", "rule"], ascending=[False, True, True, True])
    if grants_quarantine.empty:
        st.success("The last grants import set no row aside.")
    ui.show_table(ctx, grants_quarantine, "Grants quarantined by reason", "grants_quarantine")
    st.caption("Rows of the funders' published files that failed the 360Giving contract (an empty required field, money "
               "that is not a number, an unparseable date, a currency other than GBP, no recipient, a repeated grant id), "
               "by file, field and rule, from the last import; every file, whatever the area filter. Counts of published "
               "grant rows, not of people, so shown as they are.")
else:
    st.info("This snapshot has no `mart_grants_quarantine_by_reason` table.")
