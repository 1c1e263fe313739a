"""`ccs generate`: write the synthetic world, one folder per area, streaming a month at a time.

DIR/
  manifest.json                 how to reach each area (export folder or API path and token)
  ground_truth.json             the true figures (docs/ground_truth.md)
  ground_truth_people/AREA.parquet  referral id -> the real person behind it
  norfolk/exports/*.csv         monthly CSV exports (CSV areas)
  norfolk/directory/*.csv       the service directory export
  tower_hamlets/system/         the API system's own store (served by `ccs serve-sources`)
"""

import ctypes
import hashlib
import io
import json
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import taxonomy as tx
from .grants import merge_grants_truth, org_identifiers, write_grants
from .dialects import DIALECTS, Dialect, Renderer, format_times, utc_millis
from .profiles import AREAS
from .truth import Latent, area_truth
from .world import MINUTES_PER_DAY, NEVER, AreaWorld, MonthBatch, month_days

GROUND_TRUTH_SCHEMA_VERSION = 1
CSV_CHUNK_ROWS = 20_000
EXPORT_FILES = {"norfolk": "NCAN_referrals_{month}.csv", "oldham": "ocan_export_{yyyymm}.csv"}


def api_token(seed: int, area: str) -> str:
    return hashlib.sha256(f"ccs-demo-token:{seed}:{area}".encode()).hexdigest()[:40]


def generate(out: Path, seed: int = 1, scale: float = 1.0, start: str = "2019-01", end: str = "2022-12",
             areas: list[str] | None = None, workers: int = 2) -> dict:
    """Write the world. Areas are independent (each has its own random stream), so they are built in
    parallel processes, the biggest first; the output is the same whatever the number of workers."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keys = [p.key for p in AREAS if not areas or p.key in areas]
    jobs = [(out, key, seed, scale, start, end) for key in keys]
    if workers > 1 and len(jobs) > 1:
        # A fresh process per area, so a finished area's memory is given back while the others run.
        with ProcessPoolExecutor(min(workers, len(jobs)), max_tasks_per_child=1) as pool:
            results = list(pool.map(generate_area, *zip(*jobs)))
    else:
        results = [generate_area(*job) for job in jobs]
    manifest = {"seed": seed, "scale": scale, "start": start, "end": end,
                "areas": {key: info for key, (info, _) in zip(keys, results)}}
    truth = {"schema_version": GROUND_TRUTH_SCHEMA_VERSION, "seed": seed, "scale": scale, "start": start, "end": end,
             "areas": {key: figures for key, (_, figures) in zip(keys, results)}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
    merge_grants_truth(out, keys, seed)
    return manifest


def generate_area(out: Path, key: str, seed: int, scale: float, start: str, end: str) -> tuple[dict, dict]:
    """Simulate one area month by month, writing its exports or API store as it goes."""
    profile = next(p for p in AREAS if p.key == key)
    pa.set_memory_pool(pa.system_memory_pool())  # glibc's pool gives memory back (release_free_memory)
    world = AreaWorld(profile, seed, scale, start, end)
    dialect = DIALECTS[key]
    renderer = Renderer(world, dialect)
    folder = out / key
    sink = CsvExports(folder / "exports", renderer) if dialect.transport == "csv" else ApiStore(folder / "system", renderer)
    (out / "ground_truth_people").mkdir(exist_ok=True)
    people_schema = pa.schema([("referral_id", pa.string()), ("person_id", pa.string())])
    open_items: list[Rendered] = []
    latent: list[Latent] = []
    with pq.ParquetWriter(out / "ground_truth_people" / f"{key}.parquet", people_schema) as people_out:

        def emit(month: np.datetime64, batch: MonthBatch | None, items: list[Rendered]) -> list[Rendered]:
            if batch is not None:
                items = items + [Rendered(batch, renderer.static(batch))]
                people_out.write_table(pa.table({
                    "referral_id": items[-1].static["referral_id"],
                    "person_id": pa.array(batch.person).cast(pa.string())}, schema=people_schema))
            return sink.write_month(month, items)

        # Rendering and writing one month overlaps simulating the next (arrow works outside the GIL).
        with ThreadPoolExecutor(1) as writer:
            pending = None
            for month in np.arange(np.datetime64(start, "M"), np.datetime64(end, "M") + 1):
                batch = world.simulate_month(month)
                if batch is not None:
                    latent.append(Latent.of(world, batch))
                if pending is not None:
                    open_items = pending.result()
                    release_free_memory()
                pending = writer.submit(emit, month, batch, open_items)
            pending.result()
    sink.close()
    write_directory(folder, world, dialect)
    write_grants(out, world)
    info = {
        "network": profile.network, "system": dialect.system, "transport": dialect.transport,
        "dialect": dialect.key, "live_from": profile.live_from, "lsoa_vintage": dialect.lsoa_vintage,
        **({"exports": f"{key}/exports", "directory": f"{key}/directory"} if dialect.transport == "csv" else
           {"api_path": f"/{key}/api", "token": api_token(seed, key)}),
        "grants": f"{key}/grants",
    }
    labels = {code: dialect.issue_labels.get(code, code) for code in tx.ISSUE_CODES}
    figures = area_truth(world, Latent.concat(latent), labels)
    figures["planned_connections"] = {str(y): c for y, c in sorted(world.planned_connections.items())
                                      if str(y) in figures["years"]}
    return info, figures


def release_free_memory() -> None:
    """Hand freed heap back to the system: with two threads allocating, glibc otherwise keeps every
    month's temporaries and the process grows far past what it holds."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def event_times(batch: MonthBatch) -> list[np.ndarray]:
    return [batch.sent, batch.responded, batch.contacted, batch.closed]


@dataclass
class Rendered:
    """Latent referrals with their static columns already rendered in the area's dialect."""

    batch: MonthBatch
    static: pa.Table

    def take(self, rows: np.ndarray) -> "Rendered":
        """The referrals at `rows` (indices or a boolean mask)."""
        static = self.static.filter(pa.array(rows)) if rows.dtype == bool else self.static.take(rows)
        return Rendered(self.batch.take(rows), static)


def still_open(items: list[Rendered], end_minute: int) -> list[Rendered]:
    """Referrals with an event still to come after `end_minute`."""
    kept = []
    for item in items:
        later = np.zeros(len(item.batch), bool)
        for t in event_times(item.batch):
            later |= (t >= end_minute) & (t != NEVER)
        if later.any():
            kept.append(item.take(later))
    return kept


class CsvExports:
    """Monthly delta exports: every referral created or changed in the month, as it stood at month end."""

    def __init__(self, folder: Path, renderer: Renderer):
        self.folder, self.renderer = folder, renderer
        folder.mkdir(parents=True, exist_ok=True)

    def write_month(self, month: np.datetime64, items: list[Rendered]) -> list[Rendered]:
        lo, hi = (np.array(month_days(month)) * MINUTES_PER_DAY).tolist()
        changed = []
        for item in items:
            touched = np.zeros(len(item.batch), bool)
            for t in event_times(item.batch):
                touched |= (t >= lo) & (t < hi)
            changed.append(np.flatnonzero(touched))

        def chunks():  # in referral-number order (items are in sending order), a chunk at a time
            for item, rows in zip(items, changed):
                for start in range(0, len(rows), CSV_CHUNK_ROWS):
                    sub = item.take(rows[start:start + CSV_CHUNK_ROWS])
                    yield self.renderer.rows(sub.batch, sub.static, np.full(len(sub.batch), hi - 1))

        if any(len(rows) for rows in changed):
            name = EXPORT_FILES[self.renderer.d.key].format(month=str(month), yyyymm=str(month).replace("-", ""))
            write_csv(chunks(), self.folder / name, self.renderer.d)
        return still_open(items, hi)

    def close(self) -> None:
        pass


def write_csv(tables, path: Path, dialect: Dialect) -> None:
    """Write a table, or chunks of one, in the dialect's encoding and line endings."""
    with open(path, "wb") as f:
        if dialect.encoding == "utf-8-sig":
            f.write(b"\xef\xbb\xbf")
        for k, table in enumerate([tables] if isinstance(tables, pa.Table) else tables):
            buffer = io.BytesIO()
            pacsv.write_csv(table, buffer, pacsv.WriteOptions(quoting_style="needed", include_header=k == 0))
            text = buffer.getvalue()
            if dialect.line_terminator != "\n":
                text = text.replace(b"\n", dialect.line_terminator.encode())
            if dialect.encoding not in ("utf-8", "utf-8-sig") and not text.isascii():
                text = encode(text.decode("utf-8"), dialect.encoding)
            f.write(text)


def encode(text: str, encoding: str) -> bytes:
    """Windows-1252 writes every Latin-1 letter (é, ë, £) as Latin-1 does, and Python's Latin-1
    encoder is many times faster. (The two differ only on the C1 control characters, which no
    generated text holds.) Anything beyond Latin-1, such as €, goes through the real codec."""
    if encoding == "cp1252":
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            pass
    return text.encode(encoding)


class ApiStore:
    """The API system's own store: every version of every referral, one row per change, ordered by
    the time of the change (UTC milliseconds) so the server can page with a keyset cursor."""

    def __init__(self, folder: Path, renderer: Renderer):
        folder.mkdir(parents=True, exist_ok=True)
        self.path, self.renderer = folder / "referral_versions.parquet", renderer
        self.writer: pq.ParquetWriter | None = None

    def write_month(self, month: np.datetime64, items: list[Rendered]) -> list[Rendered]:
        lo, hi = (np.array(month_days(month)) * MINUTES_PER_DAY).tolist()
        parts = []
        for item in items:
            times = event_times(item.batch)
            for k, t in enumerate(times):
                at = (t >= lo) & (t < hi)
                if not at.any():
                    continue
                sub = item.take(at)
                when = t[at]
                later = [np.where((u[at] > when) & (u[at] != NEVER), u[at], NEVER) for u in times[k + 1:]]
                next_change = np.minimum.reduce(later) if later else np.full(len(when), NEVER)
                table = self.renderer.rows(sub.batch, sub.static, when)
                table = table.append_column("_updated_ms", pa.array(utc_millis(when)))
                table = table.append_column("_next_ms", pa.array(np.where(
                    next_change == NEVER, np.iinfo(np.int64).max, utc_millis(np.where(next_change == NEVER, 0, next_change)))))
                table = table.append_column("_seq", pa.array(sub.batch.seq))
                parts.append(table)
        if parts:
            table = pa.concat_tables(parts)
            table = table.take(np.lexsort((table["_seq"].to_numpy(), table["_updated_ms"].to_numpy())))
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, table.schema)
            self.writer.write_table(table.cast(self.writer.schema))
        return still_open(items, hi)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


ORG_TYPE_LABELS = {
    "norfolk": {"local_authority": "Local Authority", "statutory": "Statutory", "vcs": "Voluntary & Community"},
    "oldham": {"local_authority": "LA", "statutory": "STAT", "vcs": "VCSE"},
}


def write_directory(folder: Path, world: AreaWorld, dialect: Dialect) -> None:
    """The service directory as the system publishes it at the end of the span: CSV exports for the
    CSV areas, a JSON store that `ccs serve-sources` turns into Open Referral UK feeds for API areas."""
    r = Renderer(world, dialect)
    geo = world.geo
    end_minute = world.end_minute
    day_text = lambda day: format_times(np.array([day * MINUTES_PER_DAY]), dialect)[0].as_py()
    date_only = lambda day: str(np.datetime64(int(day), "D"))
    rows = []
    for s in world.services:
        org = world.orgs[s.org]
        issues = [dialect.issue_labels[tx.ISSUE_CODES[i]] for i in np.flatnonzero(s.issues)]
        paused_now = any(a * MINUTES_PER_DAY <= end_minute - 1 < (b + 1) * MINUTES_PER_DAY for a, b in s.pauses)
        rows.append({
            "org": org, "service": s, "issues": issues,
            "zones": [geo.zones[z] for z in np.flatnonzero(s.zones)],
            "zone_names": [geo.zone_names[z] for z in np.flatnonzero(s.zones)],
            "accepting": not paused_now,
            "pauses": [(a, b) for a, b in s.pauses if a * MINUTES_PER_DAY < end_minute],
        })
    org_ids = [x["org_identifier"] or "" for x in org_identifiers(world, world.seed)]  # 360Giving org-ids
    users = np.bincount(world.user_org[world.user_join * MINUTES_PER_DAY < end_minute], minlength=len(world.orgs))
    if dialect.transport == "csv":
        (folder / "directory").mkdir(parents=True, exist_ok=True)
    if dialect.key == "norfolk":
        types = ORG_TYPE_LABELS["norfolk"]
        services = pa.table({
            "Organisation": [x["org"].name for x in rows],
            "Organisation Type": [types[x["org"].org_type] for x in rows],
            "Organisation Role": [x["org"].role.replace("_", " ").title() for x in rows],
            "Service": [x["service"].name for x in rows],
            "Issues Accepted": [dialect.issue_separator.join(x["issues"]) for x in rows],
            "Districts Covered": ["All Norfolk" if x["service"].area_wide else "; ".join(x["zone_names"]) for x in rows],
            "Accepting Referrals": ["Yes" if x["accepting"] else "No" for x in rows],
            "Live From": [day_text(x["service"].start_day)[:10] for x in rows],
        })
        orgs = pa.table({
            "Organisation": [o.name for o in world.orgs],
            "Organisation Type": [types[o.org_type] for o in world.orgs],
            "Organisation Role": [o.role.replace("_", " ").title() for o in world.orgs],
            "Joined": [day_text(o.join_day)[:10] for o in world.orgs],
            "Registered Users": users.tolist(),
            "Org ID": org_ids,
        })
        pauses = pa.table({
            "Service": [x["service"].name for x in rows for _ in x["pauses"]],
            "Paused From": [day_text(a)[:10] for x in rows for a, _ in x["pauses"]],
            "Paused Until": [day_text(b)[:10] for x in rows for _, b in x["pauses"]],
        })
        for name, table in (("NCAN_services.csv", services), ("NCAN_organisations.csv", orgs),
                            ("NCAN_intake_pauses.csv", pauses)):
            write_csv(table, folder / "directory" / name, dialect)
    elif dialect.key == "oldham":
        types = ORG_TYPE_LABELS["oldham"]
        services = pa.table({
            "service_id": [r.service_ids[x["service"].id] for x in rows],
            "service_name": [x["service"].name for x in rows],
            "org_id": [r.org_ids[x["org"].id] for x in rows],
            "need_codes": [dialect.issue_separator.join(x["issues"]) for x in rows],
            "ward_codes": [dialect.issue_separator.join(x["zones"]) for x in rows],
            "accepting_referrals": ["true" if x["accepting"] else "false" for x in rows],
            "live_from": [date_only(x["service"].start_day) for x in rows],
            "pauses": [";".join(f"{date_only(a)}/{date_only(b)}" for a, b in x["pauses"]) for x in rows],
        })
        orgs = pa.table({
            "org_id": [r.org_ids[o.id] for o in world.orgs],
            "org_name": [o.name for o in world.orgs],
            "org_type": [types[o.org_type] for o in world.orgs],
            "org_role": [o.role for o in world.orgs],
            "joined": [date_only(o.join_day) for o in world.orgs],
            "registered_users": users.tolist(),
            "org_identifier": org_ids,
        })
        write_csv(services, folder / "directory" / "ocan_services.csv", dialect)
        write_csv(orgs, folder / "directory" / "ocan_organisations.csv", dialect)
    else:
        directory = {
            "organisations": [{
                "id": r.org_ids[o.id], "name": o.name, "org_type": o.org_type, "role": o.role,
                "joined": date_only(o.join_day), "registered_users": int(users[o.id]),
                "org_identifier": org_ids[o.id] or None} for o in world.orgs],
            "services": [{
                "id": r.service_ids[x["service"].id], "organisation_id": r.org_ids[x["org"].id],
                "name": x["service"].name, "issues": x["issues"],
                "areas": [{"code": c, "name": n} for c, n in zip(x["zones"], x["zone_names"])],
                "live_from": date_only(x["service"].start_day), "accepting_referrals": x["accepting"],
                "intake_pauses": [{"from": date_only(a), "to": date_only(b)} for a, b in x["pauses"]],
            } for x in rows],
        }
        (folder / "system" / "directory.json").write_text(json.dumps(directory, indent=1, ensure_ascii=False) + "\n")
