"""Charts (Altair, bundled with Streamlit; nothing loaded from the internet) and the network layout.
Values passed in are already disclosed: hidden small counts arrive as None."""

import json

import altair as alt
import numpy as np
import pandas as pd

TYPE_COLOURS = {"local_authority": "#1f77b4", "statutory": "#9467bd", "vcs": "#2ca02c"}
GROUP_COLOURS = {"money": "#1f77b4", "crisis": "#d62728", "housing": "#ff7f0e", "employment": "#8c564b",
                 "legal": "#9467bd", "wellbeing": "#2ca02c", "family_care": "#e377c2", "other": "#7f7f7f"}


def trend(frame: pd.DataFrame, title: str) -> alt.Chart:
    """Monthly referrals by issue group (columns month, issue_group, referrals)."""
    return alt.Chart(frame, title=title).mark_line(point=False).encode(
        x=alt.X("month:T", title=None),
        y=alt.Y("referrals:Q", title="referrals"),
        color=alt.Color("issue_group:N", title="issue group",
                        scale=alt.Scale(domain=list(GROUP_COLOURS), range=list(GROUP_COLOURS.values()))),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), "issue_group:N", "referrals:Q"],
    ).properties(height=260)


def choropleth(features: list[dict], field: str, title: str, scheme: str, legend: str, reverse: bool = False,
               domain: list | None = None) -> dict:
    """A Vega-Lite map of GeoJSON features coloured by one of their properties; no base map, no tiles.
    Written as a plain spec: Altair would validate and copy the inline GeoJSON on every rerun (slow)."""
    scale = {"scheme": scheme, "reverse": reverse, **({"domain": domain} if domain else {})}
    return {
        "title": title,
        "height": 420,
        "data": {"values": features},
        "mark": {"type": "geoshape", "stroke": "white", "strokeWidth": 0.3},
        "projection": {"type": "mercator"},
        "encoding": {
            "color": {"condition": {"test": f"!isValid(datum.properties.{field})", "value": "#d9d9d9"},
                      "field": f"properties.{field}", "type": "quantitative", "title": legend, "scale": scale},
            "tooltip": [{"field": "properties.name", "type": "nominal", "title": "neighbourhood"},
                        {"field": "properties.ward", "type": "nominal", "title": "ward"},
                        {"field": "properties.referrals", "type": "nominal", "title": "referrals"},
                        {"field": "properties.rate", "type": "quantitative", "title": "per 1,000 residents", "format": ".1f"},
                        {"field": "properties.decile", "type": "quantitative", "title": "deprivation decile"}],
        },
    }


def map_features(reach: pd.DataFrame, boundaries: pd.DataFrame) -> list[dict]:
    """GeoJSON features for one area's neighbourhoods with the (disclosed) figures as properties.
    `reach` has lsoa11_code, lsoa11_name, ward_name, referrals (text), rate, deprivation_decile."""
    shapes = dict(zip(boundaries["lsoa11_code"], boundaries["geometry"]))
    features = []
    for row in reach.to_dict("records"):
        shape = shapes.get(row["lsoa11_code"])
        if shape is None:
            continue
        features.append({"type": "Feature", "geometry": json.loads(shape), "properties": {
            "name": row["lsoa11_name"], "ward": row["ward_name"], "referrals": row["referrals"],
            "rate": None if row["rate"] is None or pd.isna(row["rate"]) else float(row["rate"]),
            "decile": int(row["deprivation_decile"]) if pd.notna(row["deprivation_decile"]) else None}})
    return features


def spring_layout(nodes: list[str], edges: list[tuple[str, str, float]], seed: int = 7, iterations: int = 120) -> dict:
    """Fruchterman-Reingold positions in [-1, 1] (numpy only): linked organisations pull together,
    all push apart. Deterministic for a given seed."""
    n = len(nodes)
    if n == 0:
        return {}
    index = {name: i for i, name in enumerate(nodes)}
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-1, 1, (n, 2))
    weight = np.zeros((n, n))
    for a, b, w in edges:
        if a in index and b in index and a != b:
            weight[index[a], index[b]] += w
            weight[index[b], index[a]] += w
    weight = np.log1p(weight)  # a few very busy links should not collapse the picture
    k = 1.0 / np.sqrt(n)
    temperature = 0.2
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        distance = np.maximum(np.linalg.norm(delta, axis=2), 0.01)
        force = (k * k / distance**2 - weight * distance / k)[:, :, None] * delta
        move = force.sum(axis=1) - 2.0 * k * pos * np.linalg.norm(pos, axis=1)[:, None]  # gravity keeps loose ends in
        length = np.maximum(np.linalg.norm(move, axis=1), 1e-9)[:, None]
        pos += move / length * np.minimum(length, temperature)
        temperature *= 0.97
    pos -= pos.mean(axis=0)
    pos /= max(np.abs(pos).max(), 1e-9)
    return {name: (float(pos[i, 0]), float(pos[i, 1])) for name, i in index.items()}


def network(nodes: pd.DataFrame, edges: pd.DataFrame, positions: dict, title: str) -> alt.LayerChart:
    """Organisations as circles coloured by type and sized by volume; referral volume as line width.
    nodes: organisation_id, organisation_name, organisation_type, volume (number or None), volume_text;
    edges: referring_organisation_id, receiving_organisation_id, referrals (number or None), referrals_text."""
    node_rows = nodes.assign(x=[positions[o][0] for o in nodes["organisation_id"]],
                             y=[positions[o][1] for o in nodes["organisation_id"]],
                             size=nodes["volume"].fillna(1))
    edge_rows = edges.assign(
        x=[positions[o][0] for o in edges["referring_organisation_id"]],
        y=[positions[o][1] for o in edges["referring_organisation_id"]],
        x2=[positions[o][0] for o in edges["receiving_organisation_id"]],
        y2=[positions[o][1] for o in edges["receiving_organisation_id"]],
        width=edges["referrals"].fillna(1))
    axis = alt.Axis(labels=False, ticks=False, grid=False, domain=False, title=None)
    lines = alt.Chart(edge_rows).mark_rule(color="#888", opacity=0.35).encode(
        x=alt.X("x:Q", axis=axis), y=alt.Y("y:Q", axis=axis), x2="x2:Q", y2="y2:Q",
        strokeWidth=alt.StrokeWidth("width:Q", scale=alt.Scale(range=[0.4, 8]), legend=None),
        tooltip=[alt.Tooltip("referrals_text:N", title="referrals")])
    circles = alt.Chart(node_rows).mark_circle(opacity=0.9, stroke="white", strokeWidth=0.5).encode(
        x="x:Q", y="y:Q",
        color=alt.Color("organisation_type:N", title="organisation type",
                        scale=alt.Scale(domain=list(TYPE_COLOURS), range=list(TYPE_COLOURS.values()))),
        size=alt.Size("size:Q", scale=alt.Scale(range=[20, 600]), legend=None),
        tooltip=[alt.Tooltip("organisation_name:N", title="organisation"),
                 alt.Tooltip("organisation_type:N", title="type"),
                 alt.Tooltip("volume_text:N", title="referrals sent and received")])
    return alt.layer(lines, circles, title=title).properties(height=560).configure_view(strokeWidth=0)



def funding_against_demand(frame: pd.DataFrame, title: str) -> dict:
    """One area's issues as points: referrals (rounded) across, funding attributed up, unmet referrals
    (rounded) as size, coloured by issue group. A plain Vega-Lite spec (Altair's facets drew slowly).
    frame: issue_name, issue_group, referrals, unmet (numbers or None where hidden), funding_attributed."""
    rows = [{"issue": r["issue_name"], "issue_group": r["issue_group"], "referrals": r["referrals"], "unmet": r["unmet"],
             "funding": None if pd.isna(r["funding_attributed"]) else float(r["funding_attributed"])}
            for r in frame.to_dict("records") if r["referrals"] is not None and not pd.isna(r["referrals"])]
    return {
        "title": title,
        "height": 240,
        "data": {"values": rows},
        "mark": {"type": "circle", "opacity": 0.75, "stroke": "white", "strokeWidth": 0.5},
        "encoding": {
            "x": {"field": "referrals", "type": "quantitative", "title": "referrals (rounded)"},
            "y": {"field": "funding", "type": "quantitative", "title": "funding attributed (£)", "axis": {"format": ",.0f"}},
            "size": {"field": "unmet", "type": "quantitative", "title": "unmet referrals", "scale": {"range": [20, 500]}},
            "color": {"field": "issue_group", "type": "nominal", "title": "issue group",
                      "scale": {"domain": list(GROUP_COLOURS), "range": list(GROUP_COLOURS.values())}},
            "tooltip": [{"field": "issue", "type": "nominal"}, {"field": "referrals", "type": "quantitative"},
                        {"field": "unmet", "type": "quantitative"},
                        {"field": "funding", "type": "quantitative", "title": "funding £", "format": ",.0f"}],
        },
    }
