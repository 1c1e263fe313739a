"""Ingesting an area: each new export file, or the API's changes since the committed cursor."""

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ..config import AreaConfig
from .contracts import contract_for
from .landing import BatchReport, Landing, land_batches, parquet_bytes, write_atomically
from .linkage import link as connect
from .privacy import MATCH_KEYS
from .sources import ApiSettings, fetch_changes, read_export
from .validate import parse_times


def pending_files(area: AreaConfig, home: Path) -> list[Path]:
    """Export files in the drop folder not yet landed (by name and content: a file read once is
    never read again, even if a sensor sees it twice)."""
    contract = contract_for(area.key)
    done = Landing(home, area.key).state()["files"]
    pattern = contract.properties.get("filePattern", "*.csv")
    return [p for p in sorted(Path(area.drop_folder).glob(pattern)) if done.get(p.name) != file_digest(p)]


def file_digest(path: Path) -> str:
    return digest(Path(path).read_bytes())


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ingest_files(area: AreaConfig, paths: list[Path], home: Path, key: bytes) -> list[BatchReport]:
    """Land export files, one batch each; a file is marked read, by the digest of the very bytes that
    were landed, only once its batch has landed (a file still growing is read again later)."""
    contract = contract_for(area.key)
    landing = Landing(home, area.key)
    raw = {Path(p): Path(p).read_bytes() for p in paths}
    parts = [(str(p), read_export(p, contract, data)) for p, data in raw.items()]
    reports = land_batches(parts, contract, landing, key)
    state = landing.state()
    for path, data in raw.items():
        state["files"][path.name] = digest(data)
    landing.commit_state(state)
    return reports


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
            reports = ingest_files(area, pending_files(area, home), home, key)
        if link:
            link_people(area.key, home)
    return reports


def link_people(area: str, home: Path) -> pd.DataFrame:
    """Every landed referral's person pseudonym, rebuilt from all the area's match keys (so a record
    that arrives later and joins two people together re-links both), written atomically."""
    contract = contract_for(area)
    landing = Landing(home, area)
    referral_id = contract.by_canonical("referral_id").name
    columns = [f"mk_{name}" for name in MATCH_KEYS]
    records = landing.landed([referral_id, *columns])
    if records.empty:
        return pd.DataFrame(columns=["referral_id", "person_key"])
    records = records.rename(columns={referral_id: "referral_id"})
    # every version of a referral is one person: link on the referral id too
    records["mk_referral"] = "referral:" + records["referral_id"].astype(str)
    records["record_key"] = range(len(records))
    records["person_key"] = connect(records, [*columns, "mk_referral"])
    # the pseudonym is the smallest match key hash in the person's group: stable, and reveals nothing
    smallest = records.melt(id_vars="person_key", value_vars=columns).dropna().groupby("person_key")["value"].min()
    people = records.drop_duplicates("referral_id")[["referral_id", "person_key"]]
    people["person_key"] = "p_" + people["person_key"].map(smallest).fillna(people["referral_id"].astype(str))
    write_atomically(landing.root / "people.parquet", parquet_bytes(people.reset_index(drop=True)))
    return people
