"""The world's funders and their grants, published as 360Giving files the way real publishers do.

Each area has a community foundation; a national funder also grants in every area. Their grants go
to the network's organisations (by the org-id the service directory carries), to organisations
outside the network, and to individuals (hardship grants: no recipient organisation). Every
publisher has its own layout:

  norfolk/grants/ncf_grants_360giving.csv      CSV with a byte-order mark, CRLF, extra columns,
                                               amounts as text ("£12,500.00"), dates "26/03/2021 00:00",
                                               charitable companies identified by GB-COH with the
                                               charity number in its own column, individuals' names
  tower_hamlets/grants/thct_grants.xlsx        XLSX: date cells, number cells, an extra column
  oldham/grants/ocf-grants-2019-2022.csv       CSV, no BOM, ISO dates, plain numbers, titles in
                                               another case ("Amount awarded", "Recipient Org: Identifier")
  swansea_npt/grants/sbcf_grants.json          canonical JSON {"grants": [...]}, ISO date-times
  <area>/grants/ncsf_grants_<area>.json        the national funder's canonical JSON, one file per area

The truth of what was granted to whom goes to grants_truth/<area>.json, merged into
grants_truth.json (docs/grants.md). Everything here draws from its own random stream, so the
referral data and ground_truth.json do not change.
"""

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np

from . import taxonomy as tx
from .dialects import DIALECTS, Renderer
from .people import name_pool
from .world import DAY0, AreaWorld

AREA_KEYS = ("norfolk", "tower_hamlets", "oldham", "swansea_npt")
GRANTS_STREAM = 360  # mixed into the seed: this module's own random stream

# Local authorities by register code: GB-LAE (England), GB-PLA (principal local authorities in Wales).
AREA_COUNCIL = {"norfolk": "GB-LAE-NFK", "tower_hamlets": "GB-LAE-TWH", "oldham": "GB-LAE-OLD"}
DISTRICT_COUNCIL = {"E07000143": "GB-LAE-BRE", "E07000144": "GB-LAE-BRO", "E07000145": "GB-LAE-GRY",
                    "E07000146": "GB-LAE-KIN", "E07000147": "GB-LAE-NNO", "E07000148": "GB-LAE-NOW",
                    "E07000149": "GB-LAE-SNO", "W06000011": "GB-PLA-SWA", "W06000012": "GB-PLA-NTL"}


@dataclass(frozen=True)
class Funder:
    identifier: str
    name: str
    prefix: str  # the publisher's 360Giving prefix for grant ids
    layout: str


FUNDERS = {
    "norfolk": Funder("GB-CHC-1900001", "Norfolk Community Fund", "360G-NCF", "csv_text_money"),
    "tower_hamlets": Funder("GB-CHC-1900002", "Tower Hamlets Community Trust", "360G-THCT", "xlsx"),
    "oldham": Funder("GB-CHC-1900003", "Oldham Community Fund", "360G-OCF", "csv_plain"),
    "swansea_npt": Funder("GB-CHC-1900004", "Swansea Bay Community Fund / Cronfa Gymunedol Bae Abertawe",
                          "360G-SBCF", "json"),
}
NATIONAL = Funder("GB-COH-09900005", "National Crisis Support Fund", "360G-NCSF", "json")
FILE_NAMES = {"norfolk": "ncf_grants_360giving.csv", "tower_hamlets": "thct_grants.xlsx",
              "oldham": "ocf-grants-2019-2022.csv", "swansea_npt": "sbcf_grants.json"}

OTHER_RECIPIENTS = ("Scouts", "Arts Collective", "Bowls Club", "Heritage Trust", "Youth Theatre", "Allotment Society",
                    "Choir", "Cricket Club", "Men's Shed", "Carnival Committee", "Wildlife Group", "Library Friends")
PROGRAMMES = {"network": ("Crisis Support Fund", "Core Costs Programme", "Winter Pressures Fund"),
              "other": ("Community Grants", "Small Grants"), "individual": ("Hardship Grants",)}


LAD_NAMES = {"E07000143": "Breckland", "E07000144": "Broadland", "E07000145": "Great Yarmouth",
             "E07000146": "King's Lynn and West Norfolk", "E07000147": "North Norfolk", "E07000148": "Norwich",
             "E07000149": "South Norfolk", "E09000030": "Tower Hamlets", "E08000004": "Oldham",
             "W06000011": "Swansea", "W06000012": "Neath Port Talbot"}


def rng_for(seed: int, area: str, purpose: int) -> np.random.Generator:
    """This module's own streams (0: registrations, 1: grants), apart from the world's."""
    return np.random.default_rng(np.random.SeedSequence([seed, AREA_KEYS.index(area), GRANTS_STREAM, purpose]))


def org_identifiers(world: AreaWorld, seed: int) -> list[dict]:
    """Each organisation's registration, as its directory entry shows it: `org_identifier` (the
    org-id the directory carries, None for unregistered groups) and, for charitable companies, the
    company number too. Councils' departments share their council's id; all jobcentres are DWP's."""
    rng = rng_for(seed, world.profile.key, 0)
    k = AREA_KEYS.index(world.profile.key)  # each area draws from its own number ranges: no id in two areas
    zone_level = world.profile.zone_level
    used: set[str] = set()

    def unique(make) -> str:
        while (value := make(int(rng.integers(0, 10**8)))) in used:
            pass
        used.add(value)
        return value

    out = []
    for org in world.orgs:
        roll = rng.random()
        company = None
        if org.org_type == "local_authority":
            district = [c for c, name in zip(world.geo.zones, world.geo.zone_names) if name in org.name]
            ident = DISTRICT_COUNCIL[district[0]] if zone_level == "lad" and district else AREA_COUNCIL.get(
                world.profile.key, "GB-PLA-SWA")
        elif org.role == "jobcentre":
            ident = "GB-GOV-D10"
        elif org.role == "welfare_assistance":
            ident = "GB-GOV-WG"  # the Discretionary Assistance Fund is the Welsh Government's
        elif org.role in ("health", "social_prescriber") and org.org_type == "statutory":
            ident = unique(lambda n: f"GB-NHS-{chr(65 + 6 * k + n % 6)}{n % 100000:05d}")
        elif org.role == "school":
            ident = unique(lambda n: f"GB-EDU-{100000 + 200000 * k + n % 200000}")
        elif org.org_type == "statutory":
            ident = unique(lambda n: f"GB-COH-{2 * 10**7 + 10**6 * k + n % 10**6:08d}")
        elif roll < 0.55:  # a registered charity, some of them charitable companies
            ident = unique(lambda n: f"GB-CHC-{1100000 + 20000 * k + n % 20000}")
            if rng.random() < 0.4:  # a charitable company: a company number too
                company = unique(lambda n: f"{3 * 10**6 + 10**5 * k + n % 10**5:08d}")
        elif roll < 0.75:
            ident = unique(lambda n: f"GB-COH-{10**7 + 10**6 * k + n % 10**6:08d}")
        elif roll < 0.80:
            ident = unique(lambda n: f"GB-SC-SC0{20000 * k + n % 20000:05d}")
        else:
            ident = None  # an unregistered community group
        out.append({"org_identifier": ident, "company_number": company})
    return out


def directory_ids(world: AreaWorld) -> list[str]:
    """Organisation ids as the area's directory (and ingestion) shows them: NCAN uses names."""
    if world.profile.key == "norfolk":
        return [o.name for o in world.orgs]
    return [str(x) for x in Renderer(world, DIALECTS[world.profile.key]).org_ids]


def write_grants(out: Path, world: AreaWorld) -> dict:
    """Write the area's 360Giving files and grants_truth/<area>.json; returns the truth."""
    area, seed, start, end = world.profile.key, world.seed, world.start, world.end
    rng = rng_for(seed, area, 1)
    ids = org_identifiers(world, seed)
    dir_ids = directory_ids(world)
    receivers = sorted({s.org for s in world.services})
    issues_of = {o: sorted({tx.ISSUE_CODES[i] for s in world.services if s.org == o for i in np.flatnonzero(s.issues)})
                 for o in receivers}
    # a registered entity may be several directory organisations (a council's departments)
    members: dict[str, list[int]] = {}
    for o in range(len(world.orgs)):
        if ids[o]["org_identifier"]:
            members.setdefault(ids[o]["org_identifier"], []).append(o)
    vcs = [o for o in receivers if world.orgs[o].org_type == "vcs"]
    councils = sorted({ids[o]["org_identifier"] for o in receivers if world.orgs[o].org_type == "local_authority"})
    first_names, last_names = name_pool(world.profile.welsh_names)
    lads = list(world.profile.lad_codes)
    place_names = list(world.profile.places)
    years = range(int(start[:4]), int(end[:4]) + 1)
    grants: list[dict] = []
    others: dict[int, tuple[str, str]] = {}  # recipients outside the network keep their id across years

    def award_day(year: int) -> date:
        lo = max(np.datetime64(f"{year}-01-01"), np.datetime64(start + "-01"))
        hi = min(np.datetime64(f"{year}-12-31"), (np.datetime64(end, "M") + 1).astype("datetime64[D]") - 1)
        return (lo + int(rng.integers(0, int((hi - lo).astype(int)) + 1))).astype(object)

    def amount(low: int, high: int, step: int) -> float:
        value = int(rng.integers(low // step, high // step + 1)) * step
        return round(value - (rng.integers(1, 20) * 12.5 if rng.random() < 0.1 else 0), 2)  # some with pence

    def add(funder: Funder, year: int, kind: str, recipient: dict, value: float) -> None:
        n = sum(g["funder_identifier"] == funder.identifier for g in grants) + 1
        suffix = f"-{area.upper()[:3]}" if funder is NATIONAL else ""
        lad = recipient.pop("lad", None) or lads[int(rng.integers(0, len(lads)))]
        grants.append({
            "identifier": f"{funder.prefix}{suffix}-{year}-{n:04d}", "funder_identifier": funder.identifier,
            "funder_name": funder.name, "award_date": award_day(year).isoformat(), "year": year,
            "amount": value, "recipient": kind, "programme": PROGRAMMES[kind][int(rng.integers(0, len(PROGRAMMES[kind])))],
            "beneficiary_lad": lad, "beneficiary_name": LAD_NAMES[lad], **recipient})

    def network_recipient(o: int, funder: Funder) -> dict:
        ident = ids[o]["org_identifier"]
        lad = world.geo.zones[world.orgs[o].home_zone] if world.profile.zone_level == "lad" else lads[0]
        if ident is None:  # the funder's own id for a group with no registration: it cannot be matched
            return {"recipient_org_identifier": f"{funder.prefix}-ORG-{o + 1:04d}", "recipient_org_name": world.orgs[o].name,
                    "matchable": False, "organisation_ids": [dir_ids[o]], "org_identifier": None, "lad": lad}
        return {"lad": lad, "recipient_org_identifier": ident, "recipient_org_name": world.orgs[o].name, "matchable": True,
                "organisation_ids": [dir_ids[m] for m in members[ident]], "org_identifier": ident,
                "charity_number": ident.removeprefix("GB-CHC-") if ident.startswith("GB-CHC-") else None,
                "company_number": ids[o]["company_number"]}

    def other_recipient(funder: Funder) -> dict:
        k = int(rng.integers(0, 40))
        if k not in others:
            name = f"{place_names[k % len(place_names)]} {OTHER_RECIPIENTS[k % len(OTHER_RECIPIENTS)]}"
            # registered charities outside the network (a number range the network's never uses)
            others[k] = (f"GB-CHC-{1200000 + (7919 * (k + 1) + 97 * AREA_KEYS.index(area)) % 99999}", name)
        ident, name = others[k]
        return {"recipient_org_identifier": ident, "recipient_org_name": name, "matchable": False,
                "organisation_ids": [], "org_identifier": None}

    weights = np.array([world.orgs[o].size for o in vcs]) * rng.uniform(0.2, 1.8, len(vcs))
    weights = weights / weights.sum()
    for year in years:
        local = FUNDERS[area]
        for o in sorted(set(rng.choice(vcs, size=max(2, int(len(vcs) * 0.35)), p=weights).tolist())):
            add(local, year, "network", network_recipient(o, local), amount(1000, 30000, 250))
        for _ in range(int(rng.integers(3, 9))):
            add(local, year, "other", other_recipient(local), amount(500, 10000, 250))
        for _ in range(int(rng.integers(8, 25))):
            person = f"{first_names[int(rng.integers(0, len(first_names)))]} {last_names[int(rng.integers(0, len(last_names)))]}"
            add(local, year, "individual", {"recipient_org_identifier": None, "recipient_org_name": None,
                                            "matchable": False, "organisation_ids": [], "org_identifier": None,
                                            "individual_name": person,
                                            "individual_id": f"{local.prefix}-IND-{int(rng.integers(10**5, 10**6))}"},
                amount(100, 1500, 50))
        for o in sorted(set(rng.choice(vcs, size=max(1, len(vcs) // 8), p=weights).tolist())):
            add(NATIONAL, year, "network", network_recipient(o, NATIONAL), amount(5000, 60000, 1000))
        if councils and rng.random() < 0.6:  # a welfare-assistance top-up to a council
            council = councils[int(rng.integers(0, len(councils)))]
            add(NATIONAL, year, "network", network_recipient(members[council][0], NATIONAL), amount(10000, 50000, 5000))
        for _ in range(int(rng.integers(1, 4))):
            add(NATIONAL, year, "other", other_recipient(NATIONAL), amount(2000, 20000, 500))

    folder = out / area / "grants"
    folder.mkdir(parents=True, exist_ok=True)
    local_grants = [g for g in grants if g["funder_identifier"] == FUNDERS[area].identifier]
    WRITERS[FUNDERS[area].layout](folder / FILE_NAMES[area], local_grants)
    write_json(folder / f"ncsf_grants_{area}.json", [g for g in grants if g["funder_identifier"] == NATIONAL.identifier])

    truth = {
        "funders": [{"identifier": f.identifier, "name": f.name} for f in (FUNDERS[area], NATIONAL)],
        # what was granted, without the individuals' names or ids
        "grants": [{k: v for k, v in g.items() if k not in ("individual_name", "individual_id", "charity_number",
                                                            "company_number")} for g in grants],
        "organisations": {dir_ids[o]: {"org_identifier": ids[o]["org_identifier"], "issues": issues_of.get(o, [])}
                          for o in range(len(world.orgs))},
    }
    (out / "grants_truth").mkdir(exist_ok=True)
    (out / "grants_truth" / f"{area}.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
    return truth


def merge_grants_truth(out: Path, areas: list[str], seed: int) -> None:
    """grants_truth.json beside ground_truth.json, from each area's part."""
    parts = {a: json.loads((out / "grants_truth" / f"{a}.json").read_text()) for a in areas}
    document = {"schema_version": 1, "seed": seed, "currency": "GBP", "areas": parts}
    (out / "grants_truth.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


# ----- the publishers' layouts -----

def money_text(value: float) -> str:
    return f"£{value:,.2f}"


def uk_date(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y} 00:00"


def planned(g: dict) -> tuple[str, str]:
    start = date.fromisoformat(g["award_date"])
    end = date(start.year + 1, start.month, min(start.day, 28))
    return start.isoformat(), end.isoformat()


def write_csv_text_money(path: Path, grants: list[dict]) -> None:
    """A spreadsheet export: BOM, CRLF, extra columns, £ amounts, UK dates, a charitable company under
    its company number (with the charity number beside it), individuals' names as the funder's
    system holds them."""
    header = ["Identifier", "Title", "Description", "Currency", "Amount Awarded", "Award Date",
              "Recipient Org:Identifier", "Recipient Org:Name", "Recipient Org:Charity Number",
              "Recipient Org:Company Number", "Recipient Ind:Identifier", "Recipient Ind:Name",
              "Funding Org:Identifier", "Funding Org:Name", "Grant Programme:Title", "Beneficiary Location:Name",
              "Beneficiary Location:Geographic Code", "Beneficiary Location:Geographic Code Type",
              "Planned Dates:Start Date", "Planned Dates:End Date", "Panel", "Internal Ref", "Last Modified"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for k, g in enumerate(grants):
        ident = g["recipient_org_identifier"]
        if g.get("company_number") and g.get("charity_number") and k % 2 == 0:
            ident = f"GB-COH-{g['company_number']}"  # same organisation, another scheme
        start, end = planned(g)
        writer.writerow([
            g["identifier"], title(g), description(g), "GBP", money_text(g["amount"]), uk_date(g["award_date"]),
            ident or "", g["recipient_org_name"] or "", g.get("charity_number") or "", g.get("company_number") or "",
            g.get("individual_id", ""), g.get("individual_name", ""), g["funder_identifier"], g["funder_name"],
            g["programme"], g["beneficiary_name"], g["beneficiary_lad"], "LAD", uk_date(start)[:10], uk_date(end)[:10],
            f"Panel {1 + k % 4}", f"NCF/{k:05d}", uk_date(g["award_date"])])
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))


def write_csv_plain(path: Path, grants: list[dict]) -> None:
    """UTF-8 without BOM, ISO dates, plain numbers, column titles in another case and spacing."""
    header = ["Identifier", "Title", "Description", "Currency", "Amount awarded", "Award date",
              "Recipient Org: Identifier", "Recipient Org: Name", "Recipient Ind: Identifier", "Funding Org: Identifier",
              "Funding Org: Name", "Grant Programme: Title", "Beneficiary Location: Geographic Code", "Data Source"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for g in grants:
        writer.writerow([g["identifier"], title(g), description(g), "GBP", f"{g['amount']:.2f}".removesuffix(".00"),
                         g["award_date"], g["recipient_org_identifier"] or "", g["recipient_org_name"] or "",
                         g.get("individual_id", ""), g["funder_identifier"], g["funder_name"], g["programme"], g["beneficiary_lad"],
                         "https://example.org/ocf/grants"])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def write_xlsx(path: Path, grants: list[dict]) -> None:
    """A workbook: real date and number cells, an extra column."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "grants"
    sheet.append(["Identifier", "Title", "Description", "Currency", "Amount Awarded", "Award Date",
                  "Recipient Org:Identifier", "Recipient Org:Name", "Recipient Ind:Identifier", "Funding Org:Identifier",
                  "Funding Org:Name", "Grant Programme:Title", "Beneficiary Location:Name", "Beneficiary Location:Geographic Code",
                  "Planned Dates:Start Date", "Planned Dates:End Date", "Officer"])
    for k, g in enumerate(grants):
        start, end = planned(g)
        sheet.append([g["identifier"], title(g), description(g), "GBP", g["amount"], date.fromisoformat(g["award_date"]),
                      g["recipient_org_identifier"], g["recipient_org_name"], g.get("individual_id"), g["funder_identifier"],
                      g["funder_name"],
                      g["programme"], g["beneficiary_name"], g["beneficiary_lad"], date.fromisoformat(start),
                      date.fromisoformat(end), f"Officer {k % 3 + 1}"])
    book.properties.created = book.properties.modified = datetime(2023, 1, 1)
    buffer = io.BytesIO()
    book.save(buffer)
    # the same seed gives the same bytes: zip entries stamped with a fixed time, not the clock's
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2023-01-01T00:00:00Z", data)
            target.writestr(zipfile.ZipInfo(item.filename, date_time=(2023, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED)


def write_json(path: Path, grants: list[dict]) -> None:
    """The canonical 360Giving JSON package form."""
    items = []
    for g in grants:
        start, end = planned(g)
        item = {"id": g["identifier"], "title": title(g), "description": description(g), "currency": "GBP",
                "amountAwarded": g["amount"], "awardDate": f"{g['award_date']}T00:00:00+00:00",
                "fundingOrganization": [{"id": g["funder_identifier"], "name": g["funder_name"]}],
                "grantProgramme": [{"title": g["programme"]}],
                "beneficiaryLocation": [{"name": g["beneficiary_name"], "geoCode": g["beneficiary_lad"],
                                         "geoCodeType": "LAD"}],
                # date-times: the schema's oneOf (date pattern | date-time) accepts a plain date under both
                "plannedDates": [{"startDate": f"{start}T00:00:00+00:00", "endDate": f"{end}T00:00:00+00:00"}]}
        if g["recipient"] == "individual":
            item["recipientIndividual"] = {"id": g["individual_id"], "name": g["individual_name"]}
        else:
            item["recipientOrganization"] = [{"id": g["recipient_org_identifier"], "name": g["recipient_org_name"]}]
        items.append(item)
    path.write_text(json.dumps({"grants": items}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def title(g: dict) -> str:
    return {"network": "Crisis support", "other": "Community project", "individual": "Hardship grant"}[g["recipient"]]


def description(g: dict) -> str:
    if g["recipient"] == "individual":
        return "A grant to an individual in financial hardship."
    return f"{g['programme']}: towards the work of {g['recipient_org_name']}."


WRITERS = {"csv_text_money": write_csv_text_money, "csv_plain": write_csv_plain, "xlsx": write_xlsx, "json": write_json}
