"""What every page shares: the snapshot (cached by version), the filters (kept in the URL), the
"data as of" line with its warnings, and tables that download as CSV and XLSX."""

from dataclasses import dataclass
from functools import partial

import pandas as pd
import streamlit as st

from . import exports, figures
from .disclosure import current_rule
from .filters import Filters, Period
from .snapshot import AREAS, ISSUE_GROUPS, ORGANISATION_TYPE_NAMES, ORGANISATION_TYPES, Snapshot, snapshot_key, snapshot_path


@dataclass
class Context:
    snap: Snapshot
    filters: Filters
    names: dict[str, str]  # area -> area name

    def area_name(self, area: str) -> str:
        return self.names.get(area, area)


@st.cache_resource(max_entries=3, show_spinner=False)
def _open_snapshot(resolved: str, modified_ns: int) -> Snapshot:
    return Snapshot(resolved)


def load_snapshot() -> Snapshot:
    """The current snapshot; a new publish (a new resolved file) is opened on the next rerun."""
    path = snapshot_path()
    if not path.exists():
        st.error(f"No serving snapshot at `{path}`. Build one with `ccs build`, or set `CCS_SNAPSHOT` or `CCS_HOME`.")
        st.stop()
    return _open_snapshot(*snapshot_key(path))


def sidebar_filters(snap: Snapshot) -> Filters:
    """The filters, bound to the URL's query parameters so a view can be shared as a link."""
    names = figures.area_names(snap)
    areas = [a for a in AREAS if a in names] + sorted(set(names) - set(AREAS))
    labels = figures.period_labels(snap)
    default = figures.default_period(snap)
    with st.sidebar:
        chosen_areas = st.multiselect("Areas", areas, format_func=lambda a: names.get(a, a), key="area",
                                      bind="query-params", placeholder="All areas")
        period = st.selectbox("Period", labels, index=labels.index(default), key="period", bind="query-params",
                              help="A year, a quarter or a month. Tables kept by year show the period's year.")
        groups = st.multiselect("Issue groups", ISSUE_GROUPS, key="issue_group", bind="query-params",
                                format_func=lambda g: g.replace("_", " & ").capitalize(), placeholder="All issue groups")
        types = st.multiselect("Organisation types", ORGANISATION_TYPES, key="org_type", bind="query-params",
                               format_func=ORGANISATION_TYPE_NAMES.get, placeholder="All organisation types")
        st.caption(current_rule().describe())
    return Filters(tuple(a for a in areas if a in chosen_areas) or tuple(areas), Period(period),
                   tuple(g for g in ISSUE_GROUPS if g in groups), tuple(t for t in ORGANISATION_TYPES if t in types))


def pack_button(ctx: Context) -> None:
    """One click makes the steering-group pack for an area and the period."""
    from .pack import pack_bytes

    f = ctx.filters
    with st.sidebar:
        st.divider()
        area = f.areas[0] if len(f.areas) == 1 else st.selectbox("Steering-group pack for", f.areas,
                                                                 format_func=ctx.area_name, key="pack_area")
        st.download_button(f"Steering-group pack: {ctx.area_name(area)}, {f.period.label}",
                           partial(pack_bytes, ctx.snap.path, area, f.period.label),
                           f"ccs_pack_{area}_{f.period.label}.pptx", key="pack", on_click="ignore",
                           mime="application/vnd.openxmlformats-officedocument.presentationml.presentation",
                           icon=":material/slideshow:", width="stretch")


def data_status(ctx: Context) -> None:
    """"Data as of" per area, and a warning for each area whose data is not fresh or failed a check."""
    info = ctx.snap.table("snapshot_info")
    info = info[info["area"].isin(ctx.filters.areas)].sort_values("area")
    parts = []
    for row in info.to_dict("records"):
        freshness = row.get("freshness") or "unknown"
        parts.append(f"**{ctx.area_name(row['area'])}** {pd.Timestamp(row['data_as_of']):%d %b %Y %H:%M} ({freshness})")
        if freshness != "fresh":
            loaded = row.get("last_loaded_at")
            when = f"; last loaded {pd.Timestamp(loaded):%d %b %Y %H:%M}" if loaded is not None and pd.notna(loaded) else ""
            st.warning(f"{ctx.area_name(row['area'])}: data is {freshness}{when}.", icon=":material/schedule:")
        failed = row.get("checks_failed")
        if failed is not None and pd.notna(failed) and failed > 0:
            st.warning(f"{ctx.area_name(row['area'])}: {int(failed)} data check(s) failed in the last build; "
                       "see Data quality.", icon=":material/error:")
    st.caption("Data as of: " + " · ".join(parts) + f" · snapshot `{ctx.snap.version}`")


def context() -> Context:
    """Set up by app.py on every run, before the page runs."""
    return st.session_state["ccs_context"]


def show_table(ctx: Context, frame: pd.DataFrame, title: str, name: str, column_config: dict | None = None,
               height: int | str = "auto") -> None:
    """A table (already disclosed) with its CSV and XLSX downloads, made only when clicked."""
    labels = {c: c.replace("_", " ").capitalize() for c in frame.columns}  # exports keep the plain column names
    st.dataframe(frame, hide_index=True, column_config={**labels, **(column_config or {})}, height=height)
    header = partial(exports.header_rows, ctx.snap, ctx.filters, title)  # made with the file, when clicked
    left, right, _ = st.columns([1, 1, 6])
    left.download_button("CSV", lambda: exports.to_csv(frame, header()), exports.file_name(name, ctx.filters, "csv"),
                         mime="text/csv", key=f"csv_{name}", on_click="ignore", icon=":material/download:")
    right.download_button("XLSX", lambda: exports.to_xlsx(frame, header(), name),
                          exports.file_name(name, ctx.filters, "xlsx"), key=f"xlsx_{name}", on_click="ignore",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          icon=":material/download:")


def area_label_column(ctx: Context, frame: pd.DataFrame) -> pd.DataFrame:
    """Area keys and organisation types replaced by their names for display."""
    frame = frame.assign(area=frame["area"].map(ctx.area_name)) if "area" in frame.columns else frame
    for column in [c for c in frame.columns if c.endswith("organisation_type")]:
        frame = frame.assign(**{column: frame[column].map(lambda t: ORGANISATION_TYPE_NAMES.get(t, t))})
    return frame
