"""Planted canaries for the leak test (issue 11, item 7).

A canary is a value that must never come out of the pipeline: it is planted into a simulated
raw partition of hes_apc, and afterwards every byte of the open side is searched for it. Each
canary knows the byte strings it may show up as (``needles``): the text as planted, its usual
re-spellings, and for numbers also the little-endian int64/float64 bytes that an uncompressed
binary store would hold.

Kinds:

- ``blocking``: planted often enough (``BLOCKING_COUNT``) that small-number suppression keeps
  it; only the disclosure checks can stop it, and the release must be refused.
- ``suppressed``: planted 1-7 times; small-number suppression alone must make it vanish.
- ``fail_closed``: a column that must make the scrape refuse the source outright.

This module knows nothing about how the checks work; it only plants values.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from artificial_data.common.disclosure_checks import is_valid_nhs_number
from artificial_data.common.stores import RAW, SCRAPER, ScopedStores

DATASET = "hes_apc"
#: Above the threshold of 8 (and 10 after rounding to 5), so suppression keeps the value.
BLOCKING_COUNT = 12
MARKER_FILE = "_SIMULATED"  # artificial_data.simulator.writer.MARKER_FILE
PART_FILE = "part-00000.parquet"

BLOCKING = "blocking"
SUPPRESSED = "suppressed"
FAIL_CLOSED = "fail_closed"


@dataclass(frozen=True)
class Canary:
    """One planted value (or one family of values) and what to search for afterwards."""

    name: str  # the canary class, e.g. "nhs_number_text"
    kind: str  # BLOCKING, SUPPRESSED or FAIL_CLOSED
    field: str  # the hes_apc column it is planted in (a new column for FAIL_CLOSED)
    values: tuple[object, ...]  # the values as planted (str, int/float or date)
    count: int  # rows planted per value
    needles: tuple[bytes, ...]  # every byte string that betrays the canary
    new_column: bool = False  # the column is not in the spec (added to the raw schema)

    @property
    def value(self) -> object:
        return self.values[0]

    @property
    def rows(self) -> int:
        return self.count * len(self.values)


#: Needles shorter than this are only searched between delimiters: a four-letter code such as
#: ``Q871`` turns up by chance in a thousand random 32-character ids about once in 60 runs.
SHORT = 8
#: How a short value is delimited where it is stored: CSV, one value per line (the scanner's
#: rendering of Parquet and SQLite cells), JSON and Python reprs, Markdown and HTML tables,
#: and Parquet's plain/dictionary encoding (a little-endian int32 length before the bytes).
_DELIMITERS = (
    (",", ","),
    (",", "\n"),
    ("\n", ","),
    ("\n", "\n"),
    ("\n", "\r"),
    ('"', '"'),
    ("'", "'"),
    ("`", "`"),
    ("| ", " |"),
    ("<td>", "</td>"),
)


def text_needles(*spellings: str) -> tuple[bytes, ...]:
    needles: list[bytes] = []
    for spelling in spellings:
        raw = spelling.encode()
        if len(raw) >= SHORT:
            needles.append(raw)
            continue
        needles += [a.encode() + raw + b.encode() for a, b in _DELIMITERS]
        needles.append(len(raw).to_bytes(4, "little") + raw)
    return tuple(dict.fromkeys(needles))


def number_needles(number: int) -> tuple[bytes, ...]:
    """A number as text and as the int64 and float64 a binary file would hold."""
    return (
        str(number).encode(),
        struct.pack("<q", number),
        struct.pack("<d", float(number)),
    )


def nhs_spellings(digits: str) -> tuple[str, ...]:
    return (
        digits,
        f"{digits[:3]} {digits[3:6]} {digits[6:]}",
        f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
    )


def date_needles(day: date) -> tuple[bytes, ...]:
    # Not the int32 day number: four bytes are too short to search a binary file for.
    return text_needles(day.isoformat())


def _nhs(digits: str) -> str:
    if not is_valid_nhs_number(digits):
        raise ValueError(f"{digits} does not pass the modulus-11 check")
    return digits


# ----------------------------------------------------------------------------- the catalogue

NHS_TEXT = _nhs("9434765919")
NHS_NUMERIC = _nhs("9434765870")
NHS_TEXT_RARE = _nhs("4010232137")
NHS_NUMERIC_RARE = _nhs("9434765846")
NHS_FORBIDDEN_COLUMN = _nhs("9434765862")
POSTCODE = "SW1A 2AA"
EMAIL = "ophelia.tansley@example.org"
PHONE = "020 7946 0321"
NAME = "Zebedee Quimby"
FREE_TEXT = "patient fell from ladder at home"
EARLY_DATE = date(1, 1, 1)
LATE_DATE = date(9999, 12, 31)
#: 600 made-up GP-practice-shaped codes (letter + 5 digits), each planted exactly 8 times.
GP_CODES = tuple(f"Q9{i:04d}" for i in range(600))
RARE_CODE = "Q871"  # a well-formed ICD-10 code the simulator never draws
UNKNOWN_COLUMN = "WARD_NOTES"
UNKNOWN_COLUMN_TEXT = "ward note: Yolanda Fairweather went home"

BLOCKING_CANARIES: tuple[Canary, ...] = (
    Canary(
        "nhs_number_text",
        BLOCKING,
        "ADMISORC",
        (NHS_TEXT,),
        BLOCKING_COUNT,
        text_needles(*nhs_spellings(NHS_TEXT)),
    ),
    # hes_apc has no int64 categorical (WAITLIST is int32, too small for ten digits), so the
    # numeric NHS number goes into the double categorical ALCFRAC.
    Canary(
        "nhs_number_numeric",
        BLOCKING,
        "ALCFRAC",
        (float(NHS_NUMERIC),),
        BLOCKING_COUNT,
        number_needles(int(NHS_NUMERIC)),
    ),
    Canary(
        "postcode",
        BLOCKING,
        "ADMIMETH",
        (POSTCODE,),
        BLOCKING_COUNT,
        text_needles(POSTCODE, POSTCODE.replace(" ", "")),
    ),
    Canary("email", BLOCKING, "DISDEST", (EMAIL,), BLOCKING_COUNT, text_needles(EMAIL)),
    Canary(
        "phone_number",
        BLOCKING,
        "DISMETH",
        (PHONE,),
        BLOCKING_COUNT,
        text_needles(PHONE, PHONE.replace(" ", "")),
    ),
    Canary(
        "person_name",
        BLOCKING,
        "CAUSE_3",
        (NAME,),
        BLOCKING_COUNT,
        text_needles(NAME, NAME.upper()),
    ),
    Canary(
        "free_text", BLOCKING, "DIAG_4_02", (FREE_TEXT,), BLOCKING_COUNT, text_needles(FREE_TEXT)
    ),
    Canary(
        "date_too_early",
        BLOCKING,
        "ADMIDATE",
        (EARLY_DATE,),
        BLOCKING_COUNT,
        date_needles(EARLY_DATE),
    ),
    Canary(
        "date_too_late", BLOCKING, "DISDATE", (LATE_DATE,), BLOCKING_COUNT, date_needles(LATE_DATE)
    ),
    Canary(
        "identifier_like",
        BLOCKING,
        "GPPRAC",
        GP_CODES,
        8,
        text_needles(*GP_CODES),
    ),
)

SUPPRESSED_CANARIES: tuple[Canary, ...] = (
    Canary("rare_code", SUPPRESSED, "DIAG_4_01", (RARE_CODE,), 3, text_needles(RARE_CODE)),
    Canary(
        "rare_nhs_number_text",
        SUPPRESSED,
        "ADMISORC",
        (NHS_TEXT_RARE,),
        5,
        text_needles(*nhs_spellings(NHS_TEXT_RARE)),
    ),
    Canary(
        "rare_nhs_number_numeric",
        SUPPRESSED,
        "ALCFRAC",
        (float(NHS_NUMERIC_RARE),),
        4,
        number_needles(int(NHS_NUMERIC_RARE)),
    ),
)

UNKNOWN_COLUMN_CANARY = Canary(
    "unknown_column",
    FAIL_CLOSED,
    UNKNOWN_COLUMN,
    (UNKNOWN_COLUMN_TEXT,),
    BLOCKING_COUNT,
    text_needles(UNKNOWN_COLUMN_TEXT),
    new_column=True,
)
FORBIDDEN_COLUMN_CANARY = Canary(
    "forbidden_column",
    FAIL_CLOSED,
    "NHS_NUMBER",
    (NHS_FORBIDDEN_COLUMN,),
    BLOCKING_COUNT,
    text_needles(*nhs_spellings(NHS_FORBIDDEN_COLUMN)),
    new_column=True,
)
FAIL_CLOSED_CANARIES = (UNKNOWN_COLUMN_CANARY, FORBIDDEN_COLUMN_CANARY)
ALL_CANARIES = BLOCKING_CANARIES + SUPPRESSED_CANARIES + FAIL_CLOSED_CANARIES


def needles_of(canaries: tuple[Canary, ...] | list[Canary]) -> dict[bytes, str]:
    """needle -> canary name, for the scanner."""
    found: dict[bytes, str] = {}
    for canary in canaries:
        for needle in canary.needles:
            if needle in found and found[needle] != canary.name:
                raise ValueError(
                    f"needle {needle!r} is shared by {found[needle]} and {canary.name}"
                )
            found[needle] = canary.name
    return found


# ------------------------------------------------------------------------------- planting


@dataclass(frozen=True)
class Planted:
    path: Path
    base_rows: int
    planted_rows: int
    canaries: tuple[str, ...]


def plant(
    home: Path,
    canaries: tuple[Canary, ...] | list[Canary],
    financial_year: str = "2223",
    dataset: str = DATASET,
) -> Planted:
    """Append canary rows to the simulated raw partition ``dataset/financial_year``.

    Each canary row is a copy of a real row (taken round-robin, with a fresh primary key) whose
    canary field is overwritten; nothing else changes. New columns (fail-closed canaries) are
    appended to the schema, null in every row but the planted ones. The partition is written
    back atomically through the scraper's scoped stores, with its ``_SIMULATED`` marker and the
    schema (including its key-value metadata) exactly as it was.
    """
    stores = ScopedStores.for_location(SCRAPER, home, simulated_raw=True)
    folder = stores.partition_path(RAW, dataset, financial_year)
    marker = folder / MARKER_FILE
    if not marker.exists():
        raise RuntimeError(f"{folder} is not a simulated partition (no {MARKER_FILE})")
    base = pq.read_table(sorted(folder.glob("*.parquet")))
    schema = base.schema
    n = base.num_rows
    for canary in canaries:
        if canary.new_column:
            if canary.field in schema.names:
                raise ValueError(f"{canary.field} is already a column")
            continue
        present = set(base.column(canary.field).drop_null().to_pylist())
        clash = present & set(canary.values)
        if clash:
            raise ValueError(
                f"canary {canary.name}: the simulated data already has {canary.field} values "
                f"{sorted(map(str, clash))[:5]}; the planted counts would not be exact"
            )
    planted_rows = sum(c.rows for c in canaries)
    indices = pa.array([i % n for i in range(planted_rows)], type=pa.int64())
    extra = base.take(indices)
    key = base.column("EPIKEY")
    first_key = max(key.to_pylist()) + 1
    columns = {name: extra.column(name) for name in schema.names}
    columns["EPIKEY"] = pa.array(
        range(first_key, first_key + planted_rows), type=schema.field("EPIKEY").type
    )
    new_fields: list[pa.Field] = []
    start = 0
    for canary in canaries:
        values = [v for v in canary.values for _ in range(canary.count)]
        rows = slice(start, start + len(values))
        if canary.new_column:
            new_fields.append(pa.field(canary.field, pa.string()))
            column = [None] * planted_rows
            column[rows] = [str(v) for v in values]
            columns[canary.field] = pa.array(column, type=pa.string())
        else:
            type_ = schema.field(canary.field).type
            columns[canary.field] = _replace(columns[canary.field], rows, values, type_)
        start = rows.stop
    full_schema = schema
    for f in new_fields:
        full_schema = full_schema.append(f)
    base_full = base
    for f in new_fields:
        base_full = base_full.append_column(f, pa.nulls(n, type=f.type))
    extra_table = pa.table([columns[name] for name in full_schema.names], schema=full_schema)
    combined = pa.concat_tables([base_full.cast(full_schema), extra_table])
    marker_text = marker.read_text()

    def writer(target: Path) -> None:
        target.mkdir(parents=True)
        pq.write_table(combined, target / PART_FILE, compression="zstd")
        info = json.loads(marker_text)
        info["files"] = [PART_FILE]
        info["rows"] = combined.num_rows
        info["canaries"] = [c.name for c in canaries]
        (target / MARKER_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    path = stores.write_partition(RAW, dataset, financial_year, writer)
    return Planted(path, n, planted_rows, tuple(c.name for c in canaries))


def _replace(
    column: pa.ChunkedArray, rows: slice, values: list[object], type_: pa.DataType
) -> pa.Array:
    cells = column.to_pylist()
    cells[rows] = values
    return pa.array(cells, type=type_)
