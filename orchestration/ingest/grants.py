"""Grants published in the 360Giving Data Standard: CSV, XLSX or the canonical JSON {"grants": [...]},
from configured folders or URLs, checked against data_contracts/threesixtygiving_grants.odcs.yaml.

Columns are found by their 360Giving titles whatever the case, the spacing around ':' or a byte-order
mark; extra columns are ignored. Amounts lose their pound sign and thousands separators, dates in the
publishers' formats become ISO dates, org-ids are written one way (upper case, no spaces). Rows that
break the contract are quarantined with file, row, field and rule. Grants to individuals keep their
amount and date; the person's id and name (and the grant's title and description, which may name
them) are dropped here and never land.

A grant publication is current state (funders republish whole files), so each import reads every
configured file and replaces $CCS_HOME/landing/grants/{grants,quarantine}.parquet as a whole, always
with the same columns, even when there is nothing to land. A report per run goes to batches/.
"""

import csv
import io
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ..config import ccs_home
from .contracts import CONTRACTS, ContractError, Field, SourceContract, custom, read_contract
from .directory import org_id
from .landing import now_iso, write_atomically
from .run import area_lock
from .sources import BatchError
from .validate import Failure, validate

GRANTS_CONTRACT = CONTRACTS / "threesixtygiving_grants.odcs.yaml"
FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}
MONEY_NOISE = re.compile(r"[£,\s]|^GBP", re.IGNORECASE)


@dataclass(frozen=True)
class GrantColumn:
    """One field of a grant, as the contract describes it."""

    name: str
    title: str  # the 360Giving column title
    json_path: str  # where the canonical JSON holds it: keys and list indices, '/'-separated
    logical_type: str
    required: bool
    personal: bool  # dropped at ingestion
    source_formats: tuple[str, ...]  # dates: the publishers' formats, tried in order
    money: bool


@dataclass(frozen=True)
class GrantsContract:
    source: SourceContract  # what the Great Expectations checks need
    columns: tuple[GrantColumn, ...]

    def by_title(self) -> dict[str, GrantColumn]:
        return {title_key(c.title): c for c in self.columns}


def load_grants_contract(path: Path = GRANTS_CONTRACT) -> GrantsContract:
    model = read_contract(path)  # checked against the ODCS JSON Schema, like every contract
    [schema] = model.schema_
    columns, fields = [], []
    for p in schema.properties:
        props = custom(p.customProperties)
        rules = p.quality or []
        invalid = [r.arguments for r in rules if r.metric == "invalidValues" and r.arguments]
        valid = next((a["validValues"] for a in invalid if "validValues" in a), None)
        pattern = next((a["pattern"] for a in invalid if "pattern" in a), None)
        personal = p.classification == "personal"
        if "columnTitle" not in props or "jsonPath" not in props:
            raise ContractError(f"{path}: property {p.name} needs the custom properties columnTitle and jsonPath")
        columns.append(GrantColumn(p.name, props["columnTitle"], props["jsonPath"], p.logicalType, bool(p.required),
                                   personal, tuple(props.get("sourceFormats") or ()), props.get("normalise") == "money"))
        is_date = p.logicalType == "date"
        fields.append(Field(
            name=p.name, logical_type="timestamp" if is_date else p.logicalType, required=bool(p.required),
            canonical=p.name, personal_role=props.get("personalRole") if personal else None,
            format=(p.logicalTypeOptions or {}).get("format") if is_date else None,
            valid_values=tuple(valid) if valid else None, pattern=pattern, separator=None, not_in_future=False))
    source = SourceContract(Path(path), model.id, model.version, "grants", "files", custom(model.customProperties),
                            tuple(fields))
    return GrantsContract(source, tuple(columns))


# ----- configuration -----

@dataclass(frozen=True)
class GrantSources:
    """Where grants are published: folders of files (*.csv, *.xlsx, *.json) and URLs of files."""

    folders: tuple[Path, ...] = ()
    urls: tuple[str, ...] = ()


def load_grant_sources(path: Path | None = None) -> GrantSources:
    """The `grants:` section of areas.yaml (default $CCS_HOME/areas.yaml); none configured, no sources:

        grants:
          folders: [/data/grants/norfolk-community-fund]
          urls: [https://funder.example/360giving/grants.json]
    """
    path = Path(path) if path else ccs_home() / "areas.yaml"
    if not path.exists():
        return GrantSources()
    section = (yaml.safe_load(path.read_text()) or {}).get("grants") or {}
    if not isinstance(section, dict) or set(section) - {"folders", "urls"}:
        raise ContractError(f"{path}: 'grants' takes 'folders' and 'urls' (lists)")
    return GrantSources(tuple(Path(f) for f in section.get("folders") or ()), tuple(section.get("urls") or ()))


# ----- reading the publishers' files -----

def title_key(title: str) -> str:
    """A column title as compared: no BOM, no case, single spaces, none around ':'."""
    text = str(title).replace("\ufeff", "").strip()
    return re.sub(r"\s+", " ", re.sub(r"\s*:\s*", ":", text)).casefold()


def cell_text(value) -> str | None:
    """A cell as text: numbers without float noise, date cells as ISO dates; empty is None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return format(Decimal(str(value)).normalize(), "f") if isinstance(value, float) else str(value)
    text = str(value).strip()
    return text or None


def decode(data: bytes, source: str) -> str:
    """Spreadsheet exports carry a byte-order mark; older ones are Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as error:
            raise BatchError(f"{source}: neither UTF-8 nor Windows-1252 ({error})") from None


def read_table(header: list, rows: list[list], contract: GrantsContract, source: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows under the standard's column titles -> one column per contract field (None where absent)."""
    known = contract.by_title()
    positions, extra = {}, []
    for k, title in enumerate(header):
        column = known.get(title_key(title)) if title is not None else None
        if column is None:
            if title is not None and str(title).strip():
                extra.append(str(title).replace("\ufeff", "").strip())
        elif column.name in positions:
            raise BatchError(f"{source}: column {column.title!r} appears twice")
        else:
            positions[column.name] = k
    missing = [c.title for c in contract.columns if c.required and c.name not in positions]
    if missing:
        raise BatchError(f"{source}: column {missing[0]!r} is missing (360Giving titles expected; "
                         f"found {[str(h) for h in header][:12]})")
    records = [{c.name: cell_text(row[positions[c.name]]) if c.name in positions and positions[c.name] < len(row) else None
                for c in contract.columns} for row in rows]
    return pd.DataFrame(records, columns=[c.name for c in contract.columns]), extra


def read_csv(data: bytes, contract: GrantsContract, source: str):
    lines = list(csv.reader(io.StringIO(decode(data, source), newline="")))
    if not lines:
        raise BatchError(f"{source}: the file is empty")
    header, rows = lines[0], [r for r in lines[1:] if any(x.strip() for x in r)]
    frame, extra = read_table(header, rows, contract, source)
    # the row number a person sees in a spreadsheet: the header is row 1
    numbers = [k + 2 for k, r in enumerate(lines[1:]) if any(x.strip() for x in r)]
    return frame, numbers, extra


def read_xlsx(data: bytes, contract: GrantsContract, source: str):
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:
        raise BatchError(f"{source}: not a readable XLSX workbook ({error})") from None
    # 360Giving workbooks may add sheets (transactions, metadata): the grants sheet, else the first
    sheet = next((book[n] for n in book.sheetnames if n.strip().casefold() == "grants"), book.worksheets[0])
    lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    if not lines:
        raise BatchError(f"{source}: the sheet {sheet.title!r} is empty")
    kept = [(k + 2, r) for k, r in enumerate(lines[1:]) if any(cell_text(x) for x in r)]
    frame, extra = read_table(lines[0], [r for _, r in kept], contract, source)
    return frame, [k for k, _ in kept], extra


def json_value(item, path: str):
    for step in path.split("/"):
        if isinstance(item, list):
            item = item[int(step)] if step.isdigit() and int(step) < len(item) else None
        elif isinstance(item, dict):
            item = item.get(step)
        else:
            return None
    return None if isinstance(item, (dict, list)) else item


def read_json(data: bytes, contract: GrantsContract, source: str):
    try:
        document = json.loads(decode(data, source))
    except json.JSONDecodeError as error:
        raise BatchError(f"{source}: not JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("grants"), list):
        raise BatchError(f"{source}: not a 360Giving package (expected an object with a 'grants' list)")
    grants = document["grants"]
    records = [{c.name: cell_text(json_value(g, c.json_path)) for c in contract.columns} for g in grants]
    # JSON rows are numbered by their place in the grants list, from 1
    return pd.DataFrame(records, columns=[c.name for c in contract.columns]), list(range(1, len(grants) + 1)), []


READERS = {"csv": read_csv, "xlsx": read_xlsx, "json": read_json}


def fetch(sources: GrantSources) -> list[tuple[str, str, bytes]]:
    """(source name, format, bytes) of every configured file, folders in name order, then URLs."""
    found = []
    for folder in sources.folders:
        if not Path(folder).is_dir():
            raise BatchError(f"grants folder {folder} does not exist")
        for path in sorted(Path(folder).iterdir()):
            if path.suffix.lower() in FORMATS and not path.name.startswith((".", "~$")):
                found.append((str(path), FORMATS[path.suffix.lower()], path.read_bytes()))
    for url in sources.urls:
        import requests

        try:
            response = requests.get(url, timeout=60)
            response.raise_for_status()
        except requests.RequestException as error:
            raise BatchError(f"{url}: could not fetch the grants file ({error})") from None
        suffix = Path(url.split("?")[0]).suffix.lower()
        kind = FORMATS.get(suffix) or ("json" if "json" in response.headers.get("Content-Type", "") else
                                      "xlsx" if "spreadsheet" in response.headers.get("Content-Type", "") else "csv")
        found.append((url, kind, response.content))
    return found


# ----- normalising and checking -----

def missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python objects with None for empty (pandas would otherwise use NaN)."""
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


def normalise_money(value: str | None) -> str | None:
    """'£12,500.00' -> '12500.00'; what is still not a number stays as written (the contract catches it)."""
    if missing(value):
        return None
    plain = MONEY_NOISE.sub("", value)
    return plain if re.fullmatch(r"-?\d+(\.\d+)?", plain) else value


def normalise_date(value: str | None, formats: tuple[str, ...]) -> str | None:
    """A publisher's date -> 'YYYY-MM-DD'; unparseable stays as written (the contract catches it)."""
    if missing(value):
        return None
    for fmt in formats:
        try:
            if fmt == "iso8601":
                return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    return value


def normalise(frame: pd.DataFrame, contract: GrantsContract) -> pd.DataFrame:
    out = as_objects(frame)
    for c in contract.columns:
        if c.money:
            out[c.name] = out[c.name].map(normalise_money)
        elif c.source_formats:
            out[c.name] = out[c.name].map(lambda v, f=c.source_formats: normalise_date(v, f))
        elif c.name.endswith("_identifier"):
            out[c.name] = out[c.name].map(org_id)
        elif c.name.endswith(("_charity_number", "_company_number")):
            out[c.name] = out[c.name].map(lambda v: None if missing(v) else re.sub(r"\s+", "", v).upper() or None)
    return as_objects(out)


def extra_failures(frame: pd.DataFrame, failed: set[int]) -> list[Failure]:
    """The contract's schema rules: a recipient organisation or individual; an identifier once."""
    out, seen = [], set()
    for row in frame.index:
        if all(missing(frame.at[row, c]) for c in ("recipient_org_identifier", "recipient_individual_identifier",
                                                   "recipient_individual_name")):
            out.append(Failure(int(row), "recipient_org_identifier", "recipientOrIndividual", None))
            failed = failed | {int(row)}
    for row in frame.index:
        if int(row) in failed:
            continue
        grant = frame.at[row, "grant_id"]
        if grant in seen:
            out.append(Failure(int(row), "grant_id", "uniqueIdentifier", grant))
        seen.add(grant)
    return out


# ----- landing -----

GRANTS_SCHEMA = pa.schema([
    ("grant_id", pa.string()), ("title", pa.string()), ("description", pa.string()), ("currency", pa.string()),
    ("amount_awarded", pa.decimal128(18, 2)), ("award_date", pa.date32()), ("award_year", pa.int32()),
    ("recipient_type", pa.string()), ("recipient_org_identifier", pa.string()), ("recipient_org_name", pa.string()),
    ("recipient_org_charity_number", pa.string()), ("recipient_org_company_number", pa.string()),
    ("funding_org_identifier", pa.string()), ("funding_org_name", pa.string()), ("grant_programme_title", pa.string()),
    ("beneficiary_location_name", pa.string()), ("beneficiary_location_geocode", pa.string()),
    ("beneficiary_location_geocode_type", pa.string()), ("planned_start_date", pa.date32()),
    ("planned_end_date", pa.date32()), ("source", pa.string()), ("source_row", pa.int64()),
    ("_batch_id", pa.string()), ("_loaded_at", pa.string()),
])
QUARANTINE_SCHEMA = pa.schema([
    ("batch_id", pa.string()), ("source", pa.string()), ("source_row", pa.int64()), ("field", pa.string()),
    ("rule", pa.string()), ("value", pa.string()), ("record", pa.string()),
])


@dataclass
class GrantsReport:
    batch_id: str
    contract: str
    rows_in: int = 0
    landed: int = 0
    quarantined: int = 0  # rows set aside (a row failing two rules counts once)
    to_individuals: int = 0  # landed grants with no recipient organisation (no person detail kept)
    files: list = field(default_factory=list)  # per file: source, format, rows, landed, quarantined, extra_columns
    reasons: dict = field(default_factory=dict)  # "field: rule" -> rows
    rules: dict = field(default_factory=dict)  # contract statistics from Great Expectations
    started: str = ""
    finished: str = ""

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.landed + self.quarantined


def to_date(value: str | None):
    return None if missing(value) else date.fromisoformat(value)


def ingest_grants(sources: GrantSources | Path | str | None, home: Path | None = None) -> GrantsReport:
    """Import every configured grants file; land the good rows, quarantine the rest; replace the landed
    grants as a whole. `sources` is a GrantSources, an areas.yaml path, or None for $CCS_HOME/areas.yaml.
    A file that cannot be read as 360Giving (a required column missing, not JSON...) stops the import
    naming the file, and nothing is replaced."""
    if not isinstance(sources, GrantSources):
        sources = load_grant_sources(sources)
    home = Path(home or ccs_home())
    contract = load_grants_contract()
    report = GrantsReport(f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
                          f"{contract.source.id} v{contract.source.version}", started=now_iso())
    parts = []
    for source, kind, data in fetch(sources):
        frame, numbers, extra = READERS[kind](data, contract, source)
        frame["source"], frame["source_row"] = source, numbers
        parts.append(frame)
        report.files.append({"source": source, "format": kind, "rows": len(frame), "extra_columns": extra})
    names = [c.name for c in contract.columns]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*names, "source", "source_row"])
    frame = normalise(frame, contract)
    checked = validate(frame, contract.source)
    failures = list(checked.failures)
    failures += extra_failures(frame, {f.row for f in failures})
    bad = {f.row for f in failures}
    good = frame.drop(index=sorted(bad))

    individual = good["recipient_org_identifier"].isna()
    landed = pd.DataFrame({
        "grant_id": good["grant_id"],
        # free text about a grant to a person may name them: kept only for grants to organisations
        "title": good["title"].where(~individual, None), "description": good["description"].where(~individual, None),
        "currency": good["currency"],
        "amount_awarded": good["amount_awarded"].map(lambda v: Decimal(v).quantize(Decimal("0.01"))),
        "award_date": good["award_date"].map(to_date),
        "award_year": good["award_date"].map(lambda v: int(v[:4])),
        "recipient_type": individual.map({True: "individual", False: "organisation"}),
        **{c: good[c] for c in ("recipient_org_identifier", "recipient_org_name", "recipient_org_charity_number",
                                "recipient_org_company_number", "funding_org_identifier", "funding_org_name",
                                "grant_programme_title", "beneficiary_location_name", "beneficiary_location_geocode",
                                "beneficiary_location_geocode_type")},
        "planned_start_date": good["planned_start_date"].map(to_date),
        "planned_end_date": good["planned_end_date"].map(to_date),
        "source": good["source"], "source_row": good["source_row"].astype("int64"),
        "_batch_id": report.batch_id, "_loaded_at": report.started,
    }, columns=GRANTS_SCHEMA.names)
    public = [c.name for c in contract.columns if not c.personal]
    personal = {c.name for c in contract.columns if c.personal}
    quarantine = pd.DataFrame([{
        "batch_id": report.batch_id, "source": frame.at[f.row, "source"], "source_row": int(frame.at[f.row, "source_row"]),
        "field": f.field, "rule": f.rule, "value": None if f.field in personal else f.value,
        # the row as published, without the person's id or name (nor the text about a grant to a person)
        "record": json.dumps({n: frame.at[f.row, n] for n in public
                              if not (n in ("title", "description") and missing(frame.at[f.row, "recipient_org_identifier"]))},
                             ensure_ascii=False, default=str),
    } for f in failures], columns=QUARANTINE_SCHEMA.names)

    for f in failures:
        report.reasons[f"{f.field}: {f.rule}"] = report.reasons.get(f"{f.field}: {f.rule}", 0) + 1
    for item in report.files:
        rows = frame["source"] == item["source"]
        item["quarantined"] = len({r for r in bad if rows[r]})
        item["landed"] = item["rows"] - item["quarantined"]
    report.rows_in, report.landed, report.quarantined = len(frame), len(landed), len(bad)
    report.to_individuals = int(individual.sum())
    report.rules = checked.statistics
    report.finished = now_iso()
    if not report.reconciles:
        raise BatchError(f"grants import {report.batch_id} does not reconcile: {report.rows_in} rows in, "
                         f"{report.landed} landed, {report.quarantined} quarantined")

    target = home / "landing" / "grants"
    with area_lock(home, "grants"):
        (target / "batches").mkdir(parents=True, exist_ok=True)
        write_atomically(target / "grants.parquet", table_bytes(landed, GRANTS_SCHEMA))
        write_atomically(target / "quarantine.parquet", table_bytes(quarantine, QUARANTINE_SCHEMA))
        write_atomically(target / "batches" / f"{report.batch_id}.json",
                         json.dumps(asdict(report), indent=1, ensure_ascii=False).encode())
    return report


def table_bytes(frame: pd.DataFrame, schema: pa.Schema) -> bytes:
    """Parquet with a fixed schema, so an empty import still gives dbt the right columns."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), schema=schema, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def ensure_grants_landing(home: Path | None = None) -> None:
    """Empty grants tables when nothing was ever imported, so the warehouse builds without grants."""
    target = Path(home or ccs_home()) / "landing" / "grants"
    target.mkdir(parents=True, exist_ok=True)
    for name, schema in (("grants", GRANTS_SCHEMA), ("quarantine", QUARANTINE_SCHEMA)):
        if not (target / f"{name}.parquet").exists():
            write_atomically(target / f"{name}.parquet", table_bytes(pd.DataFrame(columns=schema.names), schema))
