"""Ingesting an area: each new export file, or the API's changes since the committed cursor."""

import ctypes
import fcntl
import hashlib
import os
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..config import AreaConfig
from .contracts import contract_for
from .landing import (ROW_DIGEST, BatchReport, Landing, MalformedRowSetAside, Prepared, history_columns, land_batches,
                      land_prepared, parquet_select, prepare_batches, step)
from .linkage import components
from .privacy import MATCH_KEYS, malformed_row_digest, row_digests
from .sources import ApiSettings, export_frame, fetch_changes, read_export_table
from .validate import import_great_expectations_meanwhile, parse_times


def pending_files(area: AreaConfig, home: Path) -> list[Path]:
    """Export files in the drop folder not yet landed (by name and content: a file read once is
    never read again, even if a sensor sees it twice; a file re-issued under the same name is read
    again, and only its rows not read before are processed)."""
    contract = contract_for(area.key)
    state = Landing(home, area.key).state()
    pattern = contract.properties.get("filePattern", "*.csv")
    return [p for p in sorted(Path(area.drop_folder).glob(pattern))
            if not already_read(p, state["files"], state.get("file_stats", {}))]


def already_read(path: Path, digests: dict, stats: dict) -> bool:
    """Read before, these very bytes. A file whose size and modification time are those it had when it
    was read is not hashed again (a drop folder holds years of exports, and a sensor looks every
    minute), nor one whose size changed (a month's export re-issued as the month goes on: 200 MB at 10
    million referrals); a file of a name read before with its size but another time is hashed and compared."""
    if path.name not in digests:
        return False
    stat, known = file_stat(path), stats.get(path.name)
    if stat == known:
        return True
    return (known is None or known[0] == stat[0]) and digests[path.name] == file_digest(path)


def file_stat(path: Path) -> list[int]:
    status = Path(path).stat()
    return [status.st_size, status.st_mtime_ns]


def file_digest(path: Path, data: bytes | None = None, stat: list[int] | None = None) -> str:
    """The file's SHA-256, hashed once per process for a given size and modification time (a file
    re-issued is hashed to find it pending, and again when it is read: a month's export is 200 MB at
    10 million referrals). `data`: the file's bytes, read with `stat` taken before."""
    known = (str(path), *(stat or file_stat(path)))
    if known not in FILE_DIGESTS:
        FILE_DIGESTS[known] = digest(Path(path).read_bytes() if data is None else data)
    return FILE_DIGESTS[known]


FILE_DIGESTS: dict[tuple, str] = {}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Export files landed together share one Great Expectations run; a few hundred megabytes at a time keeps
# the memory of a large backlog bounded (a month of a national roll-out is about that size).
CHUNK_BYTES = 128 * 1024**2


@dataclass
class FileRead:
    digest: str  # of the file's bytes
    stat: list[int]  # its size and modification time, taken before it was read
    rows_read: pa.Array  # keyed digests of every row read from the file so far, this time included


def ingest_files(area: AreaConfig, paths: list[Path], home: Path, key: bytes) -> list[BatchReport]:
    """Land export files, one batch each; a file is marked read, by the digest of the very bytes that
    were landed, and its rows remembered, only once its batch has landed (a file still growing is read
    again later)."""
    contract = contract_for(area.key)
    landing = Landing(home, area.key)
    reports = []
    runs = chunks(paths, CHUNK_BYTES)
    with landing.versions_kept(history_columns(contract)) if len(runs) > 1 else nullcontext():
        for files, prepared in prepared_runs(area.key, home, runs, key):
            reports += land_prepared(prepared, contract, landing)
            del prepared
            give_back_freed_memory()
            for name, read in files.items():
                landing.remember_rows_read(name, read.rows_read)
            state = landing.state()
            state["files"].update({name: read.digest for name, read in files.items()})
            state.setdefault("file_stats", {}).update({name: read.stat for name, read in files.items()})
            landing.commit_state(state)
    return reports


def prepare_files(area: str, home: Path, paths: list[Path], key: bytes) -> tuple[dict[str, FileRead], Prepared]:
    """Read, check and pseudonymise a run of export files (nothing here depends on what was landed).
    The rows of a file identical to rows read from it before (a month's export re-issued as the month
    goes on) are counted as unchanged and go no further; the others keep their row numbers."""
    contract = contract_for(area)
    landing = Landing(home, area)
    seconds: dict[str, float] = {}
    parts, files, unchanged, malformed = [], {}, {}, {}
    for path in map(Path, paths):
        with step("read export files", seconds):
            stat = file_stat(path)  # before reading: a file changed meanwhile is hashed again next time
            data = path.read_bytes()
            export = read_export_table(path, contract, data)
            read_digest = file_digest(path, data, stat)
            del data
        with step("skip rows read before", seconds):
            table = export.table
            rows = pa.array(row_digests(table, key), ROW_DIGEST)
            bad = pa.array([malformed_row_digest(m.values, table.column_names, key) for m in export.malformed],
                           ROW_DIGEST)
            before = landing.rows_read(path.name)
            not_read = lambda digests: np.flatnonzero(~pc.is_in(digests, value_set=before).to_numpy(zero_copy_only=False))
            changed, bad_changed = not_read(rows), not_read(bad)
            if len(changed) + len(bad_changed) < len(rows) + len(bad):
                table = table.take(changed)
                unchanged[str(path)] = len(rows) + len(bad) - len(changed) - len(bad_changed)
            malformed[str(path)] = [
                MalformedRowSetAside(m.row, f"{m.fields} fields, the header {m.expected}", bad[int(k)].as_py().hex())
                for k, m in ((k, export.malformed[k]) for k in bad_changed)]
            files[path.name] = FileRead(read_digest, stat, pc.unique(pa.concat_arrays([before, rows, bad])))
        with step("read export files", seconds):
            in_file = changed if export.rows is None else export.rows[changed]
            parts.append((str(path), export_frame(table, path, in_file)))
        del table, export
    prepared = prepare_batches(parts, contract, key)
    del parts
    give_back_freed_memory()
    prepared.seconds.update({k: v + prepared.seconds.get(k, 0.0) for k, v in seconds.items()})
    prepared.unchanged = unchanged
    prepared.malformed = malformed
    return files, prepared


def give_back_freed_memory() -> None:
    """Return the memory of a run's frames, freed, to the system (glibc keeps freed memory for reuse,
    in pieces the next run's larger objects may not fit: each process's footprint grew run by run)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def prepared_runs(area: str, home: Path, runs: list[list[Path]], key: bytes):
    """Each run of files prepared, in order. With several runs, worker processes (one per core)
    prepare the next runs while this process lands the current one; at most one run per worker waits,
    so memory stays bounded."""
    workers = min(os.cpu_count() or 1, PREPARE_WORKERS, len(runs))
    if workers <= 1:
        for paths in runs:
            yield prepare_files(area, home, paths, key)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        waiting = deque()
        for paths in runs:
            waiting.append(pool.submit(prepare_files, area, home, paths, key))
            if len(waiting) >= workers:
                yield waiting.popleft().result()
        while waiting:
            yield waiting.popleft().result()


PREPARE_WORKERS = 2


def chunks(paths: list[Path], most_bytes: int) -> list[list[Path]]:
    """The files in order, in runs of at most `most_bytes` (a bigger file is a run of its own)."""
    out: list[list[Path]] = []
    size = 0
    for p in paths:
        n = Path(p).stat().st_size
        if not out or size + n > most_bytes:
            out.append([])
            size = 0
        out[-1].append(p)
        size += n
    return out


def ingest_api(area: AreaConfig, home: Path, key: bytes, full_resync: bool = False) -> BatchReport:
    """The records changed since the committed cursor (everything with `full_resync`). The cursor moves
    only after the batch has landed."""
    contract = contract_for(area.key)
    landing = Landing(home, area.key)
    state = landing.state()
    since = None if full_resync else state.get("cursor")
    frame = fetch_changes(ApiSettings(area.base_url, area.token()), contract, look_back(since))
    [report] = land_batches([(f"{area.base_url} since {since or 'the start'}", frame)], contract, landing, key)
    state["cursor"] = next_cursor(frame, contract, since)
    landing.commit_state(state)
    return report


LOOK_BACK = pd.Timedelta(minutes=15)


def look_back(cursor: str | None) -> str | None:
    """Ask again for a margin before the cursor: a change stamped just before the last sync but
    committed after it is still fetched (what was landed already is recognised and not landed twice)."""
    if cursor is None:
        return None
    moment = pd.Timestamp(cursor)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return (moment - LOOK_BACK).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_cursor(frame, contract, since: str | None) -> str | None:
    """The latest change time seen, compared as instants (offsets differ across the clock change);
    a time in the future is a bad row, not a reason to skip ahead."""
    updated = contract.record_key[1]
    times = parse_times(frame[updated.name], updated.format)
    usable = times.notna() & (times <= pd.Timestamp.now(tz="UTC").tz_localize(None))
    if not usable.any():
        return since
    latest = frame.loc[times[usable].idxmax(), updated.name]
    if since and parse_times(pd.Series([since]), updated.format)[0] > times[usable].max():
        return since
    return latest


@contextmanager
def area_lock(home: Path, area: str):
    """One ingestion of an area at a time (a sensor run and the daily run may overlap)."""
    path = Path(home) / "state" / f"{area}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ingest_area(area: AreaConfig, home: Path, key: bytes, full_resync: bool = False, link: bool = True
                ) -> list[BatchReport]:
    """Land what is new for an area, then (unless the caller does it as its own step) link its people
    again over everything landed."""
    with area_lock(home, area.key):
        Landing(home, area.key).check_key(key)
        if area.transport == "api":
            reports = [ingest_api(area, home, key, full_resync)]
        else:
            files = pending_files(area, home)
            if files:
                import_great_expectations_meanwhile()
            reports = ingest_files(area, files, home, key)
        if link:
            link_people(area.key, home)
    return reports


def link_people(area: str, home: Path, full: bool = False) -> dict:
    """Every landed referral's person pseudonym over all the area's match keys (so a record that
    arrives later and joins two people together re-links both), written atomically; returns the
    numbers of referrals and people.

    The match keys of every linked batch are kept between runs in a DuckDB file under state/ (each
    distinct combination once; it can spill to disk), so a day's linkage does not read the
    whole landing again. After a first full linkage only the batches landed since are linked in: the
    people they touch (sharing a match key or a referral with a new record) are linked again from all
    their records, the others keep their pseudonyms; the result is the same as linking everything
    again. Only one column at a time comes out of DuckDB, as integer codes for the connected components.

    Each row of the people file says which linkage run gave the referral its person (`linked_in`, the
    runs numbered 1, 2, ... per area): the warehouse finds the referrals given another person since it
    last read the file from that, without comparing every referral's person with the file's.

    The numbers of referrals and people are kept in the state with the people file's size and time: a day's
    people are those before, less the people it touched, plus the people it linked them into (a person
    not touched shares no key with them), so the file's ten million rows are not counted again."""
    import duckdb

    contract = contract_for(area)
    landing = Landing(home, area)
    referral_id = contract.by_canonical("referral_id").name
    columns = [f"mk_{name}" for name in MATCH_KEYS]
    files = [str(f) for f in sorted((landing.root / "referrals").glob("*.parquet"))]
    if not files:
        return {"referrals": 0, "people": 0}
    people_file = landing.root / "people.parquet"
    state = landing.state()
    linked_batches = sorted(state.get("linked_batches") or [])
    already_linked = set(linked_batches)
    new_files = [f for f in files if Path(f).stem not in already_linked]
    store = Path(home) / "state" / f"{area}.linkage.duckdb"
    # (a people file from before person keys were UUIDs, text then, or from before `linked_in`, is
    # linked again from the landing)
    types = parquet_types(people_file)
    has_runs = "linked_in" in types
    incremental = not full and bool(linked_batches) and has_runs and store.exists() and types["person_key"] == "UUID"
    run = 1 + (last_linkage_run(people_file) if has_runs else 0)  # the file is the count: always onwards
    if not incremental:
        store.unlink(missing_ok=True)
        Path(f"{store}.wal").unlink(missing_ok=True)
        new_files = files
    work_tables = ("new", "touched", "affected", "records", "linked")
    with duckdb.connect(str(store)) as con:
        con.execute(f"set memory_limit = '{LINKAGE_MEMORY}'")  # beyond it DuckDB spills to disk
        con.execute("set enable_progress_bar = false")  # no bars in the logs
        for table in work_tables:  # left behind by a run that stopped part way
            con.execute(f"drop table if exists {table}")
        if new_files:
            key_columns = ", ".join(f'"{c}" uuid' for c in columns)
            con.execute(f"create table if not exists keys (batch_id varchar, referral_id varchar, {key_columns})")
            # rows of a batch whose linkage was never committed (a run that stopped part way) go again
            con.execute("delete from keys where batch_id not in (select unnest(?::varchar[]))", [linked_batches])
            # batches landed before the keys were UUIDs hold them as 32 hex digits: the cast reads both
            select = parquet_select(con, new_files, columns, as_type="uuid")
            # a referral's versions mostly carry the same keys: a combination is kept once, under the
            # first batch that brought it
            same = " and ".join(f'k."{c}" is not distinct from i."{c}"' for c in ["referral_id", *columns])
            # linking in, the rows new to the store are kept apart as `new` too (not found again in it).
            # The store's rows of the incoming referrals are found first: an anti join straight against
            # the store hashed all its rows (10 million: 1.9 s against 0.3 s)
            con.execute(f"""{"create table new as" if incremental else "insert into keys"}
                with incoming as materialized (
                    select min(regexp_extract(filename, '([^/]+)[.]parquet$', 1)) as batch_id,
                           cast("{referral_id}" as varchar) as referral_id, {select}
                    from read_parquet({sql_list(new_files)}, union_by_name=true, filename=true)
                    group by all),
                stored as (select k.* from keys k semi join incoming using (referral_id))
                select i.* from incoming i anti join stored k on {same}""")
            if incremental:
                con.execute("insert into keys select * from new")
        new_batches = [Path(f).stem for f in new_files]
        # the store's tables are on disk now: DuckDB's buffers give way to the arrays of the components
        con.execute(f"set memory_limit = '{LINKAGE_MEMORY_AFTER_LOADING}'")
        if new_batches:
            key_list = ", ".join(f'"{c}"' for c in columns)
            if has_runs:
                con.execute(f"create temp view people_before as select * from read_parquet({sql_list([str(people_file)])})")
            if incremental:
                # the people a new record touches (a shared key or referral), then all their referrals
                sharing = " union ".join(f'select k.referral_id from keys k semi join new n on k."{c}" = n."{c}"'
                                         for c in ["referral_id", *columns])
                con.execute(f"""create table touched as select distinct p.person_key
                    from ({sharing}) k join people_before p using (referral_id)""")
                con.execute("""create table affected as
                    select referral_id from people_before where person_key in (select person_key from touched)
                    union select referral_id from new""")
                con.execute(f"""create table records as select referral_id, {key_list}
                    from keys where referral_id in (select referral_id from affected)""")
            link_records(con, columns, "records" if incremental else "keys")
            # a referral keeps the run of its person unless this run gave it another (linking everything
            # again too: the warehouse then rebuilds only what changed)
            linked_in = (f"""select l.referral_id, l.person_key,
                                    case when l.person_key = b.person_key then b.linked_in else {run} end as linked_in
                             from linked l left join people_before b using (referral_id)"""
                         if has_runs else f"select *, {run} as linked_in from linked")
            people_after = (f"""select referral_id, person_key, linked_in from people_before anti join linked using (referral_id)
                                union all {linked_in}""" if incremental else f"{linked_in} order by referral_id")
            out = landing.root / f".people.parquet.{uuid.uuid4().hex}.tmp"
            referrals = con.execute(f"copy ({people_after}) to '{out}' (format parquet)").fetchone()[0]
            counted = state.get("people_counts") or {}
            people = (counted["people"] - con.execute("select count(*) from touched").fetchone()[0]
                      + con.execute("select count(distinct person_key) from linked").fetchone()[0]
                      if incremental and counted.get("file") == file_stat(people_file) else None)
            os.replace(out, people_file)
            for table in work_tables:
                con.execute(f"drop table if exists {table}")
            con.execute("checkpoint")
            state = landing.state()
            state["linked_batches"] = sorted(Path(f).stem for f in files)
            state["people_counts"] = {"file": file_stat(people_file), "referrals": referrals, "people": people}
            landing.commit_state(state)
        counted = state.get("people_counts") or {}
        if counted.get("file") != file_stat(people_file) or counted.get("people") is None:
            # (a state from before the counts were kept, or a file written by a run that stopped part way)
            referrals, people = con.execute("select count(*), count(distinct person_key) from read_parquet(?)",
                                            [str(people_file)]).fetchone()
            state["people_counts"] = counted = {"file": file_stat(people_file), "referrals": referrals, "people": people}
            landing.commit_state(state)
    return {"referrals": counted["referrals"], "people": counted["people"]}


LINKAGE_MEMORY = "2GB"
LINKAGE_MEMORY_AFTER_LOADING = "1GB"


def parquet_types(path: Path) -> dict[str, str]:
    """The DuckDB type of each column of a Parquet file, from its schema (none if there is no file)."""
    import duckdb

    if not path.exists():
        return {}
    with duckdb.connect() as con:
        return dict(con.execute("select name, duckdb_type from parquet_schema(?)", [str(path)]).fetchall())


def last_linkage_run(people_file: Path) -> int:
    import duckdb

    with duckdb.connect() as con:
        return con.execute("select coalesce(max(linked_in), 0) from read_parquet(?)", [str(people_file)]).fetchone()[0]


def sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def link_records(con, columns: list[str], records: str) -> None:
    """Table `linked` (referral_id, person_key) from table `records` (referral_id and the match keys,
    each combination once, as the store keeps them):
    connected components over shared keys and referral ids; the pseudonym is the smallest match key
    hash in the person's group: stable, and reveals nothing. A record with no match key is a person of its
    own, under the MD5 of its referral id (a pseudonym of the same type)."""
    from concurrent.futures import ThreadPoolExecutor

    def codes_of(column: str) -> np.ndarray:
        cursor = con.cursor()
        cursor.execute("set arrow_lossless_conversion = true")  # keys as their 16 bytes, not as text
        values = cursor.sql(f'select "{column}" from {records} order by rowid').to_arrow_table().column(0).combine_chunks()
        if isinstance(values, pa.ExtensionArray):
            values = values.storage
        return pc.fill_null(pc.dictionary_encode(values).indices, -1).to_numpy(zero_copy_only=False)

    # two columns at a time (DuckDB and pyarrow let go of the GIL): a core would idle otherwise
    with ThreadPoolExecutor(2) as pool:
        groups = list(pool.map(codes_of, ["referral_id", *columns]))  # every version of a referral is one person
    label = components(groups, len(groups[0]))
    del groups
    con.register("labels", pa.table({"row": np.arange(len(label)), "person": label}))
    # each record's smallest key first: the person's smallest is then a min of one column, not of eight
    smallest = ", ".join(f'"{c}"' for c in columns)
    con.execute(f"""create table linked as
        with labelled as (select r.referral_id, r.key, l.person
                          from (select rowid as row, referral_id, least({smallest}) as key from {records}) r
                          join labels l using (row)),
             smallest as (select person, min(key) as key from labelled group by person)
        select distinct referral_id, coalesce(s.key, cast(md5(referral_id) as uuid)) as person_key
        from labelled join smallest s using (person)""")
    con.unregister("labels")
