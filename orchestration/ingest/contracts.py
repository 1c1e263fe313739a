"""Data contracts: one Open Data Contract Standard v3 YAML file per source dialect (data_contracts/).

A contract is checked twice when it loads: against the standard's own JSON Schema (the package's
model alone lets misspelt keys through) and by parsing it into the `open-data-contract-standard`
model. A malformed contract stops everything with the file and what is wrong with it.
"""

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

CONTRACTS = Path(__file__).resolve().parent.parent.parent / "data_contracts"


class ContractError(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    """One column of a source, as its contract describes it."""

    name: str
    logical_type: str
    required: bool
    canonical: str | None  # the canonical field it maps to (None for personal fields)
    personal_role: str | None  # forename, surname, dob, ... (privacy.PERSONAL_ROLES)
    format: str | None  # strftime format, or "iso8601"
    valid_values: tuple[str, ...] | None
    pattern: str | None
    separator: str | None  # a text column holding several values
    not_in_future: bool
    canonical_values: dict = field(default_factory=dict)  # source label -> canonical code
    status_order: dict = field(default_factory=dict)  # canonical status -> rank


@dataclass(frozen=True)
class SourceContract:
    path: Path
    id: str
    version: str
    area: str
    transport: str  # "csv" or "api"
    properties: dict  # the contract's top-level custom properties
    fields: tuple[Field, ...]

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    def by_canonical(self, canonical: str) -> Field:
        found = [f for f in self.fields if f.canonical == canonical]
        if not found:
            raise ContractError(f"{self.path.name}: no field maps to canonical {canonical!r}")
        return found[0]

    @property
    def personal(self) -> dict[str, Field]:
        return {f.personal_role: f for f in self.fields if f.personal_role}

    @property
    def record_key(self) -> tuple[Field, Field]:
        """The referral id and its last-change time: a record version is landed once."""
        return self.by_canonical("referral_id"), self.by_canonical("updated_at")


def custom(items) -> dict:
    return {c.property: c.value for c in (items or [])}


@cache
def strict_schema() -> jsonschema.protocols.Validator:
    return jsonschema.Draft201909Validator(json.loads(OpenDataContractStandard.json_schema()))


def read_contract(path: Path) -> OpenDataContractStandard:
    """Any ODCS v3 contract, checked against the standard's JSON Schema, then parsed."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ContractError(f"{path}: cannot read the contract: {error}") from error
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in strict_schema().iter_errors(document)]
    if problems:
        raise ContractError(f"{path}: not a valid ODCS v3 contract:\n  " + "\n  ".join(problems[:10]))
    return OpenDataContractStandard(**document)


def load_contract(path: Path) -> SourceContract:
    """A source dialect's contract, with what ingestion needs from it."""
    path = Path(path)
    model = read_contract(path)
    top = custom(model.customProperties)
    for needed in ("area", "transport"):
        if needed not in top:
            raise ContractError(f"{path}: custom property {needed!r} is missing")
    [schema] = model.schema_
    fields = []
    for p in schema.properties:
        props = custom(p.customProperties)
        rules = p.quality or []
        invalid = [r for r in rules if r.type in (None, "library") and r.metric == "invalidValues"]
        arguments = invalid[0].arguments if invalid else {}
        fields.append(Field(
            name=p.name,
            logical_type=p.logicalType,
            required=bool(p.required),
            canonical=props.get("canonical"),
            personal_role=props.get("personalRole"),
            format=(p.logicalTypeOptions or {}).get("format"),
            valid_values=tuple(arguments["validValues"]) if "validValues" in arguments else None,
            pattern=arguments.get("pattern"),
            separator=props.get("separator"),
            not_in_future=any(r.type == "custom" and r.implementation == "notInFuture" for r in rules),
            canonical_values=props.get("canonicalValues") or {},
            status_order=props.get("statusOrder") or {},
        ))
    contract = SourceContract(path, model.id, model.version, top["area"], top["transport"], top, tuple(fields))
    for canonical in ("referral_id", "updated_at", "sent_at", "status", "issues"):
        contract.by_canonical(canonical)
    return contract


def contract_for(area: str, folder: Path = CONTRACTS) -> SourceContract:
    path = Path(folder) / f"{area}_referrals.odcs.yaml"
    if not path.exists():
        raise ContractError(f"no data contract for area {area!r}: expected {path}")
    status = path.stat()
    return contract_as_read(path, status.st_mtime_ns, status.st_size)


@cache
def contract_as_read(path: Path, mtime_ns: int, size: int) -> SourceContract:
    """A contract read and checked once per process for a given modification time and size (checking
    it against the ODCS schema takes 0.2 s, and ingestion asks for an area's contract at every step); an
    edited contract is read again."""
    return load_contract(path)
