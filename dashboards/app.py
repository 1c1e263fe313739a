"""CCS Insights dashboards: `streamlit run dashboards/app.py`. Reads only the serving snapshot."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `dashboards` importable without an install

from dashboards import ui  # noqa: E402
from dashboards.figures import area_names  # noqa: E402

st.set_page_config(page_title="CCS Insights", page_icon=":material/diversity_3:", layout="wide")

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/grant_priorities.py", title="Grant priorities", icon=":material/volunteer_activism:"),
    st.Page("views/provision_gaps.py", title="Provision gaps", icon=":material/map:"),
    st.Page("views/network.py", title="Network", icon=":material/hub:"),
    st.Page("views/data_quality.py", title="Data quality", icon=":material/fact_check:"),
]

page = st.navigation(PAGES)
snap = ui.load_snapshot()
filters = ui.sidebar_filters(snap)
st.session_state["ccs_context"] = ui.Context(snap, filters, area_names(snap))
ui.pack_button(ui.context())
st.title(page.title)
ui.data_status(ui.context())
page.run()
