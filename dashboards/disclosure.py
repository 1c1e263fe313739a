"""Disclosure control: the one place where counts below whole-area level are made safe to show.

The rule (DESIGN.md, after NHS Digital): 0 is shown, 1 to 7 are shown as `<8`, 8 or more are rounded
to the nearest 5; percentages are worked out from the rounded figures; a rate is only shown when its
denominator is at least 8. Pages, exports and the pack all go through `disclose_count`.

Configuration (environment, read once per call so tests can change it):
- `CCS_DISCLOSURE=off` turns the rule off (for internal quality work only; on by default),
- `CCS_DISCLOSURE_THRESHOLD` (default 8): counts from 1 to threshold-1 are hidden,
- `CCS_DISCLOSURE_ROUND_TO` (default 5): larger counts are rounded to a multiple of this.
"""

import math
import os
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Rule:
    enabled: bool = True
    threshold: int = 8
    round_to: int = 5

    @property
    def small(self) -> str:
        return f"<{self.threshold}"

    def describe(self) -> str:
        if not self.enabled:
            return "Disclosure control OFF: counts below area level are exact (not for publication)."
        return (f"Counts below whole-area level: 0 shown, 1-{self.threshold - 1} shown as {self.small}, "
                f"{self.threshold}+ rounded to the nearest {self.round_to}; percentages from rounded figures; "
                f"rates only where the denominator is at least {self.threshold}.")


def current_rule() -> Rule:
    enabled = os.environ.get("CCS_DISCLOSURE", "on").strip().lower() not in ("off", "0", "false", "no")
    return Rule(enabled=enabled, threshold=int(os.environ.get("CCS_DISCLOSURE_THRESHOLD", "8")),
                round_to=int(os.environ.get("CCS_DISCLOSURE_ROUND_TO", "5")))


def disclose_count(value, rule: Rule | None = None) -> int | str | None:
    """The rule for one count: an int that is safe to show, the small-number marker, or None (missing)."""
    rule = rule or current_rule()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    n = int(round(float(value)))
    if not rule.enabled or n == 0:
        return n
    if 0 < n < rule.threshold:
        return rule.small
    return int(math.floor(n / rule.round_to + 0.5) * rule.round_to)  # half up: 12.5 -> 15, not banker's 10


def disclosed_number(value, rule: Rule | None = None) -> float | None:
    """The count as a number for charts and arithmetic: rounded, or None where it is hidden."""
    shown = disclose_count(value, rule)
    return None if shown is None or isinstance(shown, str) else float(shown)


def disclose_rate(numerator, denominator, rule: Rule | None = None) -> float | None:
    """A proportion from the disclosed figures: None when the denominator is under the threshold or
    the numerator is hidden (a percentage of a small count would give the count away)."""
    rule = rule or current_rule()
    if denominator is None or numerator is None or pd.isna(denominator) or pd.isna(numerator):
        return None
    if rule.enabled and denominator < rule.threshold:
        return None
    top, bottom = disclosed_number(numerator, rule), disclosed_number(denominator, rule)
    if top is None or not bottom:
        return None
    return top / bottom


def disclose_table(frame: pd.DataFrame, counts: list[str], rates: dict[str, tuple[str, str]] | None = None,
                   rule: Rule | None = None) -> pd.DataFrame:
    """A copy of `frame` safe to show: `counts` become text (`1235`, `<8`, `0`), each rate column named
    in `rates` is recomputed as a percentage text from its (numerator, denominator) columns."""
    rule = rule or current_rule()
    out = frame.copy()
    for name, (numerator, denominator) in (rates or {}).items():
        values = [disclose_rate(n, d, rule) for n, d in zip(frame[numerator], frame[denominator])]
        out[name] = [format_percent(v) for v in values]
    for name in counts:
        out[name] = [format_count(disclose_count(v, rule)) for v in frame[name]]
    return out


def format_count(shown) -> str:
    return "" if shown is None else str(shown)


def format_percent(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value * 100:.1f}%"


def disclose_change(now, before, rule: Rule | None = None) -> tuple[float | None, float | None]:
    """The rise and the growth between two counts, from their disclosed figures: (None, None) where
    either is hidden; growth only when the earlier count reaches the threshold."""
    rule = rule or current_rule()
    a, b = disclosed_number(now, rule), disclosed_number(before, rule)
    if a is None or b is None:
        return None, None
    growth = disclose_rate(now, before, rule)
    return a - b, None if growth is None else growth - 1


def disclose_per_count(amount, count, rule: Rule | None = None) -> float | None:
    """An amount per count (pounds per referral) from the disclosed count: None when the count is
    under the threshold or hidden. Dividing by the exact count would give it away to anyone who knows
    the amount (grants are published), so the divisor is the rounded figure, as for percentages."""
    rule = rule or current_rule()
    if amount is None or count is None or pd.isna(amount) or pd.isna(count):
        return None
    if rule.enabled and count < rule.threshold:
        return None
    bottom = disclosed_number(count, rule)
    if not bottom:
        return None
    return float(amount) / bottom
