"""Automated disclosure review of suppressed metadata (DESIGN §7).

These checks run as blocking asset checks on every scrape and again at release time. They are
deliberately independent of the scraper's own code: they look only at the metadata that would
cross the boundary, so a scraper bug cannot hide from them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.disclosure import meets_policy

CHECKLIST_VERSION = "2026.11-1"

_NHS_NUMBER = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?) ?(\d[A-Z]{2})\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<!\d)(?:\+44\s?|0)(?:\d\s?){9,10}(?!\d)")
#: A field whose published values stand, on average, for at most this multiple of the
#: suppression threshold looks like an identifier.
IDENTIFIER_LIKE_RECORDS_PER_THRESHOLD = 1.5
IDENTIFIER_LIKE_MIN_VALUES = 50


@dataclass(frozen=True)
class Finding:
    """One problem found in the metadata. ``blocking`` findings stop the release."""

    check: str
    table: str
    field: str
    value: str
    reason: str
    blocking: bool = True

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def is_valid_nhs_number(digits: str) -> bool:
    """Modulus-11 check of a 10-digit NHS number."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _text_values(rows: pd.DataFrame) -> pd.DataFrame:
    """Every text that the metadata would publish, with the row it stands in."""
    texts = rows[["TABLE_NAME", "FIELD_NAME", "VALUE_STRING"]].dropna(subset=["VALUE_STRING"])
    arrays = rows.dropna(subset=["VALUE_STRING_ARRAY"])
    exploded = arrays[["TABLE_NAME", "FIELD_NAME", "VALUE_STRING_ARRAY"]].explode(
        "VALUE_STRING_ARRAY"
    )
    exploded = exploded.rename(columns={"VALUE_STRING_ARRAY": "VALUE_STRING"}).dropna()
    return pd.concat([texts, exploded], ignore_index=True)


def check_weights(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Every weight meets the threshold and is a multiple of the rounding base."""
    ok = meets_policy(rows["WEIGHT"].to_numpy(), spec.disclosure)
    return [
        Finding(
            "weights",
            r.TABLE_NAME,
            r.FIELD_NAME,
            str(r.VALUE_STRING if r.VALUE_STRING is not None else r.VALUE_NUMERIC),
            f"weight {r.WEIGHT:g} breaks the policy (min {spec.disclosure.min_count}, "
            f"rounded to {spec.disclosure.rounding_base})",
        )
        for r in rows.loc[~ok].itertuples()
    ]


def check_fields(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """No forbidden identifier; identifier fields only as RELATIONSHIP rows; no derived or
    unknown fields."""
    findings = []
    forbidden = set(spec.forbidden_identifiers)
    roles = {f.name: f.role for f in spec.fields}
    for (table, name, value_type), _ in rows.groupby(
        ["TABLE_NAME", "FIELD_NAME", "VALUE_TYPE"], sort=True
    ):
        if name in forbidden:
            findings.append(
                Finding("forbidden_identifier", table, name, "*", "forbidden identifier field")
            )
        elif name not in roles:
            findings.append(Finding("unknown_field", table, name, "*", "field not in the spec"))
        elif roles[name] == "identifier" and value_type != contract.RELATIONSHIP:
            findings.append(
                Finding(
                    "identifier_values",
                    table,
                    name,
                    "*",
                    f"identifier field published as {value_type}; only RELATIONSHIP is allowed",
                )
            )
        elif value_type == contract.RELATIONSHIP and name != spec.patient_key:
            findings.append(
                Finding(
                    "relationship_key",
                    table,
                    name,
                    "*",
                    f"RELATIONSHIP rows must use the patient key {spec.patient_key}",
                )
            )
        elif roles[name] == "derived":
            findings.append(
                Finding("derived_field", table, name, "*", "derived fields are never published")
            )
    return findings


def check_value_scans(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Scan published text for NHS numbers, e-mails, postcodes and phone numbers."""
    org_fields = {f.name for f in spec.fields if f.org_code}
    findings = []
    for r in _text_values(rows).itertuples():
        text = str(r.VALUE_STRING)
        for m in _NHS_NUMBER.finditer(text):
            if is_valid_nhs_number("".join(m.groups())):
                findings.append(
                    Finding(
                        "nhs_number",
                        r.TABLE_NAME,
                        r.FIELD_NAME,
                        text,
                        "looks like an NHS number (passes the modulus-11 check)",
                    )
                )
        if _EMAIL.search(text):
            findings.append(Finding("email", r.TABLE_NAME, r.FIELD_NAME, text, "an e-mail address"))
        if r.FIELD_NAME not in org_fields and _POSTCODE.search(text):
            findings.append(Finding("postcode", r.TABLE_NAME, r.FIELD_NAME, text, "a UK postcode"))
        if _PHONE.search(text):
            findings.append(
                Finding("phone_number", r.TABLE_NAME, r.FIELD_NAME, text, "a UK phone number")
            )
    return findings


def check_identifier_like(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Fields with many values that each stand for barely more than the suppression threshold
    look like identifiers (after suppression, a unique-per-record field can only show up this
    way). Date fields are left out: a year has 365 legitimate values whatever the volume."""
    findings = []
    freq = rows[rows["VALUE_TYPE"].isin([contract.CATEGORICAL, contract.DISCRETE])]
    for (table, name), group in freq.groupby(["TABLE_NAME", "FIELD_NAME"], sort=True):
        values = len(group)
        if values < IDENTIFIER_LIKE_MIN_VALUES:
            continue
        per_value = float(np.sum(group["WEIGHT"])) / values
        if per_value <= IDENTIFIER_LIKE_RECORDS_PER_THRESHOLD * spec.disclosure.min_count:
            findings.append(
                Finding(
                    "identifier_like",
                    table,
                    name,
                    f"{values} values",
                    f"{per_value:.1f} records per value: looks like an identifier",
                )
            )
    return findings


CHECKS = {
    "weights": check_weights,
    "fields": check_fields,
    "value_scans": check_value_scans,
    "identifier_like": check_identifier_like,
}


def review_metadata(rows: pd.DataFrame, spec: DatasetSpec) -> dict[str, list[Finding]]:
    """Run every automated check; return the findings per check (empty lists when clean)."""
    rows = contract.normalise(rows)
    return {name: check(rows, spec) for name, check in CHECKS.items()}


def blocking_findings(results: dict[str, list[Finding]]) -> list[Finding]:
    return [f for findings in results.values() for f in findings if f.blocking]
