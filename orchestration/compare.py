"""`ccs compare`: the network comparison the evaluators published for Norfolk 2019 -> 2021, for any area
and pair of years, read from the serving snapshot.

For Norfolk 2019 vs 2021 it also prints the published figures and whether each reproduced figure lies
inside the synthetic world's calibration band (docs/area_systems.md): referrals within 3%, each
change within 15% of the stated change, average connections within 15%.
"""

from pathlib import Path

# (label, snapshot column in mart_network_by_area_year or mart_area_kpis, how it is compared)
FIGURES = (
    ("Referrals", "referrals", "count"),
    ("People referred", "people", "count"),
    ("Referrals to VCS organisations", "referrals_to_vcs", "count"),
    ("LA/statutory organisations referring", "referring_la_or_statutory", "count"),
    ("VCS organisations referring", "referring_vcs", "count"),
    ("Connections between organisations", "distinct_connections", "count"),
    ("Average connections per organisation", "average_connections_per_organisation", "ratio"),
    ("LA share of referrals (to or from)", "la_share", "share"),
)

# The evaluators' Norfolk figures (../shared/DESIGN.md): absolute values or stated changes.
NORFOLK_EVALUATION = {
    "referrals": {"before": 3283, "after": 4549, "tolerance": 0.03},
    "referrals_to_vcs": {"change": 0.20},
    "referring_la_or_statutory": {"change": 0.48},
    "referring_vcs": {"change": 0.37},
    "distinct_connections": {"change": 0.80},
    "average_connections_per_organisation": {"before": 5.7, "after": 7.2, "tolerance": 0.15},
}
CHANGE_TOLERANCE = 0.15


def comparison(snapshot: Path, area: str, before: int, after: int) -> list[dict]:
    """One row per figure: the two years' values, the change, and for Norfolk 2019/2021 the evaluators'
    figure and whether the reproduced one is within the calibration band."""
    import duckdb

    with duckdb.connect(str(snapshot), read_only=True) as con:
        rows = con.execute("""
            select n.year, n.*, k.people
            from mart_network_by_area_year as n
            join mart_area_kpis as k on k.area = n.area and k.period_type = 'year' and k.period_label = cast(n.year as varchar)
            where n.area = ? and n.year in (?, ?)""", [area, before, after]).df()
    years = {int(r["year"]): r for r in rows.to_dict("records")}
    missing = [y for y in (before, after) if y not in years]
    if missing:
        raise LookupError(f"no {area} figures for {', '.join(map(str, missing))} in {snapshot}")
    evaluated = area == "norfolk" and (before, after) == (2019, 2021)
    out = []
    for label, column, kind in FIGURES:
        a, b = years[before][column], years[after][column]
        row = {"figure": label, "before": a, "after": b, "change": (b - a if kind == "share" else b / a - 1) if a else None,
               "kind": kind, "evaluation": None, "within_band": None}
        stated = NORFOLK_EVALUATION.get(column) if evaluated else None
        if stated and "change" in stated:
            row["evaluation"] = f"{stated['change']:+.0%}"
            row["within_band"] = abs(row["change"] / stated["change"] - 1) <= CHANGE_TOLERANCE
        elif stated:
            row["evaluation"] = f"{stated['before']:,} -> {stated['after']:,}"
            row["within_band"] = (abs(a / stated["before"] - 1) <= stated["tolerance"]
                                  and abs(b / stated["after"] - 1) <= stated["tolerance"])
        out.append(row)
    return out


def format_value(value, kind: str) -> str:
    if kind == "share":
        return f"{value:.1%}"
    if kind == "ratio":
        return f"{value:.2f}"
    return f"{int(value):,}"


def print_comparison(rows: list[dict], area: str, before: int, after: int) -> None:
    header = f"{'':40} {before:>10} {after:>10} {'change':>9}"
    evaluated = any(r["evaluation"] for r in rows)
    if evaluated:
        header += f"  {'evaluators':>16}  within band"
    print(f"{area}: {before} -> {after} (from the serving snapshot)")
    print(header)
    for r in rows:
        change = ("" if r["change"] is None else f"{100 * r['change']:+.1f} pts" if r["kind"] == "share"
                  else f"{r['change']:+.0%}")
        line = f"{r['figure']:40} {format_value(r['before'], r['kind']):>10} {format_value(r['after'], r['kind']):>10} {change:>9}"
        if evaluated:
            line += f"  {r['evaluation'] or '':>16}  {'' if r['within_band'] is None else ('yes' if r['within_band'] else 'NO')}"
        print(line)
