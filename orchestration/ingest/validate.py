"""Contract rules compiled into a Great Expectations suite, run on every batch (pandas, in memory).

Row-level failures come back as (row, field, rule) so the rows can be quarantined with their reason;
GX only ever sees the non-personal columns. Great Expectations is imported here, lazily: its import
takes seconds.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa

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
    """Source timestamps as naive UTC (ISO 8601 with an offset) or naive local time; unparseable: NaT.
    A contract's own format is read with DuckDB's strptime: the very parser the staging models use
    (and several times faster than pandas' on millions of values)."""
    if fmt == "iso8601":
        parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        return parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    import duckdb

    text = pa.table({"v": pa.array(values.to_numpy(dtype=object), pa.string(), from_pandas=True)})
    with duckdb.connect() as con:
        con.register("text", text)
        parsed = con.sql("select try_strptime(v, $1) as t from text", params=[fmt]).to_arrow_table().column(0)
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=values.index, dtype="datetime64[us]")


def labels_of(value, separator: str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [v.strip() for v in str(value).split(separator)] if separator else [str(value)]


def derived_columns(frame: pd.DataFrame, contract: SourceContract, now: datetime) -> tuple[pd.DataFrame, list]:
    """Columns GX can check where a rule needs a step first (several labels in one cell, a time to
    compare with now), and the expectations on them; for the contract's fields present in `frame`."""
    import great_expectations.expectations as gxe

    extra, expectations = {}, []
    for f in contract.fields:
        if f.name not in frame:
            continue
        if f.valid_values and (f.separator or f.logical_type == "array"):
            allowed = set(f.valid_values)
            column = f"__unknown__{f.name}"
            extra[column] = frame[f.name].map(
                lambda v, sep=f.separator: next((x for x in labels_of(v, sep) if x not in allowed), None))
            expectations.append((gxe.ExpectColumnValuesToBeNull(column=column), f.name, "invalidValues"))
        own_format = f.format and f.format != "iso8601" and f.logical_type == "timestamp"
        # parsed once for both rules that need it
        parsed = parse_times(frame[f.name], f.format) if own_format or f.not_in_future else None
        if own_format:
            column = f"__unparseable__{f.name}"
            extra[column] = unparseable(frame[f.name], parsed)
            expectations.append((gxe.ExpectColumnValuesToBeNull(column=column), f.name, "format"))
        if f.not_in_future:
            column = f"__parsed__{f.name}"
            extra[column] = in_nanoseconds(parsed)
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
    return out


def unparseable(values: pd.Series, parsed: pd.Series) -> pd.Series:
    """Each value that DuckDB's strptime could not read with the contract's format (`parsed`, by
    parse_times; None for the others): a value passing here is one the warehouse can read. (GX's strftime
    expectation calls Python's strptime once per value: ten times slower, and a different parser from the
    warehouse's.)"""
    failed = values.notna().to_numpy() & parsed.isna().to_numpy()
    return pd.Series(np.where(failed, values.to_numpy(dtype=object), None), index=values.index, dtype=object)


def in_nanoseconds(times: pd.Series) -> pd.Series:
    """Times as datetime64[ns], the one resolution GX compares vectorised (it compares others value by
    value); a time beyond what nanoseconds hold becomes the latest or earliest they do."""
    latest, earliest = pd.Timestamp.max.floor("D"), pd.Timestamp.min.ceil("D")
    return times.clip(earliest, latest).astype("datetime64[ns]")


_context = None


def gx_context():
    global _context
    if _context is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        # GX fingerprints an in-memory batch smaller than this by hashing all of it, twice per run (a
        # third of validation's time); the fingerprint is only a marker, never looked up here
        pandas_execution_engine.HASH_THRESHOLD = 0
        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return _context


@dataclass
class Validation:
    failures: list[Failure]
    statistics: dict  # per rule: evaluated, unexpected


class Distinct:
    """A column's distinct values (lists joined, as GX wants scalars), the code of each row's value,
    and one original value per distinct value (for the derived columns)."""

    def __init__(self, values: pd.Series):
        data = values.to_numpy(dtype=object)
        try:
            codes, uniques = pd.factorize(data)
        except TypeError:  # lists (an API's array field)
            data = pd.Series(data).map(lambda v: "; ".join(v) if isinstance(v, list) else v).to_numpy(dtype=object)
            codes, uniques = pd.factorize(data)
        uniques = np.asarray(uniques, dtype=object)
        if (codes == -1).any():  # missing values are a value to check too
            uniques = np.append(uniques, None)
            codes = np.where(codes == -1, len(uniques) - 1, codes)
        self.codes, self.uniques = codes, uniques
        first = np.zeros(len(uniques), dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # first row holding each value
        self.originals = values.to_numpy(dtype=object)[first]


def padded(values: np.ndarray, length: int) -> np.ndarray:
    return np.concatenate([values, np.full(length - len(values), None, dtype=object)])


def column_groups(sizes: dict[str, int]) -> list[list[str]]:
    """Columns with similar numbers of distinct values share one GX run (each column padded to the
    run's length); a column with far fewer values than the run gets a run of its own."""
    groups: list[list[str]] = []
    length = 0
    for name in sorted(sizes, key=lambda n: -sizes[n]):
        if groups and (sizes[name] * 4 >= length or length <= 100_000):
            groups[-1].append(name)
        else:
            groups.append([name])
            length = sizes[name]
    return groups


def import_great_expectations_meanwhile() -> None:
    """Start importing Great Expectations (2-3 s) in a thread, while the caller reads its exports: most of
    that work (reading files, hashing, parsing CSV with pyarrow) lets go of the GIL. `validate` waits for
    it before it imports anything of GX itself (two threads importing one package at once can see its
    modules half made); if the thread's import failed, `validate`'s own import runs it again."""
    import importlib
    import threading

    global GX_IMPORT
    if GX_IMPORT is None:
        GX_IMPORT = threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True)
        GX_IMPORT.start()


GX_IMPORT = None


def validate(frame: pd.DataFrame, contract: SourceContract, now: datetime | None = None) -> Validation:
    """Run the contract's rules on a batch; return the failing rows and statistics per rule.

    Every rule looks at one value of one column at a time, so GX checks each distinct value once and
    its verdict is given to every row holding that value: the same failures as a run over all rows,
    at the cost of the distinct values (a batch of millions of rows repeats its labels, names and
    times over and over)."""
    if GX_IMPORT is not None:
        GX_IMPORT.join()
    now = now or datetime.now(timezone.utc)
    public = [f for f in contract.fields if not f.personal_role]
    if len(frame) == 0:
        return Validation([], {})
    distinct = {f.name: Distinct(frame[f.name]) for f in public}
    names = [f.name for f in contract.fields]
    checked = []  # (position in a suite over all rows, expectation, field, rule, result)
    for group in column_groups({name: len(d.uniques) for name, d in distinct.items()}):
        length = max(len(distinct[name].uniques) for name in group)
        # object columns: pandas would otherwise infer its string type and turn None into NaN
        # shorter columns padded with missing values, which the rules skip (each value is checked once) and
        # whose verdicts are dropped below (where a rule does not skip them: nullValues)
        data = pd.DataFrame({name: padded(distinct[name].uniques, length) for name in group}, dtype=object)
        originals = pd.DataFrame({name: padded(distinct[name].originals, length) for name in group}, dtype=object)
        extra, derived = derived_columns(originals, contract, now)
        data = pd.concat([data, extra], axis=1)
        # positions as in one suite over all rows: derived columns first, then each field's rules
        run = [((0, names.index(field), k), e, field, rule) for k, (e, field, rule) in enumerate(derived)]
        for f in public:
            if f.name in group:
                run += [((1, names.index(f.name), j), e, field, rule)
                        for j, (e, field, rule) in enumerate(field_expectations(f))]
        if run:
            checked += [(*item, result) for item, result in zip(run, gx_validate(data, contract, run))]
    failures, statistics = [], {}
    for _, expectation, field, rule, result in sorted(checked, key=lambda c: c[0]):
        d = distinct[field]
        failing = np.asarray(result.result.get("unexpected_index_list") or [], dtype=np.int64)
        failing = np.unique(failing[failing < len(d.uniques)])
        rows = np.flatnonzero(np.isin(d.codes, failing)) if len(failing) else np.array([], dtype=np.int64)
        statistics[f"{field}: {rule}"] = {"evaluated": len(frame), "unexpected": len(rows), "success": len(rows) == 0}
        values = frame[field].to_numpy(dtype=object)
        for position in rows:
            value = values[position]
            failures.append(Failure(int(frame.index[position]), field, rule, None if value is None else str(value)[:200]))
    return Validation(failures, statistics)


def gx_validate(data: pd.DataFrame, contract: SourceContract, run: list) -> list:
    """One GX run of the expectations over `data`; the result of each, in the order given."""
    import great_expectations as gx

    context = gx_context()
    name = f"{contract.id}-{contract.version}"
    asset = context.data_sources.add_or_update_pandas(name=name).add_dataframe_asset(name="batch")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": data})
    suite = gx.ExpectationSuite(name=name)
    for k, (_, expectation, field, rule) in enumerate(run):
        expectation.meta = {"field": field, "rule": rule, "position": k}
        suite.add_expectation(expectation)
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    by_position = {r.expectation_config.meta["position"]: r for r in result.results}
    return [by_position[k] for k in range(len(run))]
