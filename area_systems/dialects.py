"""How each area's system shows its referrals to the outside world.

The four systems differ as real exports do: column names, date formats, issue, status and decline
labels, LSOA vintage, encodings and transport (CSV export files or an HTTP API). Each dialect turns
the latent referrals into its own columns; `referral_state` says what a record looks like at a time.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import taxonomy as tx
from .people import ASCII_FOLD, NOTE_TEMPLATES, typo
from .world import MINUTES_PER_DAY, NEVER, RESPONSES, AreaWorld, MonthBatch, R

STATES = ["sent", "accepted", "declined", "cancelled", "expired", "contacted", "closed"]


@dataclass(frozen=True)
class Dialect:
    key: str
    system: str
    transport: str  # "csv" or "api"
    lsoa_vintage: str  # "2011" or "2021"
    time_format: str  # strftime format, or "utc" / "offset" for ISO 8601 with Z / with the UK offset
    dob_format: str
    issue_labels: dict[str, str]  # canonical issue -> the system's label
    status_labels: dict[str, str]
    decline_labels: dict[str, str]
    outcome_labels: dict[str, str]
    columns: dict[str, str]  # the system's column -> generic field
    issue_separator: str = "; "
    encoding: str = "utf-8"
    line_terminator: str = "\n"
    referral_id: str = "{seq}"
    client_id: str = "{n}"
    org_id: str = "{n}"


NORFOLK = Dialect(
    key="norfolk", system="NCAN referral system (Hut Forty Two), monthly CSV export", transport="csv",
    lsoa_vintage="2011", time_format="%d/%m/%Y %H:%M", dob_format="%d/%m/%Y",
    issue_labels={
        "debt": "Debt", "welfare_benefits": "Benefits", "financial_capability": "Budgeting & Money Management",
        "utilities": "Energy & Water Bills", "food_support": "Food", "fuel_crisis": "Fuel Crisis",
        "emergency_grant": "Norfolk Assistance Scheme", "emergency_housing": "Homelessness (Emergency)",
        "housing": "Housing", "employment": "Employment", "job_search": "Job Search", "training": "Training & Education",
        "immigration": "Immigration", "consumer": "Consumer Rights", "wills_power_of_attorney": "Wills & Power of Attorney",
        "mental_health": "Mental Health", "wellbeing_activities": "Wellbeing", "digital_inclusion": "Digital Skills",
        "family": "Family Support", "community_care": "Social Care", "carers": "Carers", "domestic_abuse": "Domestic Abuse",
        "small_claims": "Small Claims", "other": "Other",
    },
    status_labels={"sent": "Awaiting Response", "accepted": "Accepted", "declined": "Declined", "cancelled": "Cancelled",
                   "expired": "Expired", "contacted": "Client Contacted", "closed": "Closed"},
    decline_labels={"no_capacity": "No capacity", "not_eligible": "Does not meet criteria", "out_of_area": "Outside area",
                    "client_declined": "Client declined", "duplicate": "Duplicate referral", "other": "Other"},
    outcome_labels={"got_help": "Helped", "partly_helped": "Partially helped", "could_not_contact": "Unable to contact",
                    "no_longer_needed": "No longer required", "referred_elsewhere": "Signposted/referred on"},
    columns={
        "Referral ID": "referral_id", "Date Referred": "sent_at", "Referring Organisation": "referrer_org_name",
        "Referred By": "referrer_user", "Receiving Organisation": "receiver_org_name", "Service": "service_name",
        "Issues": "issues", "Status": "status", "Status Date": "updated_at", "Decline Reason": "decline_reason",
        "Date Accepted": "accepted_at", "Date First Contact": "contacted_at", "Date Closed": "closed_at",
        "Outcome": "outcome", "Client ID": "client_id", "Client Forename": "first_name", "Client Surname": "last_name",
        "Client DOB": "dob", "Client Phone": "phone", "Client Email": "email", "Client Postcode": "postcode",
        "Client LSOA": "lsoa", "Notes": "note",
    },
    encoding="cp1252", line_terminator="\r\n", referral_id="NCAN-{seq}", client_id="C{n}",
)

OLDHAM = Dialect(
    key="oldham", system="OCAN referral system, monthly CSV export (UTF-8 with BOM)", transport="csv",
    lsoa_vintage="2021", time_format="%Y-%m-%d %H:%M:%S", dob_format="%Y-%m-%d",
    issue_labels={
        "debt": "DEBT", "welfare_benefits": "BENEFITS", "financial_capability": "MONEY_SKILLS",
        "utilities": "ENERGY_BILLS", "food_support": "FOODBANK", "fuel_crisis": "FUEL_VOUCHER",
        "emergency_grant": "LWP_CRISIS_PAYMENT", "emergency_housing": "HOMELESS", "housing": "HOUSING",
        "employment": "EMPLOYMENT", "immigration": "IMMIGRATION", "mental_health": "MENTAL_HEALTH",
        "wellbeing_activities": "SOCIAL_ISOLATION", "digital_inclusion": "DIGITAL", "family": "FAMILY",
        "carers": "CARERS", "domestic_abuse": "DOMESTIC_ABUSE", "other": "OTHER",
    },
    status_labels={"sent": "NEW", "accepted": "ACCEPTED", "declined": "REJECTED", "cancelled": "WITHDRAWN",
                   "expired": "TIMED_OUT", "contacted": "IN_CONTACT", "closed": "COMPLETE"},
    decline_labels={"no_capacity": "CAPACITY", "not_eligible": "CRITERIA", "out_of_area": "AREA",
                    "client_declined": "CLIENT", "duplicate": "DUPLICATE", "other": "OTHER"},
    outcome_labels={"got_help": "RESOLVED", "partly_helped": "PART_RESOLVED", "could_not_contact": "NO_CONTACT",
                    "no_longer_needed": "NOT_NEEDED", "referred_elsewhere": "ONWARD_REFERRAL"},
    columns={
        "referral_ref": "referral_id", "created_at": "sent_at", "modified_at": "updated_at",
        "from_org_id": "referrer_org_id", "from_org_name": "referrer_org_name", "from_user": "referrer_user",
        "to_service_id": "service_id", "to_org_name": "receiver_org_name", "need_codes": "issues",
        "current_status": "status", "decline_code": "decline_reason", "accepted_at": "accepted_at",
        "first_contact_at": "contacted_at", "closed_at": "closed_at", "closure_reason": "outcome",
        "client_ref": "client_id", "first_name": "first_name", "last_name": "last_name", "date_of_birth": "dob",
        "mobile": "phone", "email": "email", "postcode": "postcode", "lsoa21": "lsoa", "referral_notes": "note",
    },
    issue_separator="|", encoding="utf-8-sig", referral_id="OCAN/{year}/{seq6}", client_id="OC-{n}",
    org_id="ORG{n4}",
)

TOWER_HAMLETS = Dialect(
    key="tower_hamlets", system="THCAN referral API (JSON, cursor paging)", transport="api",
    lsoa_vintage="2021", time_format="utc", dob_format="%Y-%m-%d",
    issue_labels={
        "welfare_benefits": "Welfare Benefit", "community_care": "Community Care", "consumer": "Consumer",
        "debt": "Debt", "housing": "Housing", "employment": "Employment", "immigration": "Immigration",
        "small_claims": "Small Claims", "carers": "Carers Assessment", "family": "Family",
        "utilities": "Utility Advice", "advocacy": "Advocacy", "financial_capability": "Financial Capability",
        "digital_inclusion": "Digital Inclusion", "wellbeing_activities": "Wellbeing Activities",
        "volunteering": "Volunteering & Employment Activities", "training": "Courses & Training",
        "job_search": "Job Search", "food_support": "Food Support",
    },
    status_labels={"sent": "pending", "accepted": "accepted", "declined": "rejected", "cancelled": "cancelled",
                   "expired": "expired", "contacted": "in_progress", "closed": "closed"},
    decline_labels={"no_capacity": "service_full", "not_eligible": "not_eligible", "out_of_area": "out_of_area",
                    "client_declined": "client_refused", "duplicate": "duplicate", "other": "other"},
    outcome_labels={"got_help": "successful", "partly_helped": "partially_successful",
                    "could_not_contact": "unable_to_contact", "no_longer_needed": "no_longer_needed",
                    "referred_elsewhere": "onward_referral"},
    columns={
        "id": "referral_id", "createdAt": "sent_at", "updatedAt": "updated_at", "status": "status",
        "declineReason": "decline_reason", "acceptedAt": "accepted_at", "firstContactAt": "contacted_at",
        "closedAt": "closed_at", "outcome": "outcome", "issues": "issues",
        "referrer.organisationId": "referrer_org_id", "referrer.userId": "referrer_user",
        "service.id": "service_id", "service.organisationId": "receiver_org_id",
        "client.clientId": "client_id", "client.firstName": "first_name", "client.lastName": "last_name",
        "client.dateOfBirth": "dob", "client.phone": "phone", "client.email": "email",
        "client.postcode": "postcode", "client.lsoaCode": "lsoa", "notes": "note",
    },
    referral_id="{seq}", client_id="TH{n}",
)

SWANSEA_NPT = Dialect(
    key="swansea_npt", system="SNPTRAN referral API (JSON, bilingual labels, UK local time with offset)",
    transport="api", lsoa_vintage="2011", time_format="offset", dob_format="%d-%m-%Y",
    issue_labels={
        "debt": "Dyled / Debt", "welfare_benefits": "Budd-daliadau Lles / Welfare Benefits",
        "financial_capability": "Gallu Ariannol / Financial Capability", "utilities": "Biliau Ynni / Energy Bills",
        "food_support": "Banc Bwyd / Food Bank", "fuel_crisis": "Argyfwng Tanwydd / Fuel Crisis",
        "emergency_grant": "Cronfa Cymorth Dewisol / Discretionary Assistance Fund",
        "emergency_housing": "Digartrefedd / Homelessness", "housing": "Tai / Housing",
        "employment": "Cyflogaeth / Employment", "immigration": "Mewnfudo / Immigration",
        "consumer": "Hawliau Defnyddwyr / Consumer Rights", "mental_health": "Iechyd Meddwl / Mental Health",
        "digital_inclusion": "Cynhwysiant Digidol / Digital Inclusion", "family": "Teulu / Family",
        "carers": "Gofalwyr / Carers", "domestic_abuse": "Cam-drin Domestig / Domestic Abuse", "other": "Arall / Other",
    },
    status_labels={"sent": "SENT", "accepted": "ACCEPTED", "declined": "DECLINED", "cancelled": "WITHDRAWN",
                   "expired": "LAPSED", "contacted": "CONTACTED", "closed": "COMPLETED"},
    decline_labels={"no_capacity": "Dim capasiti / No capacity", "not_eligible": "Ddim yn gymwys / Not eligible",
                    "out_of_area": "Tu allan i'r ardal / Out of area", "client_declined": "Cleient wedi gwrthod / Client declined",
                    "duplicate": "Dyblyg / Duplicate", "other": "Arall / Other"},
    outcome_labels={"got_help": "HELPED", "partly_helped": "PARTLY_HELPED", "could_not_contact": "NO_CONTACT",
                    "no_longer_needed": "NOT_NEEDED", "referred_elsewhere": "REFERRED_ON"},
    columns={
        "referral_ref": "referral_id", "date_sent": "sent_at", "last_modified": "updated_at", "state": "status",
        "decline_reason": "decline_reason", "date_accepted": "accepted_at", "date_contacted": "contacted_at",
        "date_completed": "closed_at", "result": "outcome", "needs": "issues",
        "from.org_ref": "referrer_org_id", "from.org_name": "referrer_org_name", "from.user_ref": "referrer_user",
        "to.service_ref": "service_id", "to.org_ref": "receiver_org_id", "to.service_name": "service_name",
        "person.ref": "client_id", "person.forename": "first_name", "person.surname": "last_name",
        "person.dob": "dob", "person.tel": "phone", "person.email": "email", "person.postcode": "postcode",
        "person.lsoa11": "lsoa", "person.notes": "note",
    },
    referral_id="SNPT-{hex}", client_id="P{n}", org_id="org-{n}",
)

DIALECTS = {d.key: d for d in (NORFOLK, TOWER_HAMLETS, OLDHAM, SWANSEA_NPT)}


def fmt_ids(pattern: str, n: np.ndarray, year: np.ndarray | None = None) -> pa.Array:
    """Format integer ids with a dialect pattern, vectorised through arrow."""
    n = np.asarray(n, np.int64)
    if pattern == "{seq}" or pattern == "{n}":
        return pa.array(n.astype(str))
    parts = {
        "{seq}": n.astype(str), "{n}": n.astype(str), "{n4}": np.char.zfill(n.astype(str), 4),
        "{seq6}": np.char.zfill(n.astype(str), 6),
        "{hex}": np.char.zfill(np.char.mod("%x", scramble(n)), 8),
        "{year}": year.astype(str) if year is not None else None,
    }
    pieces, rest = [], pattern
    while rest:
        start = rest.find("{")
        if start == -1:
            pieces.append(rest)
            break
        if start:
            pieces.append(rest[:start])
        end = rest.index("}", start) + 1
        pieces.append(pa.array(parts[rest[start:end]]))
        rest = rest[end:]
    arrays = [p if isinstance(p, pa.Array) else pa.scalar(p) for p in pieces]
    return pc.binary_join_element_wise(*arrays, "")


def scramble(n: np.ndarray) -> np.ndarray:
    """A fixed bijection on 32-bit numbers, so identifiers don't reveal order or who is who."""
    return (np.asarray(n, np.uint64) * np.uint64(2654435761) + np.uint64(40503)) % np.uint64(2**32)


def format_times(minutes: np.ndarray, dialect: Dialect) -> pa.Array:
    """Local wall-clock minutes to the dialect's text; NEVER becomes empty (null)."""
    missing = minutes == NEVER
    seconds = np.where(missing, 0, minutes) * 60
    ts = pa.array(seconds, pa.timestamp("s"), mask=missing)
    if dialect.time_format == "utc":
        utc = pc.assume_timezone(ts, timezone="Europe/London").cast(pa.timestamp("s", tz="UTC"))
        return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")
    if dialect.time_format == "offset":
        local = pc.assume_timezone(ts, timezone="Europe/London")
        text = pc.strftime(local, format="%Y-%m-%dT%H:%M:%S%z")
        return pc.replace_substring_regex(text, pattern=r"([+-]\d\d)(\d\d)$", replacement=r"\1:\2")
    return pc.strftime(ts, format=dialect.time_format)


def utc_millis(minutes: np.ndarray) -> np.ndarray:
    """Local wall-clock minutes to UTC epoch milliseconds (for the API's cursor)."""
    ts = pa.array(np.asarray(minutes, np.int64) * 60, pa.timestamp("s"))
    utc = pc.assume_timezone(ts, timezone="Europe/London").cast(pa.int64())
    return utc.to_numpy() * 1000


def referral_state(batch: MonthBatch, at: np.ndarray) -> dict[str, np.ndarray]:
    """What each referral's record shows at time `at` (minutes): status, its timestamps so far."""
    responded = batch.responded <= at
    contacted = batch.contacted <= at
    closed = batch.closed <= at
    response_state = np.select(
        [batch.response == R["accepted"], batch.response == R["cancelled"], batch.response == R["expired"]],
        [STATES.index("accepted"), STATES.index("cancelled"), STATES.index("expired")],
        STATES.index("declined"))
    state = np.where(closed, STATES.index("closed"), np.where(
        contacted, STATES.index("contacted"), np.where(responded, response_state, STATES.index("sent"))))
    updated = np.maximum.reduce([
        batch.sent, np.where(responded, batch.responded, 0), np.where(contacted, batch.contacted, 0),
        np.where(closed, batch.closed, 0)])
    accepted = responded & (batch.response == R["accepted"])
    declined = responded & (state == STATES.index("declined"))
    return {
        "state": state,
        "updated": updated,
        "accepted_at": np.where(accepted, batch.responded, NEVER),
        "contacted_at": np.where(contacted, batch.contacted, NEVER),
        "closed_at": np.where(closed, batch.closed, NEVER),
        "decline": np.where(declined, batch.response, -1),
        "outcome": np.where(closed, batch.outcome, -1),
    }


def labels(codes: np.ndarray, names: list[str], mapping: dict[str, str]) -> pa.Array:
    """Index codes (-1: none) to a dialect's labels, null where there is none."""
    table = np.array([mapping.get(n, n) for n in names] + [None], dtype=object)
    return pa.array(table[np.where(codes < 0, len(names), codes)], pa.string())


class Renderer:
    """Turns one area's latent referrals into rows of its dialect."""

    def __init__(self, world: AreaWorld, dialect: Dialect):
        self.world, self.d = world, dialect
        missing = [tx.ISSUE_CODES[i] for i in range(len(tx.ISSUE_CODES))
                   if tx.ISSUE_CODES[i] in world.profile.issue_mix and tx.ISSUE_CODES[i] not in dialect.issue_labels]
        assert not missing, f"{dialect.key} has no label for {missing}"
        self.issue_table = np.array([dialect.issue_labels.get(c, "") for c in tx.ISSUE_CODES] + [""], dtype=object)
        orgs, services = world.orgs, world.services
        self.org_names = np.array([o.name for o in orgs], dtype=object)
        self.org_ids = np.array(fmt_ids(dialect.org_id, np.array([o.id + 1 for o in orgs])).to_pylist(), dtype=object)
        self.service_names = np.array([s.name for s in services], dtype=object)
        self.service_ids = np.array(fmt_ids(dialect.org_id.replace("org", "svc").replace("ORG", "SVC"),
                                            np.array([s.id + 1 for s in services])).to_pylist(), dtype=object)
        geo = world.geo
        self.lsoa = geo.lsoa11 if dialect.lsoa_vintage == "2011" else geo.lsoa21
        fold = lambda names: np.array([n.translate(ASCII_FOLD).replace(" ", "").replace("'", "").lower()
                                       for n in names], dtype=object)
        self.first_ascii, self.last_ascii = fold(world.first_names), fold(world.last_names)
        self.first_initial = np.array([n[:1] for n in self.first_ascii], dtype=object)

    def rows(self, batch: MonthBatch, at: np.ndarray) -> pa.Table:
        """The records of `batch` as they look at time `at`, in the dialect's columns."""
        d, w = self.d, self.world
        st = referral_state(batch, at)
        years = (batch.sent // MINUTES_PER_DAY).astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
        people = w.people
        person = batch.person
        first = w.first_names[people["first"][person]]
        last = w.last_names[people["last"][person]]
        first_typed = first.copy()
        last_typed = last.copy()
        for names, flags, draw in ((first_typed, batch.typo_first, batch.seq), (last_typed, batch.typo_last, batch.seq)):
            for i in np.flatnonzero(flags):
                names[i] = typo(names[i], (draw[i] * 0.6180339887) % 1)
        fields = {
            "referral_id": fmt_ids(d.referral_id, batch.seq + 1, years),
            "sent_at": format_times(batch.sent, d),
            "updated_at": format_times(st["updated"], d),
            "status": labels(st["state"], STATES, d.status_labels),
            "decline_reason": labels(st["decline"], RESPONSES, d.decline_labels),
            "accepted_at": format_times(st["accepted_at"], d),
            "contacted_at": format_times(st["contacted_at"], d),
            "closed_at": format_times(st["closed_at"], d),
            "outcome": labels(st["outcome"], tx.OUTCOMES, d.outcome_labels),
            "referrer_org_id": pa.array(self.org_ids[batch.referrer_org]),
            "referrer_org_name": pa.array(self.org_names[batch.referrer_org]),
            "referrer_user": fmt_ids("U{n}", scramble(batch.referrer_user + 7919 * (w.seed + 1)) % 900000 + 100000),
            "service_id": pa.array(self.service_ids[batch.service]),
            "service_name": pa.array(self.service_names[batch.service]),
            "receiver_org_id": pa.array(self.org_ids[w.service_org[batch.service]]),
            "receiver_org_name": pa.array(self.org_names[w.service_org[batch.service]]),
            "issues": self._issues(batch),
            "client_id": fmt_ids(d.client_id, scramble(person * 2 + batch.registration) % 9000000 + 1000000),
            "first_name": pa.array(first_typed, pa.string()),
            "last_name": pa.array(last_typed, pa.string()),
            "dob": self._dob(person, batch.registration),
            "phone": self._phone(people["phone"][person], batch.has_phone),
            "email": self._email(person, batch.has_email),
            "postcode": pa.array(people["postcode"][person], pa.string()),
            "lsoa": pa.array(self.lsoa[people["piece"][person]], pa.string()),
        }
        fields["note"] = self._notes(batch, fields)
        return pa.table({column: fields[field] for column, field in d.columns.items()})

    def _issues(self, batch: MonthBatch) -> pa.Array:
        codes = np.stack([batch.issue1, batch.issue2, batch.issue3], axis=1)
        present = codes >= 0
        values = self.issue_table[codes[present]]
        offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
        listed = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.string()))
        if self.d.transport == "api":
            return listed
        return pc.binary_join(listed, self.d.issue_separator)

    def _dob(self, person: np.ndarray, registration: np.ndarray) -> pa.Array:
        people = self.world.people
        dob = (people["dob"][person]).astype("datetime64[D]")
        entry = np.where(registration == 0, people["dob_entry0"][person], people["dob_entry1"][person])
        year = dob.astype("datetime64[Y]")
        month = dob.astype("datetime64[M]")
        m = (month - year.astype("datetime64[M]")).astype(int)
        day = (dob - month.astype("datetime64[D]")).astype(int)
        swapped = np.where(entry == 1, (year.astype("datetime64[M]") + day).astype("datetime64[D]") + m, dob)
        ts = pa.array(swapped.astype("datetime64[s]").astype(np.int64), pa.timestamp("s"), mask=entry == 2)
        return pc.strftime(ts, format=self.d.dob_format)

    def _phone(self, number: np.ndarray, present: np.ndarray) -> pa.Array:
        text = np.char.add("07700 ", number.astype(str)) if self.d.key != "tower_hamlets" else np.char.add(
            "+447700", number.astype(str))
        return pa.array(text.astype(object), pa.string(), mask=~present)

    def _email(self, person: np.ndarray, present: np.ndarray) -> pa.Array:
        people = self.world.people
        style = people["email_style"][person]
        first = self.first_ascii[people["first"][person]]
        last = self.last_ascii[people["last"][person]]
        domain = np.array(["example.com", "example.org", "example.net"], dtype=object)[style % 3]
        initial = self.first_initial[people["first"][person]]
        local = np.where(style % 2 == 0, first + "." + last, initial + last + (style % 97).astype(str).astype(object))
        return pa.array(local + "@" + domain, pa.string(), mask=~present)

    def _notes(self, batch: MonthBatch, fields: dict) -> pa.Array:
        issue = pa.array(self.issue_table[batch.issue1], pa.string())
        values = {"first": fields["first_name"], "last": fields["last_name"], "issue": issue,
                  "phone": pc.fill_null(fields["phone"], "the number on file"),
                  "email": pc.fill_null(fields["email"], "no email given")}
        out = pa.nulls(len(batch), pa.string())
        for k, template in enumerate(NOTE_TEMPLATES):
            if not template:
                continue
            pieces, rest = [], template
            while rest:
                start = rest.find("{")
                if start == -1:
                    pieces.append(pa.scalar(rest))
                    break
                if start:
                    pieces.append(pa.scalar(rest[:start]))
                end = rest.index("}", start)
                pieces.append(values[rest[start + 1:end]])
                rest = rest[end + 1:]
            text = pc.binary_join_element_wise(*pieces, "")
            out = pc.if_else(pa.array(batch.note == k), text, out)
        return out
