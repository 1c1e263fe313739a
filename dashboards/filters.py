"""The view a user has chosen: areas, period, issue groups, organisation types. Plain data, no Streamlit,
so the pages, the exports and the pack agree on what a filter means."""

import re
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Period:
    """A year (`2022`), quarter (`2022-Q3`) or month (`2022-03`), as in `mart_area_kpis.period_label`."""

    label: str

    def __post_init__(self):
        if not re.fullmatch(r"\d{4}(-Q[1-4]|-\d{2})?", self.label):
            raise ValueError(f"period must look like 2022, 2022-Q3 or 2022-03, not {self.label!r}")

    @property
    def kind(self) -> str:
        return "year" if len(self.label) == 4 else "quarter" if "Q" in self.label else "month"

    @property
    def year(self) -> int:
        return int(self.label[:4])

    @property
    def months(self) -> list[date]:
        """First days of the months the period covers."""
        if self.kind == "year":
            return [date(self.year, m, 1) for m in range(1, 13)]
        if self.kind == "quarter":
            first = (int(self.label[-1]) - 1) * 3 + 1
            return [date(self.year, m, 1) for m in range(first, first + 3)]
        return [date(self.year, int(self.label[5:]), 1)]

    @property
    def start(self) -> date:
        return self.months[0]

    @property
    def end(self) -> date:
        """First day after the period."""
        last = self.months[-1]
        return date(last.year + (last.month == 12), last.month % 12 + 1, 1)

    def year_earlier(self) -> "Period":
        return Period(str(self.year - 1) + self.label[4:])


@dataclass(frozen=True)
class Filters:
    areas: tuple[str, ...]
    period: Period
    issue_groups: tuple[str, ...] = field(default=())  # empty: all
    organisation_types: tuple[str, ...] = field(default=())  # empty: all

    @property
    def whole_area(self) -> bool:
        """True when nothing narrows an area below its whole (then area figures are shown as they are)."""
        return not self.issue_groups and not self.organisation_types

    def slug(self) -> str:
        """The filters for a file name: `norfolk+oldham_2022_money_vcs`."""
        parts = ["+".join(self.areas) or "all-areas", self.period.label]
        if self.issue_groups:
            parts.append("+".join(self.issue_groups))
        if self.organisation_types:
            parts.append("+".join(self.organisation_types))
        return "_".join(parts)

    def describe(self) -> str:
        text = f"Areas: {', '.join(self.areas)}; period: {self.period.label}"
        text += f"; issue groups: {', '.join(self.issue_groups) if self.issue_groups else 'all'}"
        text += f"; organisation types: {', '.join(self.organisation_types) if self.organisation_types else 'all'}"
        return text
