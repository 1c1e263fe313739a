"""Landing: pseudonymised records, quarantined rows and batch records as Parquet under
$CCS_HOME/landing/<area>/, plus each area's committed state (sync cursor, files already read).

A batch is written to temporary files and renamed into place, then the state is committed; a run
that fails part way lands nothing and leaves the cursor where it was. Re-reading the same data adds
nothing: a record version (referral id, last change) is landed once.
"""

import hashlib
import io
import json
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import privacy
from .contracts import SourceContract
from .sources import SOURCE, SOURCE_ROW
from .validate import Failure, parse_times, validate


@dataclass
class BatchReport:
    area: str
    batch_id: str
    source: str
    contract: str
    rows_in: int
    landed: int  # new record versions written
    already_landed: int  # record versions that were landed before (a re-read): not written again
    quarantined: int  # source rows set aside, with their reasons
    unchanged: int = 0  # rows of a re-issued export file identical to rows read from it before: skipped
    reasons: dict = field(default_factory=dict)  # "field: rule" -> rows
    rules: dict = field(default_factory=dict)  # contract statistics from Great Expectations
    started: str = ""
    finished: str = ""

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.landed + self.already_landed + self.quarantined + self.unchanged


class Landing:
    def __init__(self, home: Path, area: str):
        self.area = area
        self.root = Path(home) / "landing" / area
        self.state_path = Path(home) / "state" / f"{area}.json"
        self.rows_read_root = Path(home) / "state" / area / "rows_read"
        for sub in ("referrals", "quarantine", "batches"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)

    def state(self) -> dict:
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else {"cursor": None, "files": {}}

    def commit_state(self, state: dict) -> None:
        write_atomically(self.state_path, json.dumps(state, indent=1, sort_keys=True).encode())

    def rows_read(self, file_name: str) -> pa.Array:
        """The keyed digests (privacy.row_digests) of the rows read from an export file so far."""
        path = self.rows_read_root / f"{file_name}.parquet"
        return pq.read_table(path).column("row_digest").combine_chunks() if path.exists() else pa.array([], ROW_DIGEST)

    def remember_rows_read(self, file_name: str, digests: pa.Array) -> None:
        self.rows_read_root.mkdir(parents=True, exist_ok=True)
        write_atomically(self.rows_read_root / f"{file_name}.parquet",
                         parquet_bytes(pa.table({"row_digest": digests.cast(ROW_DIGEST)})))

    def landed(self, columns: list[str]) -> pd.DataFrame:
        return self.read("referrals", columns)

    @contextmanager
    def versions_kept(self, columns: list[str]):
        """For an ingestion of many runs of files: the landed record versions (`columns` of them) read
        from the Parquet once into a scratch DuckDB file under state/ (it spills to disk), and each
        batch's added as it lands; landed_versions reads them there rather than every landed file
        again for each run (quadratic over a backlog)."""
        scratch = self.state_path.parent / f".{self.area}.versions.duckdb"
        scratch.unlink(missing_ok=True)
        files = [str(f) for f in sorted((self.root / "referrals").glob("*.parquet"))]
        try:
            with duckdb.connect(str(scratch)) as con:
                con.execute(f"set memory_limit = '{VERSIONS_MEMORY}'")
                if files:
                    select = parquet_select(con, files, columns, missing="null::varchar")
                    con.execute(f"create table versions as select {select} from read_parquet(?, union_by_name=true)",
                                [files])
                self.kept = (con, columns)
                yield
        finally:
            self.kept = None
            scratch.unlink(missing_ok=True)
            Path(f"{scratch}.wal").unlink(missing_ok=True)

    kept = None  # (connection, columns) while versions_kept

    def keep_versions(self, records: pa.Table) -> None:
        con, columns = self.kept
        con.register("landed_now", records.select(columns))
        con.execute("create table if not exists versions as select * from landed_now limit 0")
        con.execute("insert into versions by name select * from landed_now")
        con.unregister("landed_now")

    def landed_versions(self, id_column: str, ids: pd.Series, columns: list[str]) -> pd.DataFrame:
        """The landed record versions of the given referrals only: a day's batch costs the referrals it
        touches, not the whole history (DuckDB filters the Parquet files, or the versions kept)."""
        wanted = pd.DataFrame({"id": pd.unique(ids.dropna().astype(str))})
        if self.kept and self.kept[1] == columns:
            con = self.kept[0]
            if not con.execute("select table_name from duckdb_tables() where table_name = 'versions'").fetchall():
                return pd.DataFrame(columns=columns)
            con.register("wanted", wanted)
            try:
                return con.execute(f'select * from versions where cast("{id_column}" as varchar) in (select id from wanted)').df()
            finally:
                con.unregister("wanted")
        files = sorted((self.root / "referrals").glob("*.parquet"))
        if not files:
            return pd.DataFrame(columns=columns)
        with duckdb.connect() as con:
            select = parquet_select(con, files, columns)
            con.register("wanted", wanted)
            return con.execute(f"select {select} from read_parquet(?, union_by_name=true) "
                               f'where cast("{id_column}" as varchar) in (select id from wanted)',
                               [[str(f) for f in files]]).df()

    def quarantined(self, columns: list[str]) -> pd.DataFrame:
        return self.read("quarantine", columns)

    def check_key(self, key: bytes) -> None:
        """Batches pseudonymised with different keys cannot be linked: refuse to mix them."""
        state = self.state()
        fingerprint = privacy.key_fingerprint(key)
        if state.get("key_fingerprint") not in (None, fingerprint):
            raise privacy.MissingKeyError(f"{self.root} was landed with a different pseudonymisation key; "
                                          "use that key, or land into a new CCS_HOME")
        if state.get("key_fingerprint") is None:
            state["key_fingerprint"] = fingerprint
            self.commit_state(state)

    def read(self, table: str, columns: list[str]) -> pd.DataFrame:
        files = sorted((self.root / table).glob("*.parquet"))
        if not files:
            return pd.DataFrame(columns=columns)
        with duckdb.connect() as con:
            select = parquet_select(con, files, columns)
            return con.execute(f"select {select} from read_parquet(?, union_by_name=true)",
                               [[str(f) for f in files]]).df()

    def write_batch(self, report: BatchReport, records: pd.DataFrame, quarantine: pd.DataFrame) -> None:
        if len(records):
            write_atomically(self.root / "referrals" / f"{report.batch_id}.parquet", parquet_bytes(records))
            if self.kept:
                self.keep_versions(records)
        if len(quarantine):
            write_atomically(self.root / "quarantine" / f"{report.batch_id}.parquet", parquet_bytes(quarantine))
        write_atomically(self.root / "batches" / f"{report.batch_id}.json",
                         json.dumps(asdict(report), indent=1, ensure_ascii=False).encode())


def parquet_select(con, files: list, columns: list[str], missing: str = "null", as_type: str | None = None) -> str:
    """The select list for `columns` over Parquet files read together: a column none of them holds
    (files landed before it existed) comes out as `missing`. With `as_type`, every column is cast to it."""
    present = {r[0] for r in con.execute("select name from parquet_schema(?)", [[str(f) for f in files]]).fetchall()}
    if as_type:
        return ", ".join(f'cast("{c}" as {as_type}) as "{c}"' if c in present else f'null::{as_type} as "{c}"'
                         for c in columns)
    return ", ".join(f'"{c}"' if c in present else f'{missing} as "{c}"' for c in columns)


ROW_DIGEST = pa.binary(16)
VERSIONS_MEMORY = "1GB"


def parquet_bytes(frame: pd.DataFrame | pa.Table) -> bytes:
    buffer = io.BytesIO()
    if isinstance(frame, pa.Table):
        pq.write_table(frame, buffer)
    else:
        frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def land_batches(parts: list[tuple[str, pd.DataFrame]], contract: SourceContract, landing: Landing,
                 key: bytes) -> list[BatchReport]:
    """Check batches against their contract (in one Great Expectations run: its cost is mostly per
    run, not per row), pseudonymise them and land each as its own batch; quarantine what fails."""
    if not parts:
        return []
    return land_prepared(prepare_batches(parts, contract, key), contract, landing)


# Seconds spent in each step of ingestion in this process (and in the workers whose results it
# landed), for the benchmark's profile.
STEP_SECONDS: dict[str, float] = {}


@contextmanager
def step(name: str, seconds: dict | None = None):
    started = time.perf_counter()
    try:
        yield
    finally:
        into = STEP_SECONDS if seconds is None else seconds
        into[name] = into.get(name, 0.0) + time.perf_counter() - started


@dataclass
class MalformedRowSetAside:
    """A row of an export file with the wrong number of fields, to be quarantined: where it was and what
    was wrong, never its text."""
    source_row: int
    problem: str  # "27 fields, the header 26"
    digest: str  # its keyed row digest (privacy.malformed_row_digest), as hex: the quarantine key


MALFORMED = ("(row)", "fieldCount")  # the field and rule it is quarantined under


@dataclass
class Prepared:
    """Batches checked against their contract and through the privacy boundary: everything that does
    not depend on what was landed before, so it can be done ahead (in another process) of landing.
    `pseudonymised` holds the public columns and the match keys, as Arrow (compact to send between
    processes and to hold while waiting): landing picks rows of it and writes them."""
    sources: list[tuple[str, int]]  # each batch's source and its number of rows, in order
    checked: object  # validate.Validation
    content: pd.Series
    pseudonymised: pa.Table
    seconds: dict = field(default_factory=dict)
    unchanged: dict = field(default_factory=dict)  # source -> rows skipped as read before (not in `pseudonymised`)
    malformed: dict = field(default_factory=dict)  # source -> [MalformedRowSetAside] (not in `pseudonymised`)


def prepare_batches(parts: list[tuple[str, pd.DataFrame]], contract: SourceContract, key: bytes) -> Prepared:
    seconds: dict[str, float] = {}
    frame = pd.concat([f for _, f in parts], ignore_index=True)
    with step("validate (Great Expectations)", seconds):
        checked = validate(frame, contract)
    with step("content hashes", seconds):
        content = content_hashes(frame, contract)
    # every row through the privacy boundary at once: a person's records repeat across the batches
    with step("pseudonymise (HMAC match keys)", seconds):
        pseudonymised = pseudonymise(frame, contract, key)
    return Prepared([(source, len(f)) for source, f in parts], checked, content, pseudonymised, seconds)


def land_prepared(prepared: Prepared, contract: SourceContract, landing: Landing) -> list[BatchReport]:
    """The checks against what was landed before (status going backwards, a different record under a
    landed key), then each batch landed."""
    for name, seconds in prepared.seconds.items():
        STEP_SECONDS[name] = STEP_SECONDS.get(name, 0.0) + seconds
    checked, content, pseudonymised = prepared.checked, prepared.content, prepared.pseudonymised
    batch_of = np.repeat(np.arange(len(prepared.sources)), [n for _, n in prepared.sources])
    id_field, updated_field = contract.record_key
    # the columns the checks read, as object columns (None where missing), as they were checked
    checked_columns = [id_field.name, updated_field.name, contract.by_canonical("status").name]
    frame = pd.DataFrame({name: pseudonymised.column(name).to_numpy(zero_copy_only=False)
                          for name in checked_columns}, dtype=object)
    with step("checks against the landed history"):
        # what is landed already of these referrals, read once for every check and batch below
        before = landing.landed_versions(id_field.name, frame[id_field.name], history_columns(contract))
        quarantined_before = set(landing.quarantined(["_quarantine_key"])["_quarantine_key"])
        failures = list(checked.failures) + status_regressions(frame, contract, before, checked.failures)
        keys = version_keys(frame[id_field.name], frame[updated_field.name])
        landed_content = pd.Series(before["_content_hash"].to_numpy(dtype=object),
                                   index=version_keys(before[id_field.name], before[updated_field.name]))
        landed_content = landed_content[~landed_content.index.duplicated(keep="last")]
        failures += conflicting_versions(frame, keys, content, contract, landed_content, {f.row for f in failures})
        # a record version lands once: the first good row under its key, unless it was landed before
        # (rows repeated across pages or files are already landed)
        good = keys.drop(index=sorted({f.row for f in failures}))
        new = pd.Series(False, index=frame.index)
        new[good.index] = ~good.isin(landed_content.index).to_numpy() & ~good.duplicated().to_numpy()
    failures_of = {k: [] for k in range(len(prepared.sources))}
    for f in failures:
        failures_of[batch_of[f.row]].append(f)
    reports = []
    with step("land (de-duplicate, write Parquet)"):
        for k, (source, _) in enumerate(prepared.sources):
            rows = frame.index[batch_of == k]
            reports.append(land_one(len(rows), content[rows], failures_of[k], source, contract, landing,
                                    pseudonymised, new[rows], quarantined_before, checked.statistics,
                                    prepared.unchanged.get(source, 0), prepared.malformed.get(source, [])))
    return reports


def history_columns(contract: SourceContract) -> list[str]:
    """The landed columns the checks against the landed history need."""
    id_field, updated_field = contract.record_key
    return [id_field.name, updated_field.name, contract.by_canonical("status").name, "_content_hash"]


def version_keys(ids: pd.Series, updated: pd.Series) -> pd.Series:
    """A record version's key (referral id, last change) as one text per row."""
    return (ids.astype(str).fillna("") + "\x1f" + updated.astype(str).fillna("")).astype(object)


def content_hash(row: pd.Series, contract: SourceContract) -> str:
    return hashlib.sha256(public_json(row, contract).encode()).hexdigest()[:32]


def content_hashes(frame: pd.DataFrame, contract: SourceContract) -> pd.Series:
    """content_hash of every row, column-wise: the very JSON text of public_json (json.dumps writes a
    dict as "{" + ", ".join(key + ": " + value) + "}"), each column's distinct values encoded once."""
    names = [f.name for f in contract.fields if not f.personal_role]
    fields = [json_fields(n, frame[n].to_numpy(dtype=object)) for n in names]
    sha256 = hashlib.sha256
    hashes = [sha256(("{" + ", ".join(row) + "}").encode()).hexdigest()[:32] for row in zip(*fields)]
    return pd.Series(hashes, index=frame.index, dtype=object)


def json_fields(name: str, values: np.ndarray) -> np.ndarray:
    """'"name": value' for each value, as json.dumps writes it inside a row's dict."""
    key = json.dumps(name, ensure_ascii=False) + ": "
    encode = lambda v: key + json.dumps(v, ensure_ascii=False, default=str)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):  # lists, numbers: one by one
        return np.array([encode(v) for v in values], dtype=object)
    codes, uniques = pd.factorize(values)
    text = json.encoder.encode_basestring  # what json.dumps does with a str, ensure_ascii=False
    out = np.array([key + text(v) for v in uniques] + [key + "null"], dtype=object)[codes]
    missing = np.flatnonzero(codes == -1)
    out[missing] = [key + "null" if v is None else encode(v) for v in values[missing]]  # NaN stays NaN
    return out


def conflicting_versions(frame: pd.DataFrame, keys: pd.Series, content: pd.Series, contract: SourceContract,
                         landed_content: pd.Series, failed: set) -> list[Failure]:
    """Two different records under one key (referral id, last change): the later one is quarantined,
    never silently dropped as a repeat. The first record under a key (landed before, else the first in
    the batch) is the one the others must equal. `landed_content`: the landed content hash by key."""
    updated_field = contract.record_key[1]
    keys = keys.drop(index=list(failed))
    mine = content[keys.index]
    first = mine.groupby(keys, sort=False).transform("first")
    landed = keys.map(landed_content)
    first = first.where(landed.isna(), landed)
    conflict = first.notna() & (first != mine)
    return [Failure(int(row), updated_field.name, "conflictingVersion", str(frame.at[row, updated_field.name]))
            for row in keys.index[conflict.to_numpy()]]


def land_one(rows_in: int, content: pd.Series, failures: list[Failure], source: str, contract: SourceContract,
             landing: Landing, pseudonymised: pa.Table, new: pd.Series, quarantined_before: set,
             statistics: dict, unchanged: int = 0, malformed: list | None = None) -> BatchReport:
    """One batch landed (`rows_in` rows of the prepared table, `new` marking the record versions not
    landed before): those rows written, its failures and malformed rows set aside, and its
    reconciliation record."""
    malformed = malformed or []
    started = now_iso()
    batch_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    bad_rows = sorted({f.row for f in failures})
    landing_rows = new.index[new.to_numpy()]  # the prepared frame's rows are numbered 0.. as the table's
    records = pseudonymised.take(np.asarray(landing_rows, dtype=np.int64)).replace_schema_metadata(None)
    records = records.append_column("_content_hash", pa.array(content[landing_rows].tolist(), pa.string()))
    records = records.append_column("_batch_id", pa.array([batch_id] * len(records), pa.string()))
    records = records.append_column("_loaded_at", pa.array([started] * len(records), pa.string()))
    failed = pseudonymised.take(np.asarray([f.row for f in failures], dtype=np.int64)).to_pylist()
    quarantine = pd.DataFrame([{
        "area": contract.area, "batch_id": batch_id, "source": row[SOURCE],
        "source_row": int(row[SOURCE_ROW]), "field": f.field, "rule": f.rule,
        "value": None if contract_field_is_personal(contract, f.field) else f.value,
        "record": public_json(row, contract),
        "_quarantine_key": f"{content[f.row]}:{f.field}:{f.rule}",
    } for f, row in zip(failures, failed)] + [{
        "area": contract.area, "batch_id": batch_id, "source": Path(source).name, "source_row": m.source_row,
        "field": MALFORMED[0], "rule": MALFORMED[1], "value": m.problem, "record": None,
        "_quarantine_key": f"{m.digest}:{MALFORMED[0]}:{MALFORMED[1]}",
    } for m in malformed], columns=["area", "batch_id", "source", "source_row", "field", "rule", "value", "record",
                                    "_quarantine_key"])
    # a row quarantined before (a re-read file, a re-sent record) is not set aside twice
    quarantine = quarantine[~quarantine["_quarantine_key"].isin(quarantined_before)]
    quarantined_before.update(quarantine["_quarantine_key"])
    reasons = {}
    for f in failures:
        reasons[f"{f.field}: {f.rule}"] = reasons.get(f"{f.field}: {f.rule}", 0) + 1
    if malformed:
        reasons[": ".join(MALFORMED)] = len(malformed)
    report = BatchReport(contract.area, batch_id, source, f"{contract.id} v{contract.version}",
                         rows_in + unchanged + len(malformed),
                         landed=len(records), already_landed=rows_in - len(bad_rows) - len(records),
                         quarantined=len(bad_rows) + len(malformed), unchanged=unchanged, reasons=reasons,
                         rules=statistics, started=started,
                         finished=now_iso())
    landing.write_batch(report, records, quarantine)
    return report


def contract_field_is_personal(contract: SourceContract, name: str) -> bool:
    return any(f.name == name and f.personal_role for f in contract.fields)


def public_json(row: pd.Series | dict, contract: SourceContract) -> str:
    """A quarantined row without its personal fields, as JSON."""
    return json.dumps({f.name: row[f.name] for f in contract.fields if not f.personal_role}, ensure_ascii=False,
                      default=str)


def pseudonymise(frame: pd.DataFrame, contract: SourceContract, key: bytes) -> pa.Table:
    """The privacy boundary: personal columns become match keys and an age band, and are dropped. Made
    column by column into Arrow (no copy of the frame in pandas first: a month's export is a big frame)."""
    personal = pd.DataFrame({role: frame[f.name] for role, f in contract.personal.items()}, index=frame.index)
    dob_format = contract.personal["dob"].format
    keys = privacy.match_keys(key, contract.area, personal, dob_format)
    sent = contract.by_canonical("sent_at")
    sent_day = each_distinct(frame[sent.name], lambda v: parse_times(v, sent.format).dt.normalize())
    dob = each_distinct(personal["dob"], lambda v: privacy.parse_dates(v, dob_format))
    columns = {f.name: frame[f.name] for f in contract.fields if not f.personal_role}
    columns.update({"_age_band": privacy.age_band(dob, sent_day), SOURCE: frame[SOURCE], SOURCE_ROW: frame[SOURCE_ROW]})
    return pa.table({**{name: pa.array(values, from_pandas=True) for name, values in columns.items()}, **keys})


def each_distinct(values: pd.Series, parse) -> pd.Series:
    """`parse` of a column, done once per distinct value (times and dates repeat across rows)."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    parsed = parse(pd.Series(np.append(uniques, None), dtype=object)).to_numpy()
    return pd.Series(parsed[np.where(codes < 0, len(uniques), codes)], index=values.index)


def status_regressions(frame: pd.DataFrame, contract: SourceContract, before: pd.DataFrame,
                       already: list[Failure]) -> list[Failure]:
    """Rows whose status is behind the status of an earlier change of the same referral (closed, then
    sent again later, say). An old version arriving late is history, not a regression."""
    status = contract.by_canonical("status")
    order = status.status_order
    if not order:
        return []
    id_field, updated_field = contract.record_key
    rank = {raw: order.get(canonical) for raw, canonical in status.canonical_values.items()}
    rank_of = lambda values: values.map(rank).astype(float)
    ids = lambda values: values.astype(str)
    when = lambda values: each_distinct(values, lambda v: parse_times(v, updated_field.format))
    failed = {f.row for f in already}
    rows = pd.DataFrame({"id": ids(frame[id_field.name]), "rank": rank_of(frame[status.name]),
                         "when": when(frame[updated_field.name])})
    rows = rows[rows["rank"].notna() & rows["when"].notna() & ~rows.index.isin(failed)]
    if rows.empty:
        return []
    history = pd.DataFrame({"id": ids(before[id_field.name]), "rank": rank_of(before[status.name]),
                            "when": when(before[updated_field.name])})
    # pyarrow's is_in: pandas' isin on its (Arrow) str columns goes value by value in Python
    touched = pc.is_in(pa.array(history["id"]), value_set=pa.array(rows["id"])).to_numpy(zero_copy_only=False)
    history = pd.concat([history[touched], rows.assign(row=rows.index)])
    pairs = rows.reset_index(names="row").merge(history, on="id", suffixes=("", "_earlier"))
    pairs = pairs[pairs["when_earlier"] < pairs["when"]]
    behind = pairs[pairs["rank_earlier"] > pairs["rank"]]["row"].unique()
    return [Failure(int(i), status.name, "statusOrder", str(frame.at[i, status.name])) for i in sorted(behind)]
