"""The service directory: organisations, their services, the issues each accepts, where, and intake
pauses. API areas publish it as Open Referral UK feeds (HSDS 3 or the older v1 paging); CSV areas
export it as files beside their referral exports. Every shape becomes the same three tables under
$CCS_HOME/landing/<area>/directory/, replaced as a whole on each run (a directory is current state).
"""

import html
import re
from pathlib import Path

import pandas as pd

from ..config import AreaConfig
from .landing import parquet_bytes, write_atomically
from .sources import ApiSettings, BatchError, describe_http_error, retrying_session

# The Open Referral UK paging envelopes: (items, total pages).
ENVELOPES = {"hsds3": ("contents", "total_pages"), "v1": ("content", "totalPages")}


def fetch_feed(settings: ApiSettings, path: str) -> list[dict]:
    """Every item of a paged Open Referral UK list, in either envelope, through dlt's REST client."""
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth

    client = RESTClient(base_url=settings.base_url.rstrip("/") + "/", auth=BearerTokenAuth(settings.token),
                        session=retrying_session(settings))
    try:
        return list(fetch_pages(client, settings, path))
    except BatchError:
        raise
    except Exception as error:
        raise BatchError(f"{settings.base_url}/{path}: the directory feed failed ({describe_http_error(error)})") from None


def fetch_pages(client, settings: ApiSettings, path: str):
    first = client.get(path, params={"page": 1, "per_page": 100})
    first.raise_for_status()
    body = first.json()
    kind = next((k for k, (items, pages) in ENVELOPES.items() if items in body and pages in body), None)
    if kind is None:
        raise BatchError(f"{settings.base_url}/{path}: neither the HSDS 3 nor the v1 paging envelope "
                         f"(keys {sorted(body)[:8]})")
    items_key, pages_key = ENVELOPES[kind]
    yield from body[items_key]
    for page in range(2, int(body[pages_key]) + 1):
        response = client.get(path, params={"page": page, "per_page": 100})
        response.raise_for_status()
        yield from response.json()[items_key]


def text(value) -> str | None:
    """Plain text from a feed's HTML description or name; empty becomes None."""
    if value is None:
        return None
    plain = html.unescape(re.sub(r"<[^>]+>", " ", str(value)))
    plain = re.sub(r"\s+", " ", plain).strip()
    return plain or None


def from_feed(area: str, services: list[dict], organisations: list[dict]) -> dict[str, pd.DataFrame]:
    orgs = {o["id"]: o for o in organisations}
    rows, pauses = [], []
    for s in services:
        org = s.get("organization") or orgs.get(s.get("organization_id"), {})
        terms = [a["taxonomy_term"]["term"] for a in s.get("attributes", []) if a.get("taxonomy_term")]
        terms += [t["taxonomy"]["name"] for t in s.get("service_taxonomys", []) if t.get("taxonomy")]
        rows.append({
            "area": area, "service_id": str(s["id"]),
            # real feeds leave names empty: fall back to the organisation's
            "service_name": text(s.get("name")) or text(org.get("name")),
            "organisation_id": str(org.get("id")), "issue_labels": terms,
            "coverage": [str(a.get("uri") or a.get("id")) for a in s.get("service_areas", [])],
            "accepting_referrals": bool(s.get("x_accepting_referrals", True)),
            "live_from": s.get("x_live_from"),
        })
        pauses += [{"area": area, "service_id": str(s["id"]), "paused_from": p["from"], "paused_to": p["to"]}
                   for p in s.get("x_intake_pauses", [])]
    organisation_rows = [{"area": area, "organisation_id": str(o["id"]), "organisation_name": text(o.get("name")),
                          "organisation_type": o.get("x_org_type"), "role": o.get("x_role"),
                          "org_identifier": feed_org_identifier(o)} for o in organisations]
    return tables(rows, organisation_rows, pauses)


def feed_org_identifier(organisation: dict) -> str | None:
    """The organisation's org-id (scheme-number, as 360Giving uses it): HSDS 3's organization_identifiers
    (the first with an org-id.guide scheme), or the v1 feeds' vendor field."""
    for item in organisation.get("organization_identifiers") or []:
        if item.get("identifier_scheme") and item.get("identifier"):
            return org_id(f"{item['identifier_scheme']}-{item['identifier']}")
    return org_id(organisation.get("x_org_identifier"))


def org_id(value) -> str | None:
    """An org-id as 360Giving files write it: upper case, no spaces; empty is None."""
    if value is None or value != value:  # None or NaN
        return None
    text_value = re.sub(r"\s+", "", str(value)).upper()
    return text_value or None


def tables(services, organisations, pauses) -> dict[str, pd.DataFrame]:
    return {
        "services": pd.DataFrame(services, columns=["area", "service_id", "service_name", "organisation_id",
                                                    "issue_labels", "coverage", "accepting_referrals", "live_from"]),
        "organisations": pd.DataFrame(organisations, columns=["area", "organisation_id", "organisation_name",
                                                              "organisation_type", "role", "org_identifier"]),
        "intake_pauses": pd.DataFrame(pauses, columns=["area", "service_id", "paused_from", "paused_to"]),
    }


def from_norfolk_files(folder: Path) -> dict[str, pd.DataFrame]:
    """NCAN's directory export names organisations and services, without ids: the names are the ids."""
    read = lambda name: pd.read_csv(folder / name, encoding="cp1252", dtype=str, keep_default_na=False)
    services, orgs, pauses = read("NCAN_services.csv"), read("NCAN_organisations.csv"), read("NCAN_intake_pauses.csv")
    return tables(
        [{"area": "norfolk", "service_id": s["Service"], "service_name": s["Service"],
          "organisation_id": s["Organisation"], "issue_labels": s["Issues Accepted"].split("; "),
          "coverage": s["Districts Covered"].split("; "), "accepting_referrals": s["Accepting Referrals"] == "Yes",
          "live_from": pd.to_datetime(s["Live From"], format="%d/%m/%Y").strftime("%Y-%m-%d")}
         for _, s in services.iterrows()],
        [{"area": "norfolk", "organisation_id": o["Organisation"], "organisation_name": o["Organisation"],
          "organisation_type": o["Organisation Type"], "role": o["Organisation Role"],
          "org_identifier": org_id(o.get("Org ID"))} for _, o in orgs.iterrows()],
        [{"area": "norfolk", "service_id": p["Service"],
          "paused_from": pd.to_datetime(p["Paused From"], format="%d/%m/%Y").strftime("%Y-%m-%d"),
          "paused_to": pd.to_datetime(p["Paused Until"], format="%d/%m/%Y").strftime("%Y-%m-%d")}
         for _, p in pauses.iterrows()])


def from_oldham_files(folder: Path) -> dict[str, pd.DataFrame]:
    read = lambda name: pd.read_csv(folder / name, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    services, orgs = read("ocan_services.csv"), read("ocan_organisations.csv")
    pauses = [{"area": "oldham", "service_id": s["service_id"], "paused_from": p.split("/")[0], "paused_to": p.split("/")[1]}
              for _, s in services.iterrows() for p in s["pauses"].split(";") if p]
    return tables(
        [{"area": "oldham", "service_id": s["service_id"], "service_name": s["service_name"],
          "organisation_id": s["org_id"], "issue_labels": s["need_codes"].split("|"),
          "coverage": s["ward_codes"].split("|"), "accepting_referrals": s["accepting_referrals"] == "true",
          "live_from": s["live_from"]} for _, s in services.iterrows()],
        [{"area": "oldham", "organisation_id": o["org_id"], "organisation_name": o["org_name"],
          "organisation_type": o["org_type"], "role": o["org_role"],
          "org_identifier": org_id(o.get("org_identifier"))} for _, o in orgs.iterrows()],
        pauses)


FILE_READERS = {"norfolk": from_norfolk_files, "oldham": from_oldham_files}


def ingest_directory(area: AreaConfig, home: Path) -> dict[str, int]:
    """Land the area's current directory; returns the row count of each table."""
    if area.transport == "api":
        settings = ApiSettings(area.base_url, area.token())
        found = from_feed(area.key, fetch_feed(settings, "services"), fetch_feed(settings, "organizations"))
    else:
        folder = Path(area.drop_folder).parent / "directory"
        if area.key not in FILE_READERS or not folder.exists():
            raise BatchError(f"{area.key}: no directory export found at {folder}")
        found = FILE_READERS[area.key](folder)
    target = Path(home) / "landing" / area.key / "directory"
    target.mkdir(parents=True, exist_ok=True)
    for name, frame in found.items():
        write_atomically(target / f"{name}.parquet", parquet_bytes(frame))
    return {name: len(frame) for name, frame in found.items()}
