"""Automated disclosure review of suppressed metadata (DESIGN §7).

These checks run as blocking asset checks on every scrape and again at release time. They are
deliberately independent of the scraper's own code: they look only at the metadata that would
cross the boundary, so a scraper bug cannot hide from them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.disclosure import meets_policy, round_half_up
from artificial_data.common.references import new_key, reference
from artificial_data.common.value_domains import ValueDomain

CHECKLIST_VERSION = "2026.12-1"

_NHS_NUMBER = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?) ?(\d[A-Z]{2})\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<!\d)(?:\+44\s?|0)(?:\d\s?){9,10}(?!\d)")
#: Identifier-likeness (DESIGN §7). A field is judged on the values that sit close to the
#: threshold, not on a mean that a few common values can lift: it is flagged when at least
#: ``IDENTIFIER_LIKE_MIN_VALUES`` values are released and at least
#: ``IDENTIFIER_LIKE_NEAR_SHARE`` of them have a weight within one rounding step of the smallest
#: publishable weight (raw counts of about 8-17 under the HES rule), or when the field releases
#: so many values for its records that each stands, on average, for at most
#: ``IDENTIFIER_LIKE_RECORDS_PER_THRESHOLD`` times the threshold.
IDENTIFIER_LIKE_MIN_VALUES = 50
IDENTIFIER_LIKE_NEAR_SHARE = 0.9
IDENTIFIER_LIKE_RECORDS_PER_THRESHOLD = 1.5


@dataclass(frozen=True)
class Finding:
    """One problem found in the metadata. ``blocking`` findings stop the release.

    ``value`` is the offending value itself: it may be identifying, so it is shown only in the
    review pack (admin scope). Everything that reaches Dagster (check results, failure
    messages, logs) uses :meth:`public` instead, which carries the opaque ``reference``.
    ``reason`` never contains the value.
    """

    check: str
    table: str
    field: str
    value: str
    reason: str
    blocking: bool = True
    reference: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def public(self) -> dict[str, object]:
        """What may be shown outside the sensitive and admin scopes."""
        return {k: v for k, v in asdict(self).items() if k != "value"}

    def public_line(self) -> str:
        return f"{self.table}.{self.field} [{self.check}] {self.reference}: {self.reason}"


def is_valid_nhs_number(digits: str) -> bool:
    """Modulus-11 check of a 10-digit NHS number."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _number_text(value: float) -> str:
    """A number as it would be written: whole numbers without a decimal point."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, list | tuple) and len(value) == 0)


def _published_values(rows: pd.DataFrame) -> Iterator[tuple[str, str, str, Any]]:
    """Every value the metadata would publish, of every type: ``(table, field, column, value)``
    with list columns flattened. Weights are counts, not values, and are left out."""
    for r in rows.itertuples(index=False):
        for column in ("VALUE_STRING", "VALUE_NUMERIC", "VALUE_DATE"):
            value = getattr(r, column)
            if _present(value):
                yield r.TABLE_NAME, r.FIELD_NAME, column, value
        for column in ("VALUE_STRING_ARRAY", "VALUE_NUMERIC_ARRAY", "WEIGHT_ARRAY"):
            for value in getattr(r, column) or ():
                if _present(value):
                    yield r.TABLE_NAME, r.FIELD_NAME, column, value


def check_weights(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Every weight meets the threshold and is a multiple of the rounding base; so does the
    null count of an IDENTIFIER_NULLS row (or it is 0)."""
    ok = meets_policy(rows["WEIGHT"].to_numpy(), spec.disclosure)
    nulls = rows[rows["VALUE_TYPE"] == contract.IDENTIFIER_NULLS]
    counts = nulls["VALUE_NUMERIC"].to_numpy(dtype=float)
    counted = np.isfinite(counts) & (counts >= 0)
    bad_nulls = ~(
        counted & ((counts == 0) | meets_policy(np.where(counted, counts, 0), spec.disclosure))
    )
    findings = [
        Finding(
            "weights",
            r.TABLE_NAME,
            r.FIELD_NAME,
            "*",
            f"null count {r.VALUE_NUMERIC:g} breaks the policy (min {spec.disclosure.min_count}, "
            f"rounded to {spec.disclosure.rounding_base})",
        )
        for r, bad in zip(nulls.itertuples(), bad_nulls, strict=True)
        if bad
    ]
    return findings + [
        Finding(
            "weights",
            r.TABLE_NAME,
            r.FIELD_NAME,
            _text_of(r.VALUE_STRING if r.VALUE_STRING is not None else r.VALUE_NUMERIC),
            f"weight {r.WEIGHT:g} breaks the policy (min {spec.disclosure.min_count}, "
            f"rounded to {spec.disclosure.rounding_base})",
        )
        for r in rows.loc[~ok].itertuples()
    ]


def check_fields(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """No forbidden identifier; identifier fields only as RELATIONSHIP rows (the patient key)
    or IDENTIFIER_NULLS rows (two counts, never a value); no derived or unknown fields."""
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
        elif roles[name] == "identifier" and value_type not in (
            contract.RELATIONSHIP,
            contract.IDENTIFIER_NULLS,
        ):
            findings.append(
                Finding(
                    "identifier_values",
                    table,
                    name,
                    "*",
                    f"identifier field published as {value_type}; only RELATIONSHIP or "
                    f"{contract.IDENTIFIER_NULLS} is allowed",
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


def _identifier_shapes(text: str, numeric: bool) -> list[tuple[str, str]]:
    """``(check, reason)`` for each identifier shape found in one value rendered as text.

    Numbers are read as a person would have typed them: a phone number stored as a number has
    lost its leading 0, so 9-10 digit numbers are also tried with it, and ``44...`` as +44.
    """
    found = []
    if any(is_valid_nhs_number("".join(m.groups())) for m in _NHS_NUMBER.finditer(text)):
        found.append(("nhs_number", "looks like an NHS number (passes the modulus-11 check)"))
    if _EMAIL.search(text):
        found.append(("email", "an e-mail address"))
    phone_forms = [text]
    if numeric and text.isdigit():
        if len(text) in (9, 10):
            phone_forms.append("0" + text)
        if len(text) in (11, 12) and text.startswith("44"):
            phone_forms.append("+" + text)
    if any(_PHONE.search(t) for t in phone_forms):
        found.append(("phone_number", "a UK phone number"))
    return found


def check_value_scans(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Scan every published value, of every type, for NHS numbers, e-mails, postcodes and
    phone numbers: text, whole numbers (an NHS number stored as a number), numbers inside
    arrays (quantiles, patterns) and dates rendered as text."""
    org_fields = {f.name for f in spec.fields if f.org_code}
    findings = []
    for table, field_name, column, value in _published_values(rows):
        if column == "WEIGHT_ARRAY":
            continue  # shares and probabilities in [0, 1]
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        text = _text_of(value)
        where = "" if column == "VALUE_STRING" else f" (in {column})"
        hits = _identifier_shapes(text, numeric)
        if not numeric and field_name not in org_fields and _POSTCODE.search(text):
            hits.append(("postcode", "a UK postcode"))
        findings += [
            Finding(check, table, field_name, text, reason + where) for check, reason in hits
        ]
    return findings


def check_identifier_like(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Fields whose released values look like identifiers (after suppression, a value that is
    unique per record or per patient can only survive as one of many values sitting just above
    the threshold). Judged on the share of values close to the threshold, which a few common
    values cannot hide, and on values relative to records. Date fields are left out: a year has
    365 legitimate values whatever the volume."""
    findings = []
    policy = spec.disclosure
    smallest = float(round_half_up(policy.min_count, policy.rounding_base))
    near_limit = smallest + policy.rounding_base
    freq = rows[rows["VALUE_TYPE"].isin([contract.CATEGORICAL, contract.DISCRETE])]
    for (table, name), group in freq.groupby(["TABLE_NAME", "FIELD_NAME"], sort=True):
        values = len(group)
        if values < IDENTIFIER_LIKE_MIN_VALUES:
            continue
        weights = group["WEIGHT"].to_numpy(dtype=float)
        near = int(np.sum(weights <= near_limit))
        per_value = float(np.sum(weights)) / values
        reasons = []
        if near / values >= IDENTIFIER_LIKE_NEAR_SHARE:
            reasons.append(
                f"{near} of {values} released values ({near / values:.0%}) have a weight of at "
                f"most {near_limit:g}, just above the threshold"
            )
        if per_value <= IDENTIFIER_LIKE_RECORDS_PER_THRESHOLD * policy.min_count:
            reasons.append(
                f"{values} values for {np.sum(weights):g} records ({per_value:.1f} each)"
            )
        if reasons:
            findings.append(
                Finding(
                    "identifier_like",
                    table,
                    name,
                    f"{values} values",
                    "looks like an identifier: " + "; ".join(reasons),
                )
            )
    return findings


#: Which value columns each VALUE_TYPE may fill (DESIGN §5); anything else must be empty, so a
#: value cannot ride along in a column that no domain constrains.
_COLUMNS_USED = {
    contract.CATEGORICAL: {"VALUE_STRING"},
    contract.DISCRETE: {"VALUE_NUMERIC"},
    contract.DATE: {"VALUE_STRING", "VALUE_DATE"},
    contract.CONTINUOUS: {"VALUE_NUMERIC", "VALUE_NUMERIC_ARRAY", "WEIGHT_ARRAY"},
    contract.DEMOGRAPHIC_CATEGORICAL: {"VALUE_STRING_ARRAY", "WEIGHT_ARRAY"},
    contract.DEMOGRAPHIC_DATE: {"VALUE_STRING", "VALUE_NUMERIC"},
    contract.RELATIONSHIP: {"VALUE_STRING", "VALUE_NUMERIC", "VALUE_NUMERIC_ARRAY"},
    contract.IDENTIFIER_NULLS: {"VALUE_NUMERIC"},
}
_VALUE_COLUMNS = (
    "VALUE_STRING",
    "VALUE_NUMERIC",
    "VALUE_DATE",
    "VALUE_STRING_ARRAY",
    "VALUE_NUMERIC_ARRAY",
    "WEIGHT_ARRAY",
)


def _outside(domain: ValueDomain, kind: str, values: list[Any]) -> list[Any]:
    allowed = {
        "text": domain.allows_text,
        "number": domain.allows_numbers,
        "date": domain.allows_dates,
    }[kind](values)
    return [v for v, ok in zip(values, allowed, strict=True) if not ok]


def _structural(value_type: str, column: str, value: Any) -> bool:
    """Whether a value in a column the contract reserves for structure (shares, episode
    counts, the top-code marker) is well formed."""
    if column == "WEIGHT_ARRAY" or (
        column == "VALUE_NUMERIC" and value_type in (contract.CONTINUOUS, contract.DEMOGRAPHIC_DATE)
    ):
        return isinstance(value, int | float) and 0.0 <= float(value) <= 1.0
    if value_type == contract.IDENTIFIER_NULLS:  # a count of null records, never a value
        return isinstance(value, int | float) and float(value).is_integer() and value >= 0
    if value_type == contract.RELATIONSHIP:
        if column == "VALUE_STRING":
            return value == contract.TOP_CODED
        return isinstance(value, int | float) and float(value).is_integer() and value >= 1
    return False


def _text_of(value: Any) -> str:
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def check_domains(rows: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Every published value lies inside its field's declared domain (the allowlist), and
    each row fills only the columns its VALUE_TYPE uses. This is what stops values nobody
    anticipated: names, free text, identifiers in a numeric field, impossible dates."""
    fields = {f.name: f for f in spec.fields}
    findings: list[Finding] = []
    for r in rows.itertuples(index=False):
        spec_field = fields.get(r.FIELD_NAME)
        if spec_field is None:
            continue  # reported by check_fields
        if spec.patient_key == r.FIELD_NAME:
            expected = contract.RELATIONSHIP
        elif spec_field.role == "identifier":
            expected = contract.IDENTIFIER_NULLS
        else:
            expected = contract.value_type_of(spec_field) if spec_field.is_scraped else None
        if expected is not None and expected != r.VALUE_TYPE:
            findings.append(
                Finding(
                    "domain",
                    r.TABLE_NAME,
                    r.FIELD_NAME,
                    r.VALUE_TYPE,
                    f"published as {r.VALUE_TYPE}, but the spec makes it {expected}",
                )
            )
            continue
        used = _COLUMNS_USED.get(r.VALUE_TYPE, set())
        for column in _VALUE_COLUMNS:
            content = getattr(r, column)
            values = list(content) if isinstance(content, list | tuple) else [content]
            values = [v for v in values if _present(v)]
            if not values:
                continue
            if column not in used:
                findings += [
                    Finding(
                        "domain",
                        r.TABLE_NAME,
                        r.FIELD_NAME,
                        _text_of(v),
                        f"a value in {column}, which {r.VALUE_TYPE} rows leave empty",
                    )
                    for v in values
                ]
                continue
            domain_column = {
                contract.CATEGORICAL: "VALUE_STRING",
                contract.DISCRETE: "VALUE_NUMERIC",
                contract.DATE: "VALUE_DATE" if spec_field.domain_kind == "date" else "VALUE_STRING",
                contract.CONTINUOUS: "VALUE_NUMERIC_ARRAY",
                contract.DEMOGRAPHIC_CATEGORICAL: "VALUE_STRING_ARRAY",
                contract.DEMOGRAPHIC_DATE: "VALUE_STRING",
            }.get(r.VALUE_TYPE)
            if column == domain_column and spec_field.domain is not None:
                bad = _outside(spec_field.domain, spec_field.domain_kind, values)
                why = f"outside the declared domain ({spec_field.domain.describe()})"
            else:
                bad = [v for v in values if not _structural(r.VALUE_TYPE, column, v)]
                why = f"not a well-formed {column} of a {r.VALUE_TYPE} row"
            findings += [
                Finding("domain", r.TABLE_NAME, r.FIELD_NAME, _text_of(v), why) for v in bad
            ]
    return findings


CHECKS = {
    "weights": check_weights,
    "fields": check_fields,
    "domains": check_domains,
    "value_scans": check_value_scans,
    "identifier_like": check_identifier_like,
}
#: A key for processes that have no store key (tests, ad-hoc use): references are then
#: consistent within the process only.
_PROCESS_KEY = new_key()


def review_metadata(
    rows: pd.DataFrame, spec: DatasetSpec, reference_key: bytes | None = None
) -> dict[str, list[Finding]]:
    """Run every automated check; return the findings per check (empty lists when clean).

    Each finding gets an opaque reference keyed with ``reference_key`` (the deployment's key
    from the sensitive store, so that the review pack and Dagster's check results agree)."""
    rows = contract.normalise(rows)
    key = reference_key or _PROCESS_KEY
    return {
        name: [
            replace(f, reference=reference(key, f.table, f.field, f.value))
            for f in check(rows, spec)
        ]
        for name, check in CHECKS.items()
    }


def blocking_findings(results: dict[str, list[Finding]]) -> list[Finding]:
    return [f for findings in results.values() for f in findings if f.blocking]
