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
    """Format integer ids with a dialect pattern ("NCAN-{seq}", "OCAN/{year}/{seq6}", ...)."""
    n = np.asarray(n, np.int64)
    text = pa.array(n).cast(pa.string())
    parts = {
        "{seq}": text, "{n}": text, "{n4}": pc.utf8_lpad(text, width=4, padding="0"),
        "{seq6}": pc.utf8_lpad(text, width=6, padding="0"), "{hex}": hex8(scramble(n)),
        "{year}": pa.array(year).cast(pa.string()) if year is not None else None,
    }
    return join_pattern(pattern, lambda token: parts["{" + token + "}"])


def join_pattern(pattern: str, value_of) -> pa.Array:
    """Build strings from a pattern of literals and {tokens}, each token an arrow array."""
    pieces, rest = [], pattern
    while rest:
        start = rest.find("{")
        if start == -1:
            pieces.append(pa.scalar(rest))
            break
        if start:
            pieces.append(pa.scalar(rest[:start]))
        end = rest.index("}", start)
        pieces.append(value_of(rest[start + 1:end]))
        rest = rest[end + 1:]
    if len(pieces) == 1:
        return pieces[0]
    return pc.binary_join_element_wise(*pieces, "")


def hex8(values: np.ndarray) -> pa.Array:
    """Eight lowercase hex digits per value, without a Python loop."""
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    v = np.asarray(values, np.uint64)
    nibbles = np.stack([(v >> np.uint64(4 * (7 - k))) & np.uint64(15) for k in range(8)], axis=1)
    return pa.array(np.ascontiguousarray(digits[nibbles]).view("S8").reshape(-1)).cast(pa.string())


def scramble(n: np.ndarray) -> np.ndarray:
    """A fixed bijection on 32-bit numbers, so identifiers don't reveal order or who is who."""
    return (np.asarray(n, np.uint64) * np.uint64(2654435761) + np.uint64(40503)) % np.uint64(2**32)


# Where each strftime field sits in arrow's "YYYY-MM-DD HH:MM:SS" rendering: slicing that is ten times
# faster than strftime, which matters at ten million referrals.
ISO_FIELDS = {"Y": (0, 4), "m": (5, 7), "d": (8, 10), "H": (11, 13), "M": (14, 16), "S": (17, 19)}


def strftime_fast(ts: pa.Array, fmt: str) -> pa.Array:
    iso = ts.cast(pa.string())
    pattern = fmt
    for field in ISO_FIELDS:
        pattern = pattern.replace("%" + field, "{" + field + "}")
    return join_pattern(pattern, lambda f: pc.utf8_slice_codeunits(iso, *ISO_FIELDS[f]))


def format_times(minutes: np.ndarray, dialect: Dialect) -> pa.Array:
    """Local wall-clock minutes to the dialect's text; NEVER becomes empty (null). Each distinct
    minute is formatted once (a month has far fewer working minutes than referrals)."""
    distinct, inverse = np.unique(minutes, return_inverse=True)
    return format_distinct_times(distinct, dialect).take(pa.array(inverse.reshape(-1)))


def format_distinct_times(minutes: np.ndarray, dialect: Dialect) -> pa.Array:
    missing = minutes == NEVER
    seconds = np.where(missing, 0, minutes) * 60
    ts = pa.array(seconds, pa.timestamp("s"), mask=missing)
    if dialect.time_format == "utc":
        utc = pc.assume_timezone(ts, timezone="Europe/London").cast(pa.timestamp("s"))
        return pc.binary_join_element_wise(strftime_fast(utc, "%Y-%m-%dT%H:%M:%S"), pa.scalar("Z"), "")
    if dialect.time_format == "offset":
        utc = pc.assume_timezone(ts, timezone="Europe/London").cast(pa.int64()).to_numpy(zero_copy_only=False)
        summer = pa.array(seconds - np.nan_to_num(utc) == 3600)
        offset = pc.if_else(summer, pa.scalar("+01:00"), pa.scalar("+00:00"))
        return pc.binary_join_element_wise(strftime_fast(ts, "%Y-%m-%dT%H:%M:%S"), offset, "")
    return strftime_fast(ts, dialect.time_format)


def utc_millis(minutes: np.ndarray) -> np.ndarray:
    """Local wall-clock minutes to UTC epoch milliseconds (for the API's cursor)."""
    ts = pa.array(np.asarray(minutes, np.int64) * 60, pa.timestamp("s"))
    utc = pc.assume_timezone(ts, timezone="Europe/London").cast(pa.int64())
    return utc.to_numpy() * 1000


def referral_state(batch: MonthBatch, at: np.ndarray) -> dict[str, np.ndarray]:
    """What each referral's record shows at time `at` (minutes): its status and which events it shows."""
    responded = batch.responded <= at
    contacted = batch.contacted <= at
    closed = batch.closed <= at
    response_state = np.select(
        [batch.response == R["accepted"], batch.response == R["cancelled"], batch.response == R["expired"]],
        [STATES.index("accepted"), STATES.index("cancelled"), STATES.index("expired")],
        STATES.index("declined"))
    state = np.where(closed, STATES.index("closed"), np.where(
        contacted, STATES.index("contacted"), np.where(responded, response_state, STATES.index("sent"))))
    latest = np.where(closed, 3, np.where(contacted, 2, np.where(responded, 1, 0)))  # index into event_times
    updated = np.choose(latest, [batch.sent, batch.responded, batch.contacted, batch.closed])
    return {"state": state, "latest": latest, "updated": updated, "responded": responded, "contacted": contacted,
            "closed": closed, "accepted": responded & (batch.response == R["accepted"]),
            "declined": responded & (response_state == STATES.index("declined"))}


def dictionary(indices: np.ndarray, values: np.ndarray) -> pa.DictionaryArray:
    """Repeated names as a dictionary column: the text is held once, each row holds a number."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, np.int32)), pa.array(values, pa.string()))


def labels(codes: np.ndarray, names: list[str], mapping: dict[str, str]) -> pa.Array:
    """Index codes (-1: none) to a dialect's labels, null where there is none."""
    table = np.array([mapping.get(n, n) for n in names] + [None], dtype=object)
    return pa.array(table[np.where(codes < 0, len(names), codes)], pa.string())


POSTCODE_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)


class Renderer:
    """Turns one area's latent referrals into rows of its dialect.

    `static` renders what never changes about a referral (who, what, personal data, the text of each
    event time) once; `rows` then shows a referral as it stood at a moment, as often as it is needed.
    """

    def __init__(self, world: AreaWorld, dialect: Dialect):
        self.world, self.d = world, dialect
        missing = [c for c in world.profile.issue_mix if c not in dialect.issue_labels]
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
        users = np.arange(len(world.user_org))
        self.user_ids = np.array(fmt_ids("U{n}", scramble(users + 7919 * (world.seed + 1)) % 900000 + 100000).to_pylist(),
                                 dtype=object)

    def referral_ids(self, batch: MonthBatch) -> pa.Array:
        years = (batch.sent // MINUTES_PER_DAY).astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
        return fmt_ids(self.d.referral_id, batch.seq + 1, years)

    def static(self, batch: MonthBatch) -> pa.Table:
        d, w = self.d, self.world
        people = w.people
        person = batch.person
        first = w.first_names[people["first"][person]]
        last = w.last_names[people["last"][person]]
        for names, flags in ((first, batch.typo_first), (last, batch.typo_last)):
            for i in np.flatnonzero(flags):
                names[i] = typo(names[i], (batch.seq[i] * 0.6180339887) % 1)
        receiver = w.service_org[batch.service]
        fields = {
            "referral_id": self.referral_ids(batch),
            "sent_at": format_times(batch.sent, d),
            "responded_text": format_times(batch.responded, d),
            "contacted_text": format_times(batch.contacted, d),
            "closed_text": format_times(batch.closed, d),
            "decline_text": labels(np.where(np.isin(batch.response, [R[r] for r in tx.DECLINE_REASONS]), batch.response, -1),
                                   RESPONSES, d.decline_labels),
            "outcome_text": labels(batch.outcome, tx.OUTCOMES, d.outcome_labels),
            "referrer_org_id": dictionary(batch.referrer_org, self.org_ids),
            "referrer_org_name": dictionary(batch.referrer_org, self.org_names),
            "referrer_user": dictionary(batch.referrer_user, self.user_ids),
            "service_id": dictionary(batch.service, self.service_ids),
            "service_name": dictionary(batch.service, self.service_names),
            "receiver_org_id": dictionary(receiver, self.org_ids),
            "receiver_org_name": dictionary(receiver, self.org_names),
            "issues": self._issues(batch),
            "client_id": fmt_ids(d.client_id, scramble(person * 2 + batch.registration) % 9000000 + 1000000),
            "first_name": pa.array(first, pa.string()),
            "last_name": pa.array(last, pa.string()),
            "dob": self._dob(person, batch.registration),
            "phone": self._phone(people["phone"][person], batch.has_phone),
            "email": self._email(person, batch.has_email),
            "postcode": self._postcode(person),
            "lsoa": dictionary(people["piece"][person], self.lsoa),
        }
        fields["note"] = self._notes(batch, fields)
        return pa.table(fields)

    def rows(self, batch: MonthBatch, static: pa.Table, at: np.ndarray) -> pa.Table:
        """The records as they stood at time `at` (minutes), in the dialect's columns."""
        st = referral_state(batch, at)
        null = pa.nulls(len(batch), pa.string())
        shown = lambda mask, column: pc.if_else(pa.array(mask), static[column], null)
        times = [static["sent_at"], static["responded_text"], static["contacted_text"], static["closed_text"]]
        fields = {name: static[name] for name in static.column_names}
        fields.update({
            "updated_at": pc.choose(pa.array(st["latest"], pa.int8()), *times),
            "status": labels(st["state"], STATES, self.d.status_labels),
            "decline_reason": shown(st["declined"], "decline_text"),
            "accepted_at": shown(st["accepted"], "responded_text"),
            "contacted_at": shown(st["contacted"], "contacted_text"),
            "closed_at": shown(st["closed"], "closed_text"),
            "outcome": shown(st["closed"], "outcome_text"),
        })
        return pa.table({column: fields[field] for column, field in self.d.columns.items()})

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
        days, inverse = np.unique(np.where(entry == 2, np.datetime64("NaT"), swapped), return_inverse=True)
        ts = pa.array(days.astype("datetime64[s]").astype(np.int64), pa.timestamp("s"), mask=np.isnat(days))
        return strftime_fast(ts, self.d.dob_format).take(pa.array(inverse.reshape(-1)))

    def _phone(self, number: np.ndarray, present: np.ndarray) -> pa.Array:
        prefix = "+447700" if self.d.key == "tower_hamlets" else "07700 "
        digits = pa.array(900000 + number.astype(np.int64), mask=~present).cast(pa.string())
        return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")

    def _email(self, person: np.ndarray, present: np.ndarray) -> pa.Array:
        people = self.world.people
        style = people["email_style"][person].astype(np.int64)
        first = pa.array(self.first_ascii[people["first"][person]], pa.string())
        last = pa.array(self.last_ascii[people["last"][person]], pa.string())
        initial = pa.array(self.first_initial[people["first"][person]], pa.string())
        domain = pa.array(np.array(["example.com", "example.org", "example.net"], dtype=object)[style % 3], pa.string())
        number = pa.array(style // 2 % 1000).cast(pa.string())  # addresses are personal: nearly unique
        local = pc.if_else(pa.array(style % 2 == 0), pc.binary_join_element_wise(first, ".", last, number, ""),
                           pc.binary_join_element_wise(initial, last, number, ""))
        return pc.if_else(pa.array(present), pc.binary_join_element_wise(local, domain, "@"), pa.nulls(len(person), pa.string()))

    def _postcode(self, person: np.ndarray) -> pa.Array:
        people, w = self.world.people, self.world
        unit = people["postcode_unit"][person].astype(np.int64)
        district = pa.array(w.postcode_district_names[people["postcode_district"][person]], pa.string())
        return pc.binary_join_element_wise(
            district, pa.scalar(" "), pa.array(unit // 400 + 1).cast(pa.string()),
            pa.array(POSTCODE_LETTERS[(unit % 400) // 20], pa.string()), pa.array(POSTCODE_LETTERS[unit % 20], pa.string()), "")

    def _notes(self, batch: MonthBatch, fields: dict) -> pa.Array:
        issue = pa.array(self.issue_table[batch.issue1], pa.string())
        values = {"first": fields["first_name"], "last": fields["last_name"], "issue": issue,
                  "phone": pc.fill_null(fields["phone"], "the number on file"),
                  "email": pc.fill_null(fields["email"], "no email given")}
        out = pa.nulls(len(batch), pa.string())
        for k, template in enumerate(NOTE_TEMPLATES):
            if template:
                out = pc.if_else(pa.array(batch.note == k), join_pattern(template, values.__getitem__), out)
        return out
