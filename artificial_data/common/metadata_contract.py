"""The metadata contract (DESIGN §5): the only thing that crosses the sensitive boundary.

A long table with one row per (table, field, value) or per distribution, plus a header. The
same pandera schema validates it when the scraper writes it and when the review and generator
read it, and the content hash is computed over a canonical ordering so that identical metadata
always hashes identically (the sign-off is bound to that hash).

How each VALUE_TYPE is encoded (one convention for the scraper, review, generator and QA):

``CATEGORICAL``  string-typed ``categorical`` fields; one row per value.
    VALUE_STRING = the value (None = null, which is a value like any other); WEIGHT = count.
``DISCRETE``  numeric-typed ``categorical``/``discrete`` fields; one row per value.
    VALUE_NUMERIC = the value (NaN = null); WEIGHT = count.
``DATE``  ``date`` fields; one row per value. VALUE_DATE = the date for date-typed fields,
    VALUE_STRING = the text for string-typed date fields (None/NaT = null); WEIGHT = count.
``CONTINUOUS``  ``continuous`` fields; one row per field. VALUE_NUMERIC_ARRAY = quantile values
    (ascending), WEIGHT_ARRAY = their cumulative probabilities (ascending, within (0, 1); the
    finest grid may carry extra outer points such as 0.005 and 0.995),
    VALUE_NUMERIC = share of nulls (0..1), WEIGHT = non-null count. Never a min or a max.
    ``time_of_day`` fields (HHMM text) are summarised as minutes after midnight.
``DEMOGRAPHIC_CATEGORICAL``  ``patient_categorical`` fields (SEX, ETHNOS); one row per pattern
    of values across a patient's episodes. VALUE_STRING_ARRAY = the distinct values, sorted
    (None = null), WEIGHT_ARRAY = the share of the patient's episodes with each value, rounded
    to 1 decimal; WEIGHT = number of patients with that pattern.
``DEMOGRAPHIC_DATE``  ``patient_date`` fields (MYDOB); one row per (modal value, agreement).
    VALUE_STRING = the patient's modal value, VALUE_NUMERIC = share of the patient's episodes
    that agree with it, rounded to 2 decimals; WEIGHT = number of patients.
``RELATIONSHIP``  FIELD_NAME = the patient key; one row per number of episodes per patient.
    VALUE_NUMERIC = episodes per patient, WEIGHT = number of patients. Rare counts are pooled
    into bands published at their rounded mean count, and rare high counts into one top-coded
    row: VALUE_STRING = ``TOP_CODED``, VALUE_NUMERIC = the smallest
    count in the pool, VALUE_NUMERIC_ARRAY = [smallest, representative (rounded mean)].

``IDENTIFIER_NULLS``  identifier fields other than the record and patient keys (a linked key
    such as AE's EPIKEY, filled only where the attendance led to an admission); one row per
    field carrying two counts and never a value: VALUE_NUMERIC = number of null records,
    WEIGHT = number of filled records, both under the disclosure policy.

Every WEIGHT is a count after the disclosure policy: raw counts below the threshold are gone,
the rest are rounded half-up to the rounding base.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

from artificial_data.common.dataset_spec import FieldSpec

SCHEMA_VERSION = 1

COLUMNS = [
    "TABLE_NAME",
    "FIELD_NAME",
    "VALUE_TYPE",
    "VALUE_STRING",
    "VALUE_NUMERIC",
    "VALUE_DATE",
    "VALUE_STRING_ARRAY",
    "VALUE_NUMERIC_ARRAY",
    "WEIGHT",
    "WEIGHT_ARRAY",
]

CATEGORICAL = "CATEGORICAL"
DISCRETE = "DISCRETE"
DATE = "DATE"
CONTINUOUS = "CONTINUOUS"
DEMOGRAPHIC_CATEGORICAL = "DEMOGRAPHIC_CATEGORICAL"
DEMOGRAPHIC_DATE = "DEMOGRAPHIC_DATE"
RELATIONSHIP = "RELATIONSHIP"
IDENTIFIER_NULLS = "IDENTIFIER_NULLS"
VALUE_TYPES = (
    CATEGORICAL,
    DISCRETE,
    DATE,
    CONTINUOUS,
    DEMOGRAPHIC_CATEGORICAL,
    DEMOGRAPHIC_DATE,
    RELATIONSHIP,
    IDENTIFIER_NULLS,
)
#: Marks the pooled top-coded bucket of the episodes-per-patient distribution.
TOP_CODED = "TOP_CODED"

ARROW_SCHEMA = pa_arrow.schema(
    [
        ("TABLE_NAME", pa_arrow.string()),
        ("FIELD_NAME", pa_arrow.string()),
        ("VALUE_TYPE", pa_arrow.string()),
        ("VALUE_STRING", pa_arrow.string()),
        ("VALUE_NUMERIC", pa_arrow.float64()),
        ("VALUE_DATE", pa_arrow.date32()),
        ("VALUE_STRING_ARRAY", pa_arrow.list_(pa_arrow.string())),
        ("VALUE_NUMERIC_ARRAY", pa_arrow.list_(pa_arrow.float64())),
        ("WEIGHT", pa_arrow.float64()),
        ("WEIGHT_ARRAY", pa_arrow.list_(pa_arrow.float64())),
    ]
)


def value_type_of(field: FieldSpec) -> str:
    """The VALUE_TYPE a scraped field is summarised as (see the module docstring)."""
    if field.role == "categorical":
        return DISCRETE if field.is_numeric else CATEGORICAL
    return {
        "discrete": DISCRETE,
        "date": DATE,
        "continuous": CONTINUOUS,
        "patient_categorical": DEMOGRAPHIC_CATEGORICAL,
        "patient_date": DEMOGRAPHIC_DATE,
    }[field.role]


class MetadataContractError(ValueError):
    """Metadata does not satisfy the contract. The message names the table, field and value."""


@dataclass(frozen=True)
class MetadataHeader:
    """What a reader needs to know about how a metadata table was produced."""

    dataset: str
    table_name: str
    financial_year: str
    spec_version: int
    policy: dict[str, Any]
    source_rows_rounded: int
    scraped_at: str = field(default_factory=lambda: datetime.now().astimezone().isoformat())
    schema_version: int = SCHEMA_VERSION
    simulated_source: bool = False
    #: Scraped fields (and the patient key) with no row left after suppression, in schema
    #: order: the reader can tell "fully suppressed" from "missing".
    suppressed_fields: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["suppressed_fields"] = list(self.suppressed_fields)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetadataHeader:
        data = dict(data)
        data["suppressed_fields"] = tuple(data.get("suppressed_fields") or ())
        return cls(**data)

    def hashed_part(self) -> dict[str, Any]:
        """The header content the hash covers: everything but the time of the scrape.

        An empty ``suppressed_fields`` is left out, so metadata written before the list existed
        keeps its hash.
        """
        data = self.as_dict()
        data.pop("scraped_at")
        if not data["suppressed_fields"]:
            data.pop("suppressed_fields")
        return data


def _value_columns_check(df: pd.DataFrame) -> pd.Series:
    """Each VALUE_TYPE carries its value in the columns the contract assigns it."""
    vt = df["VALUE_TYPE"]
    ok = pd.Series(True, index=df.index)
    has_array = df["VALUE_NUMERIC_ARRAY"].map(lambda v: v is not None and len(v) > 0)
    ok &= ~(vt.eq(CONTINUOUS) & ~has_array)
    ok &= ~(vt.eq(RELATIONSHIP) & df["VALUE_NUMERIC"].isna())
    ok &= ~(vt.eq(DEMOGRAPHIC_CATEGORICAL) & df["VALUE_STRING_ARRAY"].map(lambda v: v is None))
    ok &= ~(vt.eq(DISCRETE) & df["VALUE_STRING"].notna())
    ok &= ~(vt.eq(CATEGORICAL) & df["VALUE_NUMERIC"].notna())
    ok &= ~(vt.eq(IDENTIFIER_NULLS) & df["VALUE_NUMERIC"].isna())
    return ok


CONTRACT_SCHEMA = pa.DataFrameSchema(
    {
        "TABLE_NAME": pa.Column(str, nullable=False),
        "FIELD_NAME": pa.Column(str, nullable=False, checks=pa.Check.str_matches(r"^[A-Z0-9_]+$")),
        "VALUE_TYPE": pa.Column(str, checks=pa.Check.isin(VALUE_TYPES), nullable=False),
        "VALUE_STRING": pa.Column(object, nullable=True),
        "VALUE_NUMERIC": pa.Column(float, nullable=True),
        "VALUE_DATE": pa.Column(object, nullable=True),
        "VALUE_STRING_ARRAY": pa.Column(object, nullable=True),
        "VALUE_NUMERIC_ARRAY": pa.Column(object, nullable=True),
        "WEIGHT": pa.Column(float, checks=pa.Check.ge(0), nullable=False),
        "WEIGHT_ARRAY": pa.Column(object, nullable=True),
    },
    checks=[pa.Check(_value_columns_check, error="value columns do not match VALUE_TYPE")],
    strict=True,
    ordered=True,
    name="hes_metadata_contract",
)


def empty_metadata() -> pd.DataFrame:
    return normalise(pd.DataFrame({c: [] for c in COLUMNS}))


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the contract's columns, order and dtypes."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise MetadataContractError(f"metadata is missing columns {missing}")
    out = df[COLUMNS].copy()
    out["VALUE_NUMERIC"] = pd.to_numeric(out["VALUE_NUMERIC"], errors="raise").astype(float)
    out["WEIGHT"] = pd.to_numeric(out["WEIGHT"], errors="raise").astype(float)
    for col in ("TABLE_NAME", "FIELD_NAME", "VALUE_TYPE"):
        out[col] = out[col].astype(object)
    out["VALUE_STRING"] = (
        out["VALUE_STRING"].astype(object).where(out["VALUE_STRING"].notna(), None)
    )
    out["VALUE_DATE"] = out["VALUE_DATE"].map(_as_date).astype(object)
    for col in ("VALUE_STRING_ARRAY", "VALUE_NUMERIC_ARRAY", "WEIGHT_ARRAY"):
        out[col] = out[col].map(_as_list).astype(object)
    return out.reset_index(drop=True)


def _as_date(value: Any) -> date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _as_list(value: Any) -> list | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.tolist() if hasattr(value, "tolist") else list(value)


def validate(df: pd.DataFrame, table_name: str | None = None) -> pd.DataFrame:
    """Validate ``df`` against the contract; raise :class:`MetadataContractError` naming rows."""
    df = normalise(df)
    try:
        CONTRACT_SCHEMA.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(10)
        details = []
        for _, case in cases.iterrows():
            idx = case.get("index")
            row = df.loc[idx] if idx is not None and idx in df.index else None
            # Metadata can still be sensitive here (before review): name the row and the rule,
            # never the value, since the message may reach Dagster's shared run history.
            where = (
                f"{row['TABLE_NAME']}.{row['FIELD_NAME']} ({row['VALUE_TYPE']}, row {idx})"
                if row is not None
                else "table"
            )
            details.append(f"{where}: {case['check']} (column {case['column']})")
        raise MetadataContractError(
            "metadata breaks the contract:\n  " + "\n  ".join(details)
        ) from exc
    if table_name is not None:
        wrong = sorted(set(df["TABLE_NAME"]) - {table_name})
        if wrong:
            raise MetadataContractError(f"metadata for {table_name} holds rows of tables {wrong}")
    return df


def _canonical_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):  # includes numpy.float64, whose repr differs from float's
        return None if math.isnan(value) else repr(float(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    if hasattr(value, "tolist"):
        return _canonical_value(value.tolist())
    if isinstance(value, int):
        return repr(float(value))
    return str(value)


def canonical_records(df: pd.DataFrame) -> list[list[Any]]:
    """The rows as JSON-able lists, sorted so that row order never changes the hash."""
    df = normalise(df)
    records = [[_canonical_value(v) for v in row] for row in df.itertuples(index=False)]
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def content_hash(df: pd.DataFrame, header: MetadataHeader) -> str:
    """SHA-256 of the canonical rows and the hashed part of the header."""
    payload = json.dumps(
        {"header": header.hashed_part(), "rows": canonical_records(df)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def to_arrow(df: pd.DataFrame) -> pa_arrow.Table:
    return pa_arrow.Table.from_pandas(normalise(df), schema=ARROW_SCHEMA, preserve_index=False)


def from_arrow(table: pa_arrow.Table) -> pd.DataFrame:
    df = table.to_pandas(types_mapper=None, date_as_object=True)
    return normalise(df)
