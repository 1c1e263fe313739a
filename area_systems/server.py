"""`ccs serve-sources`: the API areas' referral systems as real HTTP services.

Per API area (paths under /<area>/api):
  GET  referrals?updated_since=ISO&cursor=C&limit=N   records changed after a time, keyset-paged:
       {"data": [...], "next_cursor": C | null, "has_more": bool, "server_time": ISO}
  GET  services?page=P&per_page=N, services/<id>, organizations?page=P&per_page=N, taxonomies
       the service directory in Open Referral UK form: the HSDS 3 paged envelope (total_items,
       total_pages, page_number, size, first_page, last_page, empty, contents) or, for a system on
       the older v1 feed, (totalElements, totalPages, number, size, first, last, content)
Every request needs `Authorization: Bearer <the area's token>` (manifest.json).

The server has a clock: a record is shown as it stood at the clock's time, so moving the clock
forward (POST /_admin/clock) makes records change between two syncs, or in the middle of one.
Paging is keyset (last change time, record) so it stays consistent while records change: a record
that changes mid-sync moves to the end and is served again, never skipped.

Test switches (POST /_admin/faults, or `--fault` flags), each deterministic:
  error_every=N       every Nth referrals request answers 503
  slow_ms=M           every response waits M ms
  truncate_every=N    every Nth referrals request sends a cut-off JSON body
  repeat_record=1     each page repeats the previous page's last record
  rate_limit=R        at most R requests a second per token, else 429 with Retry-After
Admin calls need `X-Admin-Token` (manifest.json). GET /_admin/stats counts what was served.
"""

import base64
import hashlib
import json
import math
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pyarrow.parquet as pq

MAX_LIMIT = 1000
FAULT_DEFAULTS = {"error_every": 0, "slow_ms": 0, "truncate_every": 0, "repeat_record": 0, "rate_limit": 0}
V1_AREAS = {"swansea_npt"}  # systems still on the older Open Referral UK v1 feed


def admin_token(manifest: dict) -> str:
    return hashlib.sha256(f"ccs-demo-admin:{manifest['seed']}".encode()).hexdigest()[:40]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def parse_time(text: str) -> int:
    """ISO 8601 (with Z, an offset, or none for UTC) to epoch milliseconds."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


def nest(row: dict) -> dict:
    """{"client.firstName": x} -> {"client": {"firstName": x}}"""
    out: dict = {}
    for key, value in row.items():
        if key.startswith("_"):
            continue
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


class AreaSystem:
    """One API area's data: the versions of its referrals and its directory."""

    def __init__(self, key: str, folder: Path, token: str):
        self.key, self.token = key, token
        table = pq.read_table(folder / "system" / "referral_versions.parquet")
        self.table = table
        self.updated = table["_updated_ms"].to_numpy()
        self.next = table["_next_ms"].to_numpy()
        self.seq = table["_seq"].to_numpy()
        order = np.lexsort((self.seq, self.updated))
        if not np.array_equal(order, np.arange(len(order))):
            raise ValueError(f"{folder}: referral versions must be ordered by change time")
        self.directory = json.loads((folder / "system" / "directory.json").read_text())

    def page(self, now: int, since: int, cursor: tuple[int, int] | None, limit: int) -> tuple[list[int], bool]:
        """Indices of the next page of records as they stand at `now`, changed after `since`."""
        lo_u, lo_seq = cursor if cursor else (since, np.iinfo(np.int64).max)
        start = np.searchsorted(self.updated, lo_u, side="left")
        same = np.searchsorted(self.updated, lo_u, side="right")
        start += np.searchsorted(self.seq[start:same], lo_seq, side="right")
        end = np.searchsorted(self.updated, now, side="right")
        visible = start + np.flatnonzero(self.next[start:end] > now)
        return visible[:limit].tolist(), len(visible) > limit


def encode_cursor(updated: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{updated}:{seq}".encode()).decode()


def decode_cursor(text: str) -> tuple[int, int]:
    updated, seq = base64.urlsafe_b64decode(text.encode()).decode().split(":")
    return int(updated), int(seq)


class SourceServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data: Path, host: str, port: int, faults: dict | None = None, now: str | None = None):
        manifest = json.loads((data / "manifest.json").read_text())
        self.admin = admin_token(manifest)
        self.areas = {key: AreaSystem(key, data / key, info["token"])
                      for key, info in manifest["areas"].items() if info["transport"] == "api"}
        world_end = parse_time(str(np.datetime64(manifest["end"], "M") + 1) + "-01T00:00:00+00:00") - 1
        self.world_end = world_end
        self.now = parse_time(now) if now else world_end
        self.faults = {**FAULT_DEFAULTS, **(faults or {})}
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "referral_requests": 0, "errors_injected": 0, "truncated": 0, "rate_limited": 0,
                      "unauthorised": 0}
        self.buckets: dict[str, tuple[float, float]] = {}
        super().__init__((host, port), Handler)

    def count(self, name: str) -> int:
        with self.lock:
            self.stats[name] += 1
            return self.stats[name]

    def allow(self, token: str) -> float:
        """Token bucket per client token: 0 if the request may go ahead, else seconds to wait."""
        rate = self.faults["rate_limit"]
        if not rate:
            return 0.0
        with self.lock:
            tokens, last = self.buckets.get(token, (float(rate), time.monotonic()))
            now = time.monotonic()
            tokens = min(float(rate), tokens + (now - last) * rate)
            if tokens >= 1:
                self.buckets[token] = (tokens - 1, now)
                return 0.0
            self.buckets[token] = (tokens, now)
            return (1 - tokens) / rate


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SourceServer

    def log_message(self, format, *args):  # requests carry no personal data, but keep test output quiet
        pass

    def send_json(self, status: int, body, headers: dict | None = None, truncate: bool = False) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        if truncate:
            data = data[: max(1, len(data) // 2)]
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        s = self.server
        if self.headers.get("X-Admin-Token") != s.admin:
            return self.send_json(403, {"error": "admin token required"})
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = urlparse(self.path).path
        if path == "/_admin/clock":  # {"now": ISO 8601}, or {"now": null} for the end of the world
            s.now = parse_time(body["now"]) if body.get("now") else s.world_end
            return self.send_json(200, {"now": iso(s.now)})
        if path == "/_admin/faults":
            unknown = set(body) - set(FAULT_DEFAULTS)
            if unknown:
                return self.send_json(400, {"error": f"unknown faults {sorted(unknown)}"})
            s.faults = {**FAULT_DEFAULTS, **body}
            s.stats["referral_requests"] = 0  # "every Nth request" counts from here
            return self.send_json(200, s.faults)
        return self.send_json(404, {"error": "not found"})

    def do_GET(self):
        s = self.server
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["_admin"]:
            if self.headers.get("X-Admin-Token") != s.admin:
                return self.send_json(403, {"error": "admin token required"})
            return self.send_json(200, {"now": iso(s.now), "faults": s.faults, "stats": s.stats})
        s.count("requests")
        if len(parts) < 3 or parts[0] not in s.areas or parts[1] != "api":
            return self.send_json(404, {"error": "not found"})
        area = s.areas[parts[0]]
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if token != area.token:
            s.count("unauthorised")
            return self.send_json(401, {"error": "invalid or missing bearer token"},
                                  {"WWW-Authenticate": 'Bearer realm="referrals"'})
        wait = s.allow(token)
        if wait:
            s.count("rate_limited")
            return self.send_json(429, {"error": "rate limit exceeded"}, {"Retry-After": str(max(1, math.ceil(wait)))})
        if s.faults["slow_ms"]:
            time.sleep(s.faults["slow_ms"] / 1000)
        try:
            if parts[2] == "referrals":
                return self.referrals(area, query)
            if parts[2] in ("services", "organizations", "taxonomies"):
                return self.directory(area, parts[2], parts[3] if len(parts) > 3 else None, query)
        except (ValueError, KeyError) as error:
            return self.send_json(400, {"error": f"bad request: {error}"})
        return self.send_json(404, {"error": "not found"})

    def referrals(self, area: AreaSystem, query: dict) -> None:
        s = self.server
        n = s.count("referral_requests")
        if s.faults["error_every"] and n % s.faults["error_every"] == 0:
            s.count("errors_injected")
            return self.send_json(503, {"error": "service temporarily unavailable"}, {"Retry-After": "1"})
        limit = min(MAX_LIMIT, int(query.get("limit", 200)))
        if limit < 1:
            raise ValueError("limit must be at least 1")
        since = parse_time(query["updated_since"]) if "updated_since" in query else -1
        cursor = decode_cursor(query["cursor"]) if "cursor" in query else None
        rows, has_more = area.page(s.now, since, cursor, limit)
        records = [nest(r) for r in area.table.take(rows).to_pylist()] if rows else []
        next_cursor = None
        if has_more and rows:
            last = rows[-2] if s.faults["repeat_record"] and len(rows) > 1 else rows[-1]
            next_cursor = encode_cursor(int(area.updated[last]), int(area.seq[last]))
        truncate = bool(s.faults["truncate_every"]) and n % s.faults["truncate_every"] == 0
        if truncate:
            s.count("truncated")
        self.send_json(200, {"data": records, "next_cursor": next_cursor, "has_more": has_more,
                             "server_time": iso(s.now)}, truncate=truncate)

    def directory(self, area: AreaSystem, kind: str, item: str | None, query: dict) -> None:
        today = iso(self.server.now)[:10]
        directory = area.directory
        orgs = {o["id"]: o for o in directory["organisations"]}
        if kind == "taxonomies":
            labels = sorted({label for svc in directory["services"] for label in svc["issues"]})
            return self.send_json(200, [{"id": f"issue-{i + 1}", "name": label} for i, label in enumerate(labels)])
        v1 = area.key in V1_AREAS
        if kind == "services":
            items = [service_record(svc, orgs[svc["organisation_id"]], k, v1, today)
                     for k, svc in enumerate(directory["services"]) if svc["live_from"] <= today]
        else:
            items = [{"id": o["id"], "name": o["name"], "description": f"<p>{o['name']}</p>",
                      "x_org_type": o["org_type"], "x_role": o["role"], **org_identifier_fields(o, v1)}
                     for o in directory["organisations"] if o["joined"] <= today]
        if item is not None:
            found = [x for x in items if x["id"] == item]
            return self.send_json(200, found[0]) if found else self.send_json(404, {"error": "not found"})
        page, size = int(query.get("page", 1)), min(MAX_LIMIT, int(query.get("per_page", 50)))
        if page < 1 or size < 1:
            raise ValueError("page and per_page start at 1")
        total_pages = max(1, math.ceil(len(items) / size))
        contents = items[(page - 1) * size: page * size]
        if v1:
            body = {"totalElements": len(items), "totalPages": total_pages, "number": page, "size": size,
                    "first": page == 1, "last": page >= total_pages, "content": contents}
        else:
            body = {"total_items": len(items), "total_pages": total_pages, "page_number": page, "size": size,
                    "first_page": page == 1, "last_page": page >= total_pages, "empty": not contents,
                    "contents": contents}
        self.send_json(200, body)


def service_record(svc: dict, org: dict, k: int, v1: bool, today: str) -> dict:
    """A directory service as a real Open Referral UK feed shows it, warts and all: HTML in the
    description, the odd empty name, vendor extension fields for what the standard lacks."""
    paused = any(p["from"] <= today <= p["to"] for p in svc["intake_pauses"])
    description = f"<p>{svc['name']} &ndash; referrals via the network.</p><ul><li>Free</li><li>Confidential</li></ul>"
    record = {
        "id": svc["id"],
        "name": "" if k % 17 == 5 else svc["name"],
        "description": description,
        "status": "active",
        "organization": {"id": org["id"], "name": org["name"], "x_org_type": org["org_type"], "x_role": org["role"],
                         **org_identifier_fields(org, v1)},
        "x_accepting_referrals": not paused,
        "x_intake_pauses": svc["intake_pauses"],
        "x_live_from": svc["live_from"],
    }
    if v1:
        record["service_taxonomys"] = [{"id": f"{svc['id']}-t{i}", "taxonomy": {"id": label, "name": label,
                                        "vocabulary": "snptran-issues"}} for i, label in enumerate(svc["issues"])]
        record["service_areas"] = [{"id": a["code"], "service_area": a["name"], "uri": a["code"]} for a in svc["areas"]]
    else:
        record["attributes"] = [{"id": f"{svc['id']}-a{i}", "taxonomy_term": {"id": label, "term": label,
                                 "taxonomy": "thcan-issues"}} for i, label in enumerate(svc["issues"])]
        record["service_areas"] = [{"id": a["code"], "name": a["name"], "extent_type": "ward", "uri": a["code"]}
                                   for a in svc["areas"]]
    return record


def org_identifier_fields(org: dict, v1: bool) -> dict:
    """The organisation's org-id (org-id.guide scheme and number): HSDS 3's organization_identifiers;
    the v1 feeds have no such field, so a vendor extension."""
    ident = org.get("org_identifier")
    if not ident:
        return {} if v1 else {"organization_identifiers": []}
    if v1:
        return {"x_org_identifier": ident}
    scheme, _, number = ident.rpartition("-")
    return {"organization_identifiers": [{"identifier_scheme": scheme, "identifier": number,
                                          "identifier_type": SCHEME_NAMES.get(scheme, scheme)}]}


SCHEME_NAMES = {"GB-CHC": "Charity number (England and Wales)", "GB-COH": "Company number", "GB-SC": "Scottish charity number",
                "GB-LAE": "Local authority (England)", "GB-PLA": "Principal local authority (Wales)",
                "GB-NHS": "NHS organisation", "GB-EDU": "School (URN)", "GB-GOV": "Government department"}


def serve(data: Path, host: str = "127.0.0.1", port: int = 8765, faults: dict | None = None, now: str | None = None):
    server = SourceServer(Path(data), host, port, faults, now)
    return server
