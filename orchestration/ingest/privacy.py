"""The privacy boundary: personal fields go in, keyed pseudonyms come out.

Names, dates of birth, phone numbers, emails, postcodes and notes are used here, in memory, to make
keyed hashes (HMAC-SHA256 with a key from the environment) and an age band; nothing else about them
leaves this module. Several match keys per record (the approach ONS used to link census records) let
linkage survive a typo in a name, a day and month swapped in a date of birth, a missing date of birth
or the same person registered twice.
"""

import hashlib
import hmac
import os
import re
import secrets
import stat
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

KEY_ENV = "CCS_PSEUDONYMISATION_KEY"
AGE_BANDS = [(0, 18, "0-17"), (18, 25, "18-24"), (25, 35, "25-34"), (35, 45, "35-44"), (45, 55, "45-54"),
             (55, 65, "55-64"), (65, 75, "65-74"), (75, 200, "75+")]

# The personal fields a contract can name, by the role they play here.
PERSONAL_ROLES = ("client_id", "forename", "surname", "dob", "phone", "email", "postcode", "note")

# Each match key is a list of normalised parts; a record gets the key only if it has every part.
MATCH_KEYS = {
    "client": ["client_id"],
    "name_dob": ["forename", "surname", "dob"],
    "surname_initial_dob": ["surname", "initial", "dob"],
    "name_dob_transposed": ["forename", "surname", "dob_unordered"],  # survives a day/month swap
    "forename_dob_postcode": ["forename", "dob", "postcode"],  # survives a surname typo
    "surname_dob_postcode": ["surname", "dob", "postcode"],  # survives a forename typo
    "name_postcode": ["forename", "surname", "postcode"],  # survives a missing date of birth
    "email": ["email"],
}


class MissingKeyError(RuntimeError):
    pass


MIN_KEY_BYTES = 32


def load_key(home: Path | None = None, create: bool = False) -> bytes:
    """The pseudonymisation key: from CCS_PSEUDONYMISATION_KEY, or (demo only, `create=True`) from a
    key file under CCS_HOME that only its owner can read, made on first use. A short key would make
    the hashes guessable from a list of names and dates of birth, so it is refused."""
    value = os.environ.get(KEY_ENV)
    if value:
        key = value.encode()
    elif home is None or not create:
        raise MissingKeyError(f"{KEY_ENV} is not set: refusing to pseudonymise without a key "
                              "(a real deployment sets the variable; `ccs ingest --demo-key` uses the demo's key file)")
    else:
        path = Path(home) / "pseudonymisation.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.replace(tmp, path)  # whole or not at all
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise MissingKeyError(f"{path} can be read by others: chmod 600 it")
        key = path.read_text().strip().encode()
    if len(key) < MIN_KEY_BYTES:
        raise MissingKeyError(f"the pseudonymisation key must be at least {MIN_KEY_BYTES} bytes")
    return key


def key_fingerprint(key: bytes) -> str:
    """Identifies a key without revealing it: landing refuses to mix batches made with different keys."""
    return hmac.new(key, b"ccs-key-fingerprint", hashlib.sha256).hexdigest()[:16]


def keyed_hash(key: bytes, purpose: str, values: pa.Array) -> pa.Array:
    """HMAC-SHA256 of each value (null stays null), namespaced by purpose so keys never collide; hashed
    once per distinct value. Its first 128 bits, held as a UUID: a fixed-width 16-byte type that
    Parquet and DuckDB both have, so the linkage joins and groups the keys as numbers, not as text."""
    encoded = values.dictionary_encode()
    hashed = pa.array(hmac_digests(key, purpose.encode() + b"\x1f", encoded.dictionary.to_pylist()), pa.binary(16))
    return pa.ExtensionArray.from_storage(pa.uuid(), hashed.take(encoded.indices))


def hmac_digests(key: bytes, prefix: bytes, messages: list[str]) -> list[bytes]:
    """hmac.digest(key, prefix + message, "sha256")[:16] of each message, identical (tested) and
    about twice as fast: HMAC spelled out (RFC 2104), with the key's padded blocks and the prefix
    hashed once, not once per message."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    inner.update(prefix)
    inner_copy, outer_copy = inner.copy, hashlib.sha256(bytes(b ^ 0x5C for b in block)).copy
    out = []
    for message in messages:
        h = inner_copy()
        h.update(message.encode())
        o = outer_copy()
        o.update(h.digest())
        out.append(o.digest()[:16])
    return out


def row_digests(table: pa.Table, key: bytes) -> list[bytes]:
    """A keyed digest (BLAKE2b, 16 bytes) of each row's raw fields, so the rows of a re-issued export
    file that were read before are recognised without keeping the rows (they hold personal data). The
    digest key is derived from the pseudonymisation key and the header: without the key a digest
    reveals nothing, not even whether a guessed row is in a file."""
    row_key = row_digest_key(key, table.column_names)
    columns = [c.cast(pa.string()) for c in table.columns]
    # the fields joined with \x1f, a missing one as \x1e, tell rows apart unless a value holds one of
    # those characters: such a row (never seen in an export so far) is spelled out as a tuple instead,
    # after a \x1e and "(" that no joined row starts with
    joined = pc.binary_join_element_wise(*[pc.fill_null(c, "\x1e") for c in columns], "\x1f")
    separators, missing_marks = byte_counts(joined, (0x1F, 0x1E))
    rows = joined.cast(pa.binary()).to_pylist()
    if separators != len(rows) * (len(columns) - 1) or missing_marks != sum(c.null_count for c in columns):
        odd = [pc.match_substring_regex(c, "[\x1e\x1f]").fill_null(False).to_numpy(zero_copy_only=False)
               for c in columns]
        flagged = np.flatnonzero(np.logical_or.reduce(odd))
        for k in flagged:
            rows[k] = ("\x1e" + repr(tuple(c[int(k)].as_py() for c in columns))).encode()
    blake2b = hashlib.blake2b
    return [blake2b(row, key=row_key, digest_size=16).digest() for row in rows]


def byte_counts(strings: pa.ChunkedArray | pa.Array, values: tuple[int, ...]) -> list[int]:
    """How often each byte value occurs in the strings, counted on their bytes in place (pyarrow's
    count_substring took a third of the digests' time)."""
    counts = [0] * len(values)
    for chunk in strings.chunks if isinstance(strings, pa.ChunkedArray) else [strings]:
        offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], offset_type)[chunk.offset: chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2], np.uint8)[offsets[0]:offsets[-1]] if len(chunk) else np.empty(0, np.uint8)
        for k, value in enumerate(values):
            counts[k] += int(np.count_nonzero(data == value))
    return counts


def row_digest_key(key: bytes, header: list[str]) -> bytes:
    return hmac.digest(key, "\x1f".join(["row-digest", *header]).encode(), "sha256")


def malformed_row_digest(values: list[str], header: list[str], key: bytes) -> bytes:
    """row_digests' digest for a row with the wrong number of fields, spelled out as a tuple as
    row_digests spells out its odd rows (a tuple of another length: never the same text)."""
    text = ("\x1e" + repr(tuple(values))).encode()
    return hashlib.blake2b(text, key=row_digest_key(key, header), digest_size=16).digest()


def normalise_one_name(v: str) -> str | None:
    text = unicodedata.normalize("NFKD", v).encode("ascii", "ignore").decode().upper()
    text = "".join(ch for ch in text if ch.isalpha())
    return text or None


def normalise_postcode(v: str) -> str | None:
    return re.sub(r"[^A-Z0-9]", "", v.upper()) or None


def normalise_email(v: str) -> str | None:
    return v.strip().lower() or None


def parse_dates(values: pd.Series, fmt: str) -> pd.Series:
    """Dates as datetime64 at midnight (NaT where missing or unparseable)."""
    return pd.to_datetime(values.replace("", None), format=fmt, errors="coerce")


def age_band(dob: pd.Series, on: pd.Series) -> pd.Series:
    """Age in whole years on the day of the referral, as a band; 'unknown' without a date of birth."""
    known = dob.notna() & on.notna()
    out = pd.Series("unknown", index=dob.index, dtype=object)
    if known.any():
        d, o = pd.to_datetime(dob[known]), pd.to_datetime(on[known])
        years = o.dt.year - d.dt.year - ((o.dt.month * 100 + o.dt.day) < (d.dt.month * 100 + d.dt.day))
        bands = np.select([(years >= lo) & (years < hi) for lo, hi, _ in AGE_BANDS], [b for _, _, b in AGE_BANDS],
                          "unknown")
        out[known] = bands
    return out


def match_parts(fields: dict[str, tuple[np.ndarray, np.ndarray]], dob_format: str) -> dict[str, pa.Array]:
    """Normalised parts of every match key, from the personal fields (by role), each given as
    pd.factorize gives it (a code per record, -1 where missing, and the distinct values): a part is
    worked out once per distinct value. Case, accents, spaces and punctuation do not tell people apart:
    'Siân ap Dafydd' -> 'SIANAPDAFYDD'."""
    length = len(next(iter(fields.values()))[0])

    def part(role: str, normalise) -> pa.Array:
        if role not in fields:
            return pa.nulls(length, pa.string())
        codes, uniques = fields[role]
        values = pa.array([normalise(v) for v in uniques] + [None], pa.string())
        return values.take(np.where(codes < 0, len(uniques), codes))

    days = {}
    if "dob" in fields:
        parsed = parse_dates(pd.Series(fields["dob"][1], dtype=object), dob_format).dt.date
        days = {v: None if pd.isna(d) else d for v, d in zip(fields["dob"][1], parsed)}
    forename = part("forename", normalise_one_name)
    return {
        "client_id": part("client_id", lambda v: v),
        "forename": forename,
        "surname": part("surname", normalise_one_name),
        "initial": pc.utf8_slice_codeunits(forename, 0, 1),
        "dob": part("dob", lambda v: days[v] and days[v].isoformat()),
        "dob_unordered": part("dob", lambda v: days[v] and
                              f"{days[v].year}-{min(days[v].month, days[v].day):02d}-{max(days[v].month, days[v].day):02d}"),
        "postcode": part("postcode", normalise_postcode),
        "email": part("email", normalise_email),
    }


# the personal fields the match keys are made from (phone numbers and notes are not)
MATCH_ROLES = ("client_id", "forename", "surname", "dob", "postcode", "email")


def match_keys(key: bytes, area: str, personal: pd.DataFrame, dob_format: str) -> dict[str, pa.Array]:
    """One keyed hash per match key (null where a part is missing). Namespaced by area: people are
    linked within an area's system, never across areas. Made once per distinct combination of the
    personal fields (a referral's versions, and most of a person's referrals, repeat them)."""
    fields = {c: pd.factorize(personal[c]) for c in MATCH_ROLES if c in personal}
    group = np.zeros(len(personal), dtype=np.int64)
    for codes, uniques in fields.values():  # the combination's number, field by field (kept small by factorising)
        group = pd.factorize(group * (len(uniques) + 1) + codes + 1)[0]
    first = np.unique(group, return_index=True)[1]  # a record of each distinct combination, in group order
    text = match_parts({c: (codes[first], uniques) for c, (codes, uniques) in fields.items()}, dob_format)
    combination = pa.array(group)
    out = {}
    for name, needs in MATCH_KEYS.items():
        # the parts joined with "|"; a missing part: no key
        joined = pc.binary_join_element_wise(*[text[c] for c in needs], "|") if len(needs) > 1 else text[needs[0]]
        out[f"mk_{name}"] = keyed_hash(key, f"{area}:{name}", joined).take(combination)
    return out
