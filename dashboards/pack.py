"""The steering-group pack: a PowerPoint deck (python-pptx) for one area and period, from the serving
snapshot only, with the same figures and the same disclosure rule as the dashboards.

    python -m dashboards.pack --area norfolk --period 2022 --out pack.pptx [--snapshot FILE]

Charts are native PowerPoint charts and the network picture is drawn with shapes, so the deck opens in
PowerPoint and LibreOffice without pictures rendered elsewhere.
"""

import argparse
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION
from pptx.enum.shapes import MSO_CONNECTOR, MSO_SHAPE
from pptx.util import Emu, Inches, Pt

from . import charts, figures, funding
from .disclosure import current_rule, disclose_change, disclose_count, disclose_table, disclosed_number, format_count
from .exports import OGL, data_as_of_text
from .filters import Filters, Period
from .snapshot import Snapshot, snapshot_path

WIDTH, HEIGHT = Inches(13.333), Inches(7.5)
DARK = RGBColor(0x1F, 0x2A, 0x44)
BOUNDARIES = ("Boundaries: Source: Office for National Statistics licensed under the Open Government Licence v3.0. "
              "Contains OS data © Crown copyright and database right 2024.")


def build_pack(snapshot: Path, area: str, period: str, out: Path) -> Path:
    """Write the pack for `area` and `period` (`2022`, `2022-Q3`, `2022-03`) to `out`; returns `out`."""
    snap = Snapshot(snapshot)
    try:
        names = figures.area_names(snap)
        if area not in names:
            raise ValueError(f"area {area!r} is not in the snapshot (it has {', '.join(sorted(names))})")
        if period not in figures.period_labels(snap):
            raise ValueError(f"period {period!r} is not in the snapshot")
        deck = Deck(snap, Filters((area,), Period(period)), names[area])
        deck.title_slide()
        deck.kpi_slide()
        deck.trend_slide()
        deck.network_slide()
        deck.network_comparison_slide()
        deck.gaps_slide()
        deck.repeat_crisis_slide()
        deck.emerging_slide()
        deck.funding_slide()
        deck.data_slide()
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        deck.presentation.save(out)
        return out
    finally:
        snap.close()


def pack_bytes(snapshot: Path, area: str, period: str) -> bytes:
    """The pack as bytes, for the app's download button (made when clicked)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return build_pack(snapshot, area, period, Path(folder) / "pack.pptx").read_bytes()


class Deck:
    def __init__(self, snap: Snapshot, f: Filters, area_name: str):
        self.snap, self.f, self.area_name = snap, f, area_name
        self.area = f.areas[0]
        self.presentation = Presentation()
        self.presentation.slide_width, self.presentation.slide_height = WIDTH, HEIGHT
        info = snap.table("snapshot_info").set_index("area")
        self.network_name = info["network_name"].get(self.area) if "network_name" in info.columns else None

    # -- building blocks -------------------------------------------------------------------------
    def slide(self, title: str, note: str | None = None):
        slide = self.presentation.slides.add_slide(self.presentation.slide_layouts[6])  # blank
        box = slide.shapes.add_textbox(Inches(0.5), Inches(0.3), WIDTH - Inches(1), Inches(0.8))
        run = box.text_frame.paragraphs[0].add_run()
        run.text = title
        run.font.size, run.font.bold, run.font.color.rgb = Pt(28), True, DARK
        footer = f"{self.area_name} · {self.f.period.label} · data as of {data_as_of_text(self.snap, (self.area,))}"
        if note:
            footer = f"{note}  ·  {footer}"
        self.text(slide, footer, Inches(0.5), HEIGHT - Inches(0.5), WIDTH - Inches(1), Inches(0.4), size=10,
                  colour=RGBColor(0x66, 0x66, 0x66))
        return slide

    @staticmethod
    def text(slide, text: str, left, top, width, height, size: int = 16, bold: bool = False, colour=None):
        box = slide.shapes.add_textbox(left, top, width, height)
        frame = box.text_frame
        frame.word_wrap = True
        for i, line in enumerate(text.split("\n")):
            paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            run = paragraph.add_run()
            run.text = line
            run.font.size, run.font.bold = Pt(size), bold
            if colour is not None:
                run.font.color.rgb = colour
        return box

    @staticmethod
    def table(slide, frame: pd.DataFrame, left, top, width, size: int = 11, headers: list[str] | None = None):
        rows, columns = len(frame) + 1, len(frame.columns)
        shape = slide.shapes.add_table(rows, columns, left, top, width, Inches(0.3) * rows)
        table = shape.table
        for j, name in enumerate(headers or [str(c).replace("_", " ") for c in frame.columns]):
            table.cell(0, j).text = name
        for i, row in enumerate(frame.itertuples(index=False), start=1):
            for j, value in enumerate(row):
                table.cell(i, j).text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
        for cell in (table.cell(i, j) for i in range(rows) for j in range(columns)):
            for paragraph in cell.text_frame.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(size)
        return table

    def empty(self, slide, message: str) -> None:
        self.text(slide, message, Inches(0.5), Inches(1.5), WIDTH - Inches(1), Inches(1), size=18)

    # -- slides ----------------------------------------------------------------------------------
    def title_slide(self) -> None:
        slide = self.presentation.slides.add_slide(self.presentation.slide_layouts[6])
        network = f"{self.network_name}: " if self.network_name else ""
        self.text(slide, f"{network}{self.area_name}", Inches(0.8), Inches(2.2), WIDTH - Inches(1.6), Inches(1.2),
                  size=40, bold=True, colour=DARK)
        self.text(slide, f"Steering group pack · {self.f.period.label}", Inches(0.8), Inches(3.4), WIDTH - Inches(1.6),
                  Inches(0.8), size=24)
        made = datetime.now(timezone.utc).strftime("%d %B %Y")
        self.text(slide, f"Data as of {data_as_of_text(self.snap, (self.area,))} · snapshot {self.snap.version} · made {made}\n"
                  "CCS Insights", Inches(0.8), Inches(4.4), WIDTH - Inches(1.6), Inches(1), size=14)

    def kpi_slide(self) -> None:
        slide = self.slide(f"Key figures, {self.f.period.label}", "Whole-area figures")
        kpis = figures.kpis(self.snap, self.f)
        if kpis.empty:
            return self.empty(slide, f"No figures for {self.f.period.label}.")
        row = kpis.iloc[0]

        def count(v):
            return "" if v is None or pd.isna(v) else f"{int(v):,}"

        def percent(v, signed=False):
            return "" if v is None or pd.isna(v) else (f"{v:+.0%}" if signed else f"{v:.0%}")

        rows = [
            ("Referrals", count(row["referrals"]), count(row["referrals_last_year"]), percent(row["referrals_growth"], True)),
            ("People referred", count(row["people"]), count(row["people_last_year"]), percent(row["people_growth"], True)),
            ("Organisations active", count(row["organisations_active"]), "", ""),
            ("Staff users active", count(row["users_active"]), "", ""),
            ("Acceptance rate (accepted / responded)", percent(row["acceptance_rate"]), "", ""),
            ("Local-authority share (to or from)", percent(row["la_share"]), "", ""),
        ]
        frame = pd.DataFrame(rows, columns=["measure", self.f.period.label, self.f.period.year_earlier().label, "change"])
        self.table(slide, frame, Inches(0.8), Inches(1.4), Inches(11.5), size=16)
        if not row["is_complete"]:
            self.text(slide, "Part period: the data does not cover all of it.", Inches(0.8), Inches(5.6), Inches(10),
                      Inches(0.5), size=14)

    def trend_slide(self) -> None:
        slide = self.slide("Monthly referrals by issue group", "Months with fewer than 8 referrals in a group are left blank")
        trend = figures.monthly_trend(self.snap, self.f)
        trend = trend[trend["month"] >= pd.Timestamp(self.f.period.end) - pd.DateOffset(months=24)]
        if trend.empty:
            return self.empty(slide, "No referrals in the 24 months to the end of the period.")
        table = trend.pivot_table(index="month", columns="issue_group", values="referrals", aggfunc="sum")
        data = CategoryChartData()
        data.categories = [m.strftime("%b %Y") for m in table.index]
        for group in [g for g in charts.GROUP_COLOURS if g in table.columns]:
            data.add_series(group.replace("_", " & "), [disclosed_number(v) if pd.notna(v) else 0 for v in table[group]])
        chart = slide.shapes.add_chart(XL_CHART_TYPE.LINE, Inches(0.5), Inches(1.2), WIDTH - Inches(1), Inches(5.6),
                                       data).chart
        chart.has_legend = True
        chart.legend.position = XL_LEGEND_POSITION.RIGHT
        chart.legend.include_in_layout = False
        for series, group in zip(chart.series, [g for g in charts.GROUP_COLOURS if g in table.columns]):
            series.format.line.color.rgb = RGBColor.from_string(charts.GROUP_COLOURS[group].lstrip("#"))
            series.smooth = False

    def network_slide(self) -> None:
        year = self.f.period.year
        slide = self.slide(f"The network in {year}", "Circles: organisations by type, sized by volume; lines: referrals between them")
        nodes, edges = figures.network_graph(self.snap, self.area, year)
        if nodes.empty:
            return self.empty(slide, f"No organisations active in {year}.")
        positions = charts.spring_layout(list(nodes["organisation_id"]), list(zip(
            edges["referring_organisation_id"], edges["receiving_organisation_id"], edges["referrals"])))
        left, top, size = Inches(0.7), Inches(1.2), Inches(5.6)

        def point(organisation):
            x, y = positions[organisation]
            return Emu(int(left + (x + 1) / 2 * size * 1.6)), Emu(int(top + (1 - (y + 1) / 2) * size))

        busiest = edges.sort_values("referrals", ascending=False).head(300)  # enough to show the shape, few enough to open fast
        most = max(disclosed_number(busiest["referrals"].max()) or 1, 1)
        for row in busiest.itertuples():
            (x1, y1), (x2, y2) = point(row.referring_organisation_id), point(row.receiving_organisation_id)
            line = slide.shapes.add_connector(MSO_CONNECTOR.STRAIGHT, x1, y1, x2, y2)
            line.line.color.rgb = RGBColor(0xAA, 0xAA, 0xAA)
            line.line.width = Pt(0.5 + 5 * (disclosed_number(row.referrals) or 1) / most)
        volume = [disclosed_number(v) or 1 for v in nodes["referrals_sent"] + nodes["referrals_received"]]
        biggest = max(max(volume), 1)
        for row, v in zip(nodes.itertuples(), volume):
            diameter = Emu(int(Inches(0.08) + Inches(0.35) * (v / biggest) ** 0.5))
            x, y = point(row.organisation_id)
            dot = slide.shapes.add_shape(MSO_SHAPE.OVAL, x - diameter // 2, y - diameter // 2, diameter, diameter)
            dot.fill.solid()
            dot.fill.fore_color.rgb = RGBColor.from_string(charts.TYPE_COLOURS.get(row.organisation_type, "#7f7f7f").lstrip("#"))
            dot.line.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
        legend = "\n".join(f"● {label}" for label in ("Local authority (blue)", "Statutory (purple)", "VCS (green)"))
        self.text(slide, legend, Inches(10.3), Inches(1.3), Inches(2.8), Inches(1.2), size=12)
        flows = figures.top_flows(self.snap, self.f, limit=8)
        flows = disclose_table(flows, ["referrals"])
        lines = [f"{r.referring_organisation_name} → {r.receiving_organisation_name}: {r.referrals}" for r in flows.itertuples()]
        self.text(slide, "Top flows\n" + "\n".join(lines), Inches(10.3), Inches(2.7), Inches(2.9), Inches(4), size=9)

    def network_comparison_slide(self) -> None:
        year = self.f.period.year
        history = figures.network_by_year(self.snap, (self.area,))
        earlier = sorted(y for y in history["year"] if y < year)
        slide = self.slide(f"The network, {earlier[-1] if earlier else year} to {year}", "Whole-area figures")
        if not earlier:
            return self.empty(slide, f"No earlier year to compare {year} with.")
        table = figures.network_comparison(self.snap, self.area, year, earlier[-1])

        def show(measure, v):
            if v is None or pd.isna(v):
                return ""
            if "share" in measure.lower():
                return f"{v:.0%}"
            return f"{v:.1f}" if "Average" in measure else f"{int(v):,}"

        rows = [(r["measure"], show(r["measure"], r[str(earlier[-1])]), show(r["measure"], r[str(year)]),
                 "" if r["change"] is None or pd.isna(r["change"]) else f"{r['change']:+.0%}") for r in table.to_dict("records")]
        frame = pd.DataFrame(rows, columns=["measure", str(earlier[-1]), str(year), "change"])
        self.table(slide, frame, Inches(0.8), Inches(1.4), Inches(11.5), size=15)

    def gaps_slide(self) -> None:
        year = self.f.period.year
        slide = self.slide(f"Gaps and unmet demand, {year}", "Counts rounded to 5; fewer than 8 shown as <8")
        unmet = figures.unmet_by_issue_place(self.snap, self.f).head(8)
        unmet = disclose_table(unmet[["issue_name", "place_name", "referrals", "unmet", "declined_no_capacity", "expired",
                                      "bounce_referrals"]], ["referrals", "unmet", "declined_no_capacity", "expired",
                                                             "bounce_referrals"])
        self.text(slide, "Unmet demand by issue and place", Inches(0.5), Inches(1.1), Inches(7.5), Inches(0.4), size=14, bold=True)
        self.table(slide, unmet, Inches(0.5), Inches(1.5), Inches(7.6), size=10,
                   headers=["issue", "place", "referrals", "unmet", "no capacity", "expired", "bounced"])
        reach = figures.neighbourhood_reach(self.snap, self.f)
        under = reach[reach["is_under_reached"]]
        gaps = figures.provision_gaps(self.snap, self.f)
        lines = [f"{len(under)} deprived neighbourhoods (decile 1-2) with a referral rate below the area median"]
        for row in under.sort_values("referrals_per_1000").head(5).itertuples():
            lines.append(f"  {row.lsoa11_name} ({row.ward_name}), decile {row.deprivation_decile}: "
                         f"{format_count(disclose_count(row.referrals))} referrals")
        lines.append("")
        lines.append(f"{len(gaps)} issue × place cells with demand and no service accepting it")
        for row in gaps.head(5).itertuples():
            lines.append(f"  {row.issue_name} in {row.place_name}: {format_count(disclose_count(row.referrals))} referrals")
        self.text(slide, "\n".join(lines), Inches(8.4), Inches(1.1), Inches(4.6), Inches(5.5), size=11)

    def repeat_crisis_slide(self) -> None:
        slide = self.slide("Repeat crisis", "Cohort: episodes ending that year; repeat: a new episode within 365 days")
        people = figures.repeat_crisis(self.snap, self.f)
        if len(people):
            row = people.iloc[0]
            self.text(slide, f"In {self.f.period.year}: {int(row['people_in_crisis']):,} people in crisis, "
                      f"{int(row['first_time_people']):,} for the first time and {int(row['returning_people']):,} returning "
                      f"(whole area).", Inches(0.5), Inches(1.1), WIDTH - Inches(1), Inches(0.6), size=16)
        cohorts = figures.repeat_crisis_cohorts(self.snap, self.f)
        if cohorts.empty:
            return
        cohorts = cohorts.assign(status=cohorts["is_final"].map({True: "final", False: "provisional"}))
        shown = disclose_table(cohorts[["cohort_year", "advice", "episodes", "repeated_within_365_days", "status"]],
                               ["episodes", "repeated_within_365_days"],
                               rates={"repeat rate": ("repeated_within_365_days", "episodes")})
        shown["advice"] = shown["advice"].map({"all": "all", "with_advice": "with money/housing advice",
                                               "without_advice": "without advice"}).fillna(shown["advice"])
        self.table(slide, shown.tail(12), Inches(0.8), Inches(1.8), Inches(11.5), size=12,
                   headers=["cohort", "advice", "episodes", "repeated within 365 days", "status", "repeat rate"])

    def emerging_slide(self) -> None:
        slide = self.slide(f"Emerging issues, {self.f.period.label}", "Rising significantly above the issue's own seasonal baseline")
        emerging = figures.emerging_issues(self.snap, self.f).head(10)
        if emerging.empty:
            return self.empty(slide, "No issue rose significantly above its own seasonal baseline in this period.")
        rows = []
        for r in emerging.to_dict("records"):
            rise, _ = disclose_change(r["referrals"], r["baseline"])
            rows.append((pd.Timestamp(r["month"]).strftime("%b %Y"), r["issue_name"], r["issue_group"],
                         format_count(disclose_count(r["referrals"])), format_count(disclose_count(r["baseline"])),
                         "" if rise is None else f"{rise:+.0f}"))
        frame = pd.DataFrame(rows, columns=["month", "issue", "group", "referrals", "expected", "rise"])
        self.table(slide, frame, Inches(0.8), Inches(1.4), Inches(11.5), size=13)

    def funding_slide(self) -> None:
        year = self.f.period.year
        slide = self.slide(f"Funding against demand, {year}",
                           "Grants from 360Giving, amounts as published; referral counts rounded to 5, fewer than 8 shown as <8")
        if not figures.has_funding(self.snap):
            return self.empty(slide, "This snapshot has no grants tables (360Giving).")
        totals = figures.funding_by_area(self.snap, self.f).iloc[0]
        if totals["grants"] == 0:
            self.empty(slide, f"No grants awarded in {year} are in the 360Giving data for {self.area_name}.")
        else:
            funders = figures.funding_by_funder(self.snap, self.f)
            by_funder = "; ".join(f"{r.funding_org_name} {funding.pounds(r.amount_awarded)}" for r in funders.itertuples())
            self.text(slide, f"{funding.pounds(totals['amount_awarded'])} in {totals['grants']:,} grants (whole area): "
                      f"network organisations {funding.pounds(totals['amount_to_network_organisations'])}, other "
                      f"organisations {funding.pounds(totals['amount_to_other_organisations'])}, individuals "
                      f"{funding.pounds(totals['amount_to_individuals'])}.\nBy funder: {by_funder}.",
                      Inches(0.5), Inches(1.05), WIDTH - Inches(1), Inches(0.8), size=13)
        issues = funding.by_issue(self.snap, self.f).head(8)
        self.text(slide, "Issues with most unmet demand", Inches(0.5), Inches(2.0), Inches(7.5), Inches(0.4), size=14, bold=True)
        rows = pd.DataFrame({"issue": issues["issue_name"], "referrals": issues["referrals"], "unmet": issues["unmet_referrals"],
                             "growth": ["" if g is None or pd.isna(g) else f"{g:+.0%}" for g in issues["growth"]],
                             "funding": [funding.pounds(v) for v in issues["funding_attributed"]],
                             "per referral": [funding.pounds(v) for v in issues["funding_per_referral"]]})
        self.table(slide, rows, Inches(0.5), Inches(2.4), Inches(7.8), size=10,
                   headers=["issue", "referrals", "unmet", "growth", "funding", "per referral"])
        neglected = funding.high_demand(self.snap, self.f).head(8)
        lines = ["High demand, little or no funding"]
        for r in neglected.to_dict("records"):
            lines.append(f"{funding.together(r['organisation_names'])}: {r['referrals_received']} received, "
                         f"{funding.pounds(r['amount_awarded'])} ({r['funding_level'].lower()})")
        if len(neglected) == 0:
            lines.append("None in the top quarter of demand went without funding.")
        self.text(slide, "\n".join(lines), Inches(8.6), Inches(2.0), Inches(4.4), Inches(4.6), size=10)

    def data_slide(self) -> None:
        slide = self.slide("About these figures")
        info = self.snap.table("snapshot_info").set_index("area").loc[self.area]
        lines = [f"Source: CCS Insights serving snapshot {self.snap.version}.",
                 f"Data as of {data_as_of_text(self.snap, (self.area,))}"
                 + (f"; freshness: {info['freshness']}" if "freshness" in info.index else "")
                 + (f"; data checks passed {info['checks_passed']}, failed {info['checks_failed']}"
                    if "checks_failed" in info.index else "") + ".",
                 "", current_rule().describe(), "",
                 "Referrals are counted in the month they were sent. Deprivation: English Indices of Deprivation 2019 "
                 "(MHCLG) and WIMD 2019 (Welsh Government); population: ONS mid-2019 estimates.",
                 "", OGL, BOUNDARIES]
        self.text(slide, "\n".join(lines), Inches(0.5), Inches(1.3), WIDTH - Inches(1), Inches(5), size=16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", required=True)
    parser.add_argument("--period", required=True, help="2022, 2022-Q3 or 2022-03")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--snapshot", type=Path, default=None, help="default: CCS_SNAPSHOT or $CCS_HOME/serving/current.duckdb")
    args = parser.parse_args(argv)
    out = build_pack(args.snapshot or snapshot_path(), args.area, args.period, args.out)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
