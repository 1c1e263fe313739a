"""Contract rules compiled into a Great Expectations suite, run on every batch (pandas, in memory).

Row-level failures come back as (row, field, rule) so the rows can be quarantined with their reason;
GX only ever sees the non-personal columns. Great Expectations is imported here, lazily: its import
takes seconds.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pandas as pd

from .contracts import Field, SourceContract

UK = ZoneInfo("Europe/London")
ISO_8601 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)$"


@dataclass
class Failure:
    row: int  # index label in the batch frame
    field: str
    rule: str
    value: str | None


def parse_times(values: pd.Series, fmt: str) -> pd.Series:
    """Source timestamps as naive UTC (ISO 8601 with an offset) or naive local time; unparseable: NaT."""
    if fmt == "iso8601":
        parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        return parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.to_datetime(values, format=fmt, errors="coerce")


def labels_of(value, separator: str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [v.strip() for v in str(value).split(separator)] if separator else [str(value)]


def derived_columns(frame: pd.DataFrame, contract: SourceContract, now: datetime) -> tuple[pd.DataFrame, list]:
    """Columns GX can check where a rule needs a step first (several labels in one cell, a time to
    compare with now), and the expectations on them."""
    import great_expectations.expectations as gxe

    extra, expectations = {}, []
    for f in contract.fields:
        if f.valid_values and (f.separator or f.logical_type == "array"):
            allowed = set(f.valid_values)
            column = f"__unknown__{f.name}"
            extra[column] = frame[f.name].map(
                lambda v, sep=f.separator: next((x for x in labels_of(v, sep) if x not in allowed), None))
            expectations.append((gxe.ExpectColumnValuesToBeNull(column=column), f.name, "invalidValues"))
        if f.not_in_future:
            column = f"__parsed__{f.name}"
            extra[column] = parse_times(frame[f.name], f.format)
            # exports write UK wall-clock time, whatever the time zone of the machine reading them
            reference = now.astimezone(timezone.utc) if f.format == "iso8601" else now.astimezone(UK)
            expectations.append((gxe.ExpectColumnValuesToBeBetween(column=column,
                                                                   max_value=pd.Timestamp(reference.replace(tzinfo=None))),
                                 f.name, "notInFuture"))
    return pd.DataFrame(extra, index=frame.index), expectations


def field_expectations(f: Field) -> list:
    import great_expectations.expectations as gxe

    out = []
    if f.required:
        out.append((gxe.ExpectColumnValuesToNotBeNull(column=f.name), f.name, "nullValues"))
    if f.valid_values and not f.separator and f.logical_type != "array":
        out.append((gxe.ExpectColumnValuesToBeInSet(column=f.name, value_set=list(f.valid_values)), f.name, "invalidValues"))
    if f.pattern:
        out.append((gxe.ExpectColumnValuesToMatchRegex(column=f.name, regex=f.pattern), f.name, "invalidValues"))
    if f.format == "iso8601":
        out.append((gxe.ExpectColumnValuesToMatchRegex(column=f.name, regex=ISO_8601), f.name, "format"))
    elif f.format and f.logical_type == "timestamp":
        out.append((gxe.ExpectColumnValuesToMatchStrftimeFormat(column=f.name, strftime_format=f.format), f.name, "format"))
    return out


_context = None


def gx_context():
    global _context
    if _context is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _context


@dataclass
class Validation:
    failures: list[Failure]
    statistics: dict  # per rule: evaluated, unexpected


def validate(frame: pd.DataFrame, contract: SourceContract, now: datetime | None = None) -> Validation:
    """Run the contract's rules on a batch; return the failing rows and statistics per rule."""
    import great_expectations as gx

    now = now or datetime.now(timezone.utc)
    public = [f for f in contract.fields if not f.personal_role]
    data = frame[[f.name for f in public]].copy()
    data = data.apply(lambda s: s.map(lambda v: "; ".join(v) if isinstance(v, list) else v))  # GX wants scalars
    extra, expectations = derived_columns(frame, contract, now)
    data = pd.concat([data, extra], axis=1)
    for f in public:
        expectations += field_expectations(f)
    if len(data) == 0:
        return Validation([], {})
    context = gx_context()
    name = f"{contract.id}-{contract.version}"
    asset = context.data_sources.add_or_update_pandas(name=name).add_dataframe_asset(name="batch")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": data})
    suite = gx.ExpectationSuite(name=name)
    meta = {}
    for expectation, field, rule in expectations:
        expectation.meta = {"field": field, "rule": rule}
        suite.add_expectation(expectation)
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    failures, statistics = [], {}
    for r in result.results:
        field, rule = r.expectation_config.meta["field"], r.expectation_config.meta["rule"]
        rows = r.result.get("unexpected_index_list") or []
        key = f"{field}: {rule}"
        statistics[key] = {"evaluated": int(r.result.get("element_count", len(data))), "unexpected": len(rows),
                           "success": bool(r.success)}
        for row in rows:
            value = frame.at[row, field]
            failures.append(Failure(int(row), field, rule, None if value is None else str(value)[:200]))
    del meta
    return Validation(failures, statistics)
