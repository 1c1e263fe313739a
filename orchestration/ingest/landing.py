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

    def landed_versions(self, id_column: str, ids: pd.Series, columns: list[str]) -> pd.DataFrame:
        """The landed record versions of the given referrals only: a day's batch costs the referrals it
        touches, not the whole history (DuckDB filters the Parquet files)."""
        files = sorted((self.root / "referrals").glob("*.parquet"))
        if not files:
            return pd.DataFrame(columns=columns)
        wanted = pd.DataFrame({"id": pd.unique(ids.dropna().astype(str))})
        with duckdb.connect() as con:
            present = {r[0] for r in con.execute("select name from parquet_schema(?)", [[str(f) for f in files]]).fetchall()}
            select = ", ".join(f'"{c}"' if c in present else f'null as "{c}"' for c in columns)
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
            present = {r[0] for r in con.execute("select name from parquet_schema(?)", [[str(f) for f in files]]).fetchall()}
            select = ", ".join(f'"{c}"' if c in present else f'null as "{c}"' for c in columns)
            return con.execute(f"select {select} from read_parquet(?, union_by_name=true)",
                               [[str(f) for f in files]]).df()

    def write_batch(self, report: BatchReport, records: pd.DataFrame, quarantine: pd.DataFrame) -> None:
        if len(records):
            write_atomically(self.root / "referrals" / f"{report.batch_id}.parquet", parquet_bytes(records))
        if len(quarantine):
            write_atomically(self.root / "quarantine" / f"{report.batch_id}.parquet", parquet_bytes(quarantine))
        write_atomically(self.root / "batches" / f"{report.batch_id}.json",
                         json.dumps(asdict(report), indent=1, ensure_ascii=False).encode())


ROW_DIGEST = pa.binary(16)


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
class Prepared:
    """Batches checked against their contract and through the privacy boundary: everything that does
    not depend on what was landed before, so it can be done ahead (in another process) of landing.
    `frame` keeps only the public columns: the personal ones are gone; `pseudonymised` is already an
    Arrow table (row i is the frame's row i), so landing only picks rows and writes them."""
    sources: list[tuple[str, int]]  # each batch's source and its number of rows, in order
    frame: pd.DataFrame
    checked: object  # validate.Validation
    content: pd.Series
    pseudonymised: pa.Table
    seconds: dict = field(default_factory=dict)
    unchanged: dict = field(default_factory=dict)  # source -> rows skipped as read before (not in `frame`)


def prepare_batches(parts: list[tuple[str, pd.DataFrame]], contract: SourceContract, key: bytes) -> Prepared:
    seconds: dict[str, float] = {}
    frame = pd.concat([f for _, f in parts], ignore_index=True)
    with step("validate (Great Expectations)", seconds):
        checked = validate(frame, contract)
    with step("content hashes", seconds):
        content = content_hashes(frame, contract)
    # every row through the privacy boundary at once: a person's records repeat across the batches
    with step("pseudonymise (HMAC match keys)", seconds):
        pseudonymised = pa.Table.from_pandas(pseudonymise(frame, contract, key), preserve_index=False)
    public = [f.name for f in contract.fields if not f.personal_role] + [SOURCE, SOURCE_ROW]
    return Prepared([(source, len(f)) for source, f in parts], frame[public], checked, content, pseudonymised, seconds)


def land_prepared(prepared: Prepared, contract: SourceContract, landing: Landing) -> list[BatchReport]:
    """The checks against what was landed before (status going backwards, a different record under a
    landed key), then each batch landed."""
    for name, seconds in prepared.seconds.items():
        STEP_SECONDS[name] = STEP_SECONDS.get(name, 0.0) + seconds
    frame, checked, content, pseudonymised = prepared.frame, prepared.checked, prepared.content, prepared.pseudonymised
    batch_of = np.repeat(np.arange(len(prepared.sources)), [n for _, n in prepared.sources])
    id_field, updated_field = contract.record_key
    status = contract.by_canonical("status")
    with step("checks against the landed history"):
        # what is landed already of these referrals, read once for every check and batch below
        before = landing.landed_versions(id_field.name, frame[id_field.name],
                                         [id_field.name, updated_field.name, status.name, "_content_hash"])
        quarantined_before = set(landing.quarantined(["_quarantine_key"])["_quarantine_key"])
        failures = list(checked.failures) + status_regressions(frame, contract, before, checked.failures)
        seen = dict(zip(zip(before[id_field.name].astype(str), before[updated_field.name].astype(str)),
                        before["_content_hash"]))
        failures += conflicting_versions(frame, content, contract, seen, {f.row for f in failures})
    failures_of = {k: [] for k in range(len(prepared.sources))}
    for f in failures:
        failures_of[batch_of[f.row]].append(f)
    reports = []
    with step("land (de-duplicate, write Parquet)"):
        for k, (source, _) in enumerate(prepared.sources):
            rows = frame.index[batch_of == k]
            reports.append(land_one(frame.loc[rows], content[rows], failures_of[k], source, contract, landing,
                                    pseudonymised, seen, quarantined_before, checked.statistics,
                                    prepared.unchanged.get(source, 0)))
    return reports


def content_hash(row: pd.Series, contract: SourceContract) -> str:
    return hashlib.sha256(public_json(row, contract).encode()).hexdigest()[:32]


def content_hashes(frame: pd.DataFrame, contract: SourceContract) -> pd.Series:
    """content_hash of every row, column-wise (the same JSON text as public_json, without a pandas row
    per record)."""
    names = [f.name for f in contract.fields if not f.personal_role]
    columns = [frame[n].to_numpy(dtype=object) for n in names]
    hashes = [hashlib.sha256(json.dumps(dict(zip(names, values)), ensure_ascii=False, default=str).encode()).hexdigest()[:32]
              for values in zip(*columns)]
    return pd.Series(hashes, index=frame.index, dtype=object)


def conflicting_versions(frame: pd.DataFrame, content: pd.Series, contract: SourceContract, seen: dict,
                         failed: set) -> list[Failure]:
    """Two different records under one key (referral id, last change): the later one is quarantined,
    never silently dropped as a repeat. The first record under a key (landed before, else the first in
    the batch) is the one the others must equal."""
    id_field, updated_field = contract.record_key
    rows = frame.drop(index=list(failed))
    keys = rows[id_field.name].astype(str) + "\x1f" + rows[updated_field.name].astype(str)
    first = content[rows.index].groupby(keys, sort=False).transform("first")
    landed_content = {f"{i}\x1f{u}": h for (i, u), h in seen.items()}
    landed = keys.map(lambda k: landed_content.get(k, MISSING))
    first = first.where(landed.map(lambda v: v is MISSING), landed)
    conflict = first.notna() & (first != content[rows.index])
    return [Failure(int(row), updated_field.name, "conflictingVersion", str(frame.at[row, updated_field.name]))
            for row in rows.index[conflict.to_numpy()]]


MISSING = object()


def land_one(frame: pd.DataFrame, content: pd.Series, failures: list[Failure], source: str, contract: SourceContract,
             landing: Landing, pseudonymised: pa.Table, seen: dict, quarantined_before: set,
             statistics: dict, unchanged: int = 0) -> BatchReport:
    started = now_iso()
    batch_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    id_field, updated_field = contract.record_key
    bad_rows = sorted({f.row for f in failures})
    good = frame.drop(index=bad_rows).drop_duplicates([id_field.name, updated_field.name])  # repeated across pages
    repeated_in_batch = len(frame) - len(bad_rows) - len(good)
    keys = list(zip(good[id_field.name].astype(str), good[updated_field.name].astype(str)))
    new = pd.Series([k not in seen for k in keys], index=good.index, dtype=bool)
    seen.update(zip(keys, content[good.index]))
    landing_rows = good.index[new]  # the prepared frame's rows are numbered 0.. as the table's
    records = pseudonymised.take(np.asarray(landing_rows, dtype=np.int64)).replace_schema_metadata(None)
    records = records.append_column("_content_hash", pa.array(content[landing_rows].tolist(), pa.string()))
    records = records.append_column("_batch_id", pa.array([batch_id] * len(records), pa.string()))
    records = records.append_column("_loaded_at", pa.array([started] * len(records), pa.string()))
    quarantine = pd.DataFrame([{
        "area": contract.area, "batch_id": batch_id, "source": frame.at[f.row, SOURCE],
        "source_row": int(frame.at[f.row, SOURCE_ROW]), "field": f.field, "rule": f.rule,
        "value": None if contract_field_is_personal(contract, f.field) else f.value,
        "record": public_json(frame.loc[f.row], contract),
        "_quarantine_key": f"{content[f.row]}:{f.field}:{f.rule}",
    } for f in failures], columns=["area", "batch_id", "source", "source_row", "field", "rule", "value", "record",
                                   "_quarantine_key"])
    # a row quarantined before (a re-read file, a re-sent record) is not set aside twice
    quarantine = quarantine[~quarantine["_quarantine_key"].isin(quarantined_before)]
    quarantined_before.update(quarantine["_quarantine_key"])
    reasons = {}
    for f in failures:
        reasons[f"{f.field}: {f.rule}"] = reasons.get(f"{f.field}: {f.rule}", 0) + 1
    report = BatchReport(contract.area, batch_id, source, f"{contract.id} v{contract.version}", len(frame) + unchanged,
                         landed=len(records), already_landed=int((~new).sum()) + repeated_in_batch,
                         quarantined=len(bad_rows), unchanged=unchanged, reasons=reasons, rules=statistics, started=started,
                         finished=now_iso())
    landing.write_batch(report, records, quarantine)
    return report


def contract_field_is_personal(contract: SourceContract, name: str) -> bool:
    return any(f.name == name and f.personal_role for f in contract.fields)


def public_json(row: pd.Series, contract: SourceContract) -> str:
    """A quarantined row without its personal fields, as JSON."""
    return json.dumps({f.name: row[f.name] for f in contract.fields if not f.personal_role}, ensure_ascii=False,
                      default=str)


def pseudonymise(frame: pd.DataFrame, contract: SourceContract, key: bytes) -> pd.DataFrame:
    """The privacy boundary: personal columns become match keys and an age band, and are dropped."""
    personal = pd.DataFrame({role: frame[f.name] for role, f in contract.personal.items()}, index=frame.index)
    dob_format = contract.personal["dob"].format
    keys = privacy.match_keys(key, contract.area, personal, dob_format)
    sent = contract.by_canonical("sent_at")
    sent_day = parse_times(frame[sent.name], sent.format).dt.normalize()
    dob = privacy.parse_dates(personal["dob"], dob_format)
    public = frame[[f.name for f in contract.fields if not f.personal_role]].copy()
    public["_age_band"] = privacy.age_band(dob, sent_day)
    public[SOURCE] = frame[SOURCE]
    public[SOURCE_ROW] = frame[SOURCE_ROW]
    return pd.concat([public, keys], axis=1)


def status_regressions(frame: pd.DataFrame, contract: SourceContract, before: pd.DataFrame,
                       already: list[Failure]) -> list[Failure]:
    """Rows whose status is behind the status of an earlier change of the same referral (closed, then
    sent again later, say). An old version arriving late is history, not a regression."""
    status = contract.by_canonical("status")
    order = status.status_order
    if not order:
        return []
    id_field, updated_field = contract.record_key
    rank_of = lambda values: values.map(lambda s: order.get(status.canonical_values.get(s)))
    failed = {f.row for f in already}
    rows = pd.DataFrame({"id": frame[id_field.name].astype(str), "rank": rank_of(frame[status.name]),
                         "when": parse_times(frame[updated_field.name], updated_field.format)})
    rows = rows[rows["rank"].notna() & rows["when"].notna() & ~rows.index.isin(failed)]
    if rows.empty:
        return []
    history = pd.DataFrame({"id": before[id_field.name].astype(str), "rank": rank_of(before[status.name]),
                            "when": parse_times(before[updated_field.name], updated_field.format)})
    history = pd.concat([history[history["id"].isin(set(rows["id"]))], rows.assign(row=rows.index)])
    pairs = rows.reset_index(names="row").merge(history, on="id", suffixes=("", "_earlier"))
    pairs = pairs[pairs["when_earlier"] < pairs["when"]]
    behind = pairs[pairs["rank_earlier"] > pairs["rank"]]["row"].unique()
    return [Failure(int(i), status.name, "statusOrder", str(frame.at[i, status.name])) for i in sorted(behind)]
