"""Reading a source: an export file, or the changed records of an area's API.

Both give a DataFrame of text values in the source's own columns, plus `_source` (the file, or the
API page) and `_source_row` (the row in the file, 1 = the first data row; or the record's place in
the sync). Problems with the whole batch (a wrong encoding, a missing or renamed column) raise
`BatchError` naming the file and what changed.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .contracts import SourceContract

SOURCE, SOURCE_ROW = "_source", "_source_row"


class BatchError(ValueError):
    pass


def check_columns(found: list[str], contract: SourceContract, where: str) -> None:
    expected = contract.columns
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    if missing:
        hint = f"; unexpected column(s) {extra} (renamed?)" if extra else ""
        raise BatchError(f"{where}: column(s) {missing} missing, the contract {contract.path.name} "
                         f"v{contract.version} requires them{hint}")


def export_frame(table: pa.Table, path: Path, rows: np.ndarray | None = None) -> pd.DataFrame:
    """An export file's table as object columns of str, None where a field is empty (as the checks and
    the privacy boundary expect), with its source; `rows`: the table's rows are these rows of the file
    (0-based), not all of them in order."""
    frame = pd.DataFrame({c: shared_objects(values) for c, values in zip(table.column_names, table.columns)},
                         dtype=object)
    frame[SOURCE] = Path(path).name
    frame[SOURCE_ROW] = np.arange(1, len(frame) + 1) if rows is None else np.asarray(rows) + 1
    return frame


def shared_objects(values: pa.ChunkedArray) -> np.ndarray:
    """Text values as Python str objects (None where missing), one object per distinct value, shared by
    the rows holding it: a month's export repeats its labels, dates and names, and a str object per cell
    took three times the memory."""
    encoded = pc.dictionary_encode(values).combine_chunks()
    uniques = np.append(encoded.dictionary.to_numpy(zero_copy_only=False), None)
    return uniques[pc.fill_null(encoded.indices, len(uniques) - 1).to_numpy()]


@dataclass
class MalformedRow:
    """A row of an export file with the wrong number of fields: it cannot be told which value is which,
    so nothing of it is kept but where it was, how many fields it had, and (privacy.row_digests) a keyed
    digest to recognise it when the file is re-issued."""
    row: int  # in the file, 1 = the first data row (as _source_row)
    fields: int
    expected: int
    values: list[str]  # in memory only, to make the digest; personal data: never written anywhere


@dataclass
class ExportRows:
    table: pa.Table  # the well-formed rows, every column as text (names stripped)
    rows: np.ndarray | None  # each one's row in the file (0-based), None when every row is well formed
    malformed: list[MalformedRow]


def read_export_table(path: Path, contract: SourceContract, raw: bytes | None = None) -> ExportRows:
    """An export file's rows, checked against its contract's encoding and columns."""
    stated = encoding = contract.properties.get("encoding", "utf-8")
    raw = Path(path).read_bytes() if raw is None else raw
    if encoding == "utf-8-sig" and not raw.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8"  # the byte-order mark is optional
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        # no bytes from the file in the message: they are usually inside a name
        raise BatchError(f"{path}: not {stated} as the contract says (byte {error.start}, line {line}); "
                         "was the file saved in another encoding?") from None
    if text.startswith("\ufeff"):  # a BOM left by a spreadsheet even where the contract expects none
        text = text[1:]
    rows = read_csv_text(text, path)
    columns = [c.strip() for c in rows.table.column_names]
    check_columns(columns, contract, str(path))
    rows.table = rows.table.rename_columns(columns)
    return rows


def read_csv_text(text: str, path: Path) -> ExportRows:
    """Every column as text, an empty field as missing, with pyarrow's reader (several times faster
    than pandas'). Rows with the wrong number of fields are set apart (to be quarantined); a file that
    has any is read again with Python's csv module, slowly, to know where each row is (pyarrow cannot
    say when values hold line breaks)."""
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0].rstrip("\r"))), [])
    bad = []

    def malformed(row) -> str:
        bad.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(io.BytesIO(text.encode()),
                               parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=malformed),
                               convert_options=pacsv.ConvertOptions(
                                   column_types={c: pa.string() for c in header}, null_values=[""],
                                   strings_can_be_null=True, quoted_strings_can_be_null=True))
    except pa.ArrowInvalid:  # no bytes from the file in the message: they are usually inside a name
        raise BatchError(f"{path}: not a readable CSV file") from None
    if not bad:
        return ExportRows(table, None, [])
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    good, rows, malformed_rows = [], [], []
    for values in reader:
        if not values:  # a blank line is not a row (pyarrow skips them too)
            continue
        if len(values) == len(header):
            rows.append(len(rows) + len(malformed_rows))
            good.append(values)
        else:
            malformed_rows.append(MalformedRow(len(rows) + len(malformed_rows) + 1, len(values), len(header), values))
    columns = list(zip(*good)) if good else [()] * len(header)
    table = pa.table([pa.array([v or None for v in column], pa.string()) for column in columns], names=header)
    return ExportRows(table, np.asarray(rows, dtype=np.int64), malformed_rows)


@dataclass
class ApiSettings:
    base_url: str  # e.g. http://127.0.0.1:8765/tower_hamlets/api/
    token: str
    timeout_seconds: float = 30
    max_attempts: int = 6
    backoff_factor: float = 0.5
    page_size: int = 500


def describe_http_error(error: BaseException) -> str:
    """The kind of failure and, for an HTTP error, its status: never the response body."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    status = getattr(getattr(error, "response", None), "status_code", None)
    return type(error).__name__ + (f", HTTP {status}" if status else "")


def retrying_session(settings: ApiSettings):
    """dlt's HTTP session: timeouts, and retries with backoff on 5xx, 429 (honouring Retry-After)
    and dropped connections."""
    from dlt.sources.helpers.requests import Client

    return Client(request_timeout=settings.timeout_seconds, request_max_attempts=settings.max_attempts,
                  request_backoff_factor=settings.backoff_factor, respect_retry_after_header=True,
                  raise_for_status=False).session


def fetch_changes(settings: ApiSettings, contract: SourceContract, since: str | None) -> pd.DataFrame:
    """Every record changed after `since` (all records when None), through dlt's REST API source: it
    pages with the server's cursor, and retries 5xx, 429 (honouring Retry-After) and timeouts with
    backoff. Records stay in memory: nothing with personal data is written by dlt. Any failure,
    including a cut-off page, raises before anything is returned, so nothing is committed."""
    from dlt.sources.rest_api import rest_api_source

    session = retrying_session(settings)
    params = {"limit": settings.page_size}
    if since:
        params["updated_since"] = since
    source = rest_api_source({
        "client": {
            "base_url": settings.base_url.rstrip("/") + "/",
            "auth": {"type": "bearer", "token": settings.token},
            "session": session,
            "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor",
                          "has_more_path": "has_more"},
        },
        "resources": [{"name": "referrals", "endpoint": {"path": contract.properties.get("endpoint", "referrals"),
                                                          "data_selector": "data", "params": params}}],
    }, name=f"{contract.area}_referrals")
    try:
        records = list(source)
    except Exception as error:
        # dlt's errors can quote whole pages of records: say what failed and where, nothing more
        raise BatchError(f"{settings.base_url}: the sync failed and nothing was committed "
                         f"({describe_http_error(error)})") from None
    frame = pd.json_normalize(records, sep=".") if records else pd.DataFrame(columns=contract.columns)
    check_columns(list(frame.columns), contract, f"{settings.base_url} (changes since {since or 'the start'})")
    for f in contract.fields:
        if f.logical_type == "array":  # lists travel as JSON text inside the frame, like a CSV's joined labels
            frame[f.name] = frame[f.name].map(lambda v: v if v is None or isinstance(v, str) else list(v))
    frame = frame[contract.columns].astype(object)
    frame = frame.where(frame.notna(), None)
    frame[SOURCE] = f"{settings.base_url.rstrip('/')}/{contract.properties.get('endpoint', 'referrals')}"
    frame[SOURCE_ROW] = range(1, len(frame) + 1)
    return frame
