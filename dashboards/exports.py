"""Tables to take away: CSV and XLSX with header rows stating the source, the filters and the
disclosure rule. The frames given here are already disclosed (the same as shown on the page)."""

import csv
import io
import re

import pandas as pd

from .disclosure import Rule, current_rule
from .filters import Filters
from .snapshot import Snapshot

OGL = "Contains public sector information licensed under the Open Government Licence v3.0."


def data_as_of_text(snap: Snapshot, areas: tuple[str, ...] = ()) -> str:
    info = snap.table("snapshot_info")
    if areas:
        info = info[info["area"].isin(areas)]
    return "; ".join(f"{row.area} {pd.Timestamp(row.data_as_of):%Y-%m-%d %H:%M}" for row in info.sort_values("area").itertuples())


def header_rows(snap: Snapshot, filters: Filters, title: str, rule: Rule | None = None) -> list[str]:
    rule = rule or current_rule()
    return [
        f"CCS Insights: {title}",
        f"Source: CCS Insights serving snapshot {snap.version}; data as of {data_as_of_text(snap, filters.areas)}",
        f"Filters: {filters.describe()}",
        f"Disclosure control: {rule.describe()}",
        OGL,
    ]


def file_name(name: str, filters: Filters, extension: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9+_.-]+", "-", f"ccs_{name}_{filters.slug()}")
    return f"{slug}.{extension}"


def to_csv(frame: pd.DataFrame, header: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for line in header:
        writer.writerow([line])
    writer.writerow([])
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        writer.writerow(["" if pd.isna(v) else v for v in row])
    return out.getvalue().encode("utf-8")


def to_xlsx(frame: pd.DataFrame, header: list[str], sheet: str = "data") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    ws = book.active
    ws.title = re.sub(r"[\[\]:*?/\\]", "-", sheet)[:31]
    for i, line in enumerate(header, start=1):
        ws.cell(row=i, column=1, value=line).font = Font(bold=(i == 1))
    top = len(header) + 2
    for j, name in enumerate(frame.columns, start=1):
        ws.cell(row=top, column=j, value=str(name)).font = Font(bold=True)
    for i, row in enumerate(frame.itertuples(index=False), start=top + 1):
        for j, value in enumerate(row, start=1):
            ws.cell(row=i, column=j, value=excel_value(value))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def excel_value(value):
    """Numbers as numbers (a disclosed count is text like `1235` or `<8`), everything else as text."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(tzinfo=None)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value
