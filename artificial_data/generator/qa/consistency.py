"""Row-level rules the artificial table must meet on 100% of rows (DESIGN §7-§9).

Keys, identifier formats, derived fields, date chains and durations carry no information about
real people, so the generator keeps them exactly and QA accepts no exception. Every rule is a
handful of Arrow/numpy operations over whole columns (no loop over rows), and every failure
names the field and a few offending values.

Age rules allow for MYDOB being only a month and a year: an age is accepted when it is right
for *some* day of birth in that month on or before the reference date, so QA does not depend on
which day the generator assumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.dataset_spec import DatasetSpec, Derivation, FieldSpec
from artificial_data.generator.qa.expected import PLACEHOLDER_DATES

#: HES codes for ages under one year, by age in days: (code, first day, last day).
INFANT_AGE_BANDS = (
    (7001, 0, 0),
    (7002, 1, 6),
    (7003, 7, 28),
    (7004, 29, 90),
    (7005, 91, 181),
    (7006, 182, 272),
    (7007, 273, 366),
)
#: Codes that are not a code of the `count` derivation.
NOT_A_CODE = ("&", "-", "")
#: Tolerance on fractional ages (rounding of the published value, 365 vs 365.25 day years).
AGE_FRACTION_TOLERANCE = 0.01


@dataclass(frozen=True)
class RuleResult:
    """Outcome of one rule on one field (or chain)."""

    rule: str
    subject: str
    checked: int
    failures: int
    examples: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def describe(self) -> str:
        text = f"{self.subject}: {self.failures} of {self.checked} rows break the {self.rule} rule"
        if self.examples:
            text += f" (e.g. {'; '.join(self.examples)})"
        return text


#: Offending rows named per rule.
EXAMPLES = 3


def _examples(
    table: pa.Table, mask: np.ndarray, columns: list[str], limit: int = EXAMPLES, offset: int = 0
) -> list[str]:
    """The first offending rows; ``offset``: the row number of the table's first row (a record
    batch of a larger table)."""
    rows = np.flatnonzero(mask)[:limit]
    out = []
    for i in rows:
        values = ", ".join(f"{c}={table.column(c)[int(i)].as_py()!r}" for c in columns)
        out.append(f"row {offset + int(i)}: {values}")
    return out


def _result(rule, subject, table, bad, checked, columns, offset: int = 0) -> RuleResult:
    bad = np.asarray(bad, dtype=bool)
    examples = _examples(table, bad, columns, offset=offset)
    return RuleResult(rule, subject, int(checked), int(bad.sum()), examples)


def merge_results(first: RuleResult, second: RuleResult) -> RuleResult:
    """One rule's result over two consecutive parts of a table (record batches, in order): the
    counts add up and the examples are the first offending rows of both."""
    if (first.rule, first.subject) != (second.rule, second.subject):
        raise ValueError(f"cannot merge {first.subject} with {second.subject}")
    return RuleResult(
        first.rule,
        first.subject,
        first.checked + second.checked,
        first.failures + second.failures,
        (first.examples + second.examples)[:EXAMPLES],
    )


def _np(array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _null(array) -> np.ndarray:
    return _np(pc.is_null(array))


def differs(expected, actual) -> np.ndarray:
    """Rows where two columns differ, null equal to null and to nothing else."""
    equal = _np(pc.fill_null(pc.equal(expected, actual), False))
    both_null = _null(expected) & _null(actual)
    return ~(equal | both_null)


# ----------------------------------------------------------------------------- keys, IDs


def primary_key(table: pa.Table, spec: DatasetSpec) -> RuleResult:
    """The primary key is never null and never repeated."""
    key = table.column(spec.primary_key)
    nulls = key.null_count
    counts = key.drop_null().value_counts()
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    examples = [f"{spec.primary_key}={v!r} repeated" for v in repeated.to_pylist()[:3]]
    if nulls:
        examples.insert(0, f"{nulls} null {spec.primary_key}")
    duplicates = len(key) - nulls - len(counts)
    return RuleResult(
        "unique non-null key", spec.primary_key, len(key), nulls + duplicates, examples
    )


def identifier_pattern(f: FieldSpec) -> str:
    ident = f.identifier
    body = ident.length - len(ident.prefix)
    chars = "[0-9]" if ident.format == "digits" else "[A-Za-z0-9]"
    first = "[1-9]" if ident.format == "digits" and not ident.prefix else chars
    if body <= 0:
        return f"^{ident.prefix}$"
    return f"^{ident.prefix}{first}{chars}{{{body - 1}}}$"


def identifier_format(table: pa.Table, f: FieldSpec, required: bool, offset: int = 0) -> RuleResult:
    """Identifier values have the spec's shape (e.g. PSEUDO_HESID = 'TEST' + 28 alphanumerics;
    a 12-digit key is a number of exactly 12 digits). Null is allowed unless ``required``."""
    column = table.column(f.name)
    text = pc.cast(column, pa.string())
    ok = _np(pc.fill_null(pc.match_substring_regex(text, identifier_pattern(f)), not required))
    return _result("identifier format", f.name, table, ~ok, len(column), [f.name], offset)


# ------------------------------------------------------------------------------ derived


def _blank_to_null(array):
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def _check_truncate(table, name, d: Derivation):
    expected = pc.utf8_slice_codeunits(pc.cast(table.column(d.source), pa.string()), 0, d.length)
    return differs(expected, table.column(name)), [name, d.source]


def _check_concat(table, name, d: Derivation):
    sources = [_blank_to_null(pc.cast(table.column(s), pa.string())) for s in d.sources]
    # null_handling="skip" drops rows in pyarrow 26, so join with '' and collapse the commas
    # (HES codes never contain a comma).
    joined = pc.binary_join_element_wise(
        *sources, ",", null_handling="replace", null_replacement=""
    )
    joined = pc.utf8_trim(pc.replace_substring_regex(joined, ",{2,}", ","), ",")
    expected = _blank_to_null(joined)
    actual = _blank_to_null(pc.cast(table.column(name), pa.string()))
    return differs(expected, actual), [name, *d.sources[:3]]


def _check_count(table, name, d: Derivation):
    total = np.zeros(table.num_rows, dtype=np.int64)
    for s in d.sources:
        col = pc.cast(table.column(s), pa.string())
        real = _np(pc.fill_null(pc.invert(pc.is_in(col, pa.array(NOT_A_CODE))), False))
        total += (real & ~_null(col)).astype(np.int64)
    actual = table.column(name)
    values = _np(pc.fill_null(pc.cast(actual, pa.int64()), -1))
    return (values != total) | _null(actual), [name, *d.sources[:3]]


def _birth_month_bounds(table, birth: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last day of the MYDOB month (datetime64[D]) and where MYDOB is valid."""
    text = pc.cast(table.column(birth), pa.string())
    valid = pc.fill_null(pc.match_substring_regex(text, r"^(0[1-9]|1[0-2])[0-9]{4}$"), False)
    text = pc.if_else(valid, text, pa.scalar("011900"))
    month = _np(pc.cast(pc.utf8_slice_codeunits(text, 0, 2), pa.int64()))
    year = _np(pc.cast(pc.utf8_slice_codeunits(text, 2, 6), pa.int64()))
    first = ((year - 1970) * 12 + month - 1).astype("datetime64[M]").astype("datetime64[D]")
    last = (first.astype("datetime64[M]") + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    return first, last, _np(valid)


def _dates(table, name) -> tuple[np.ndarray, np.ndarray]:
    """Dates as datetime64[D] and where they are real (not null, not a HES placeholder)."""
    column = table.column(name)
    real = ~_null(column) & ~_np(
        pc.fill_null(pc.is_in(column, pa.array(PLACEHOLDER_DATES, pa.date32())), False)
    )
    days = _np(pc.fill_null(pc.cast(column, pa.int32()), 0)).astype("datetime64[D]")
    return days, real


def _whole_years(birth: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Completed years from ``birth`` to ``at`` (both datetime64[D])."""
    by, bm, bd = _ymd(birth)
    ay, am, ad = _ymd(at)
    return ay - by - ((am < bm) | ((am == bm) & (ad < bd))).astype(np.int64)


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    months = days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _age_rank(days: np.ndarray, years: np.ndarray, cap: int | None) -> np.ndarray:
    """Order of HES age codes: infant bands 0..6, then 6 + whole years (capped)."""
    rank = np.zeros(len(days), dtype=np.int64)
    for i, (_, lo, _) in enumerate(INFANT_AGE_BANDS):
        rank = np.where(days >= lo, i, rank)
    capped = np.minimum(years, cap) if cap is not None else years
    return np.where(years >= 1, 6 + capped, rank)


def _code_rank(codes: np.ndarray) -> np.ndarray:
    infant = (codes >= 7001) & (codes <= 7007)
    return np.where(infant, codes - 7001, np.where(codes >= 1, 6 + codes, -100))


def _check_age_years(table, name, d: Derivation):
    first, last, birth_ok = _birth_month_bounds(table, d.birth)
    at, at_ok = _dates(table, d.at)
    possible = birth_ok & at_ok & (first <= at)
    youngest = np.minimum(last, at)  # latest birth day still on or before `at`
    lo = _age_rank((at - youngest).astype(np.int64), _whole_years(youngest, at), d.cap)
    hi = _age_rank((at - first).astype(np.int64), _whole_years(first, at), d.cap)
    actual = table.column(name)
    is_null = _null(actual)
    rank = _code_rank(_np(pc.fill_null(pc.cast(actual, pa.int64()), -1)))
    bad = np.where(possible, is_null | (rank < lo) | (rank > hi), ~is_null)
    return bad, [name, d.birth, d.at]


def _check_age_fraction(table, name, d: Derivation):
    first, last, birth_ok = _birth_month_bounds(table, d.birth)
    at, at_ok = _dates(table, d.at)
    possible = birth_ok & at_ok & (first <= at)
    youngest = np.minimum(last, at)
    lo = (at - youngest).astype(np.int64) / 366.0 - AGE_FRACTION_TOLERANCE
    hi = (at - first).astype(np.int64) / 365.0 + AGE_FRACTION_TOLERANCE
    if d.cap is not None:
        lo, hi = np.minimum(lo, d.cap), np.minimum(hi, d.cap + AGE_FRACTION_TOLERANCE)
    actual = table.column(name)
    is_null = _null(actual)
    value = _np(pc.fill_null(pc.cast(actual, pa.float64()), np.nan)).astype(float)
    bad = np.where(possible, is_null | ~((value >= lo) & (value <= hi)), ~is_null)
    return bad, [name, d.birth, d.at]


def _check_age_fraction_from_code(table, name, d: Derivation):
    source = table.column(d.source)
    src_null = _null(source)
    code = _np(pc.fill_null(pc.cast(source, pa.float64()), np.nan)).astype(float)
    actual = table.column(name)
    is_null = _null(actual)
    value = _np(pc.fill_null(pc.cast(actual, pa.float64()), np.nan)).astype(float)
    lo = np.full(len(code), np.nan)
    hi = np.full(len(code), np.nan)
    years = (code >= 0) & (code <= 150)
    lo = np.where(years, code, lo)
    hi = np.where(years, code + 1 - 1e-9, hi)
    for band, first, last in INFANT_AGE_BANDS:
        here = code == band
        lo = np.where(here, first / 366.0 - AGE_FRACTION_TOLERANCE, lo)
        hi = np.where(here, min((last + 1) / 365.0, 1.0) + AGE_FRACTION_TOLERANCE, hi)
    known = ~np.isnan(lo)
    in_range = (value >= lo) & (value <= hi)
    bad = np.where(
        src_null,
        ~is_null,
        # a code that is not an age (e.g. 'not known') may stay null or be copied as it is
        np.where(known, is_null | ~in_range, ~(is_null | (value == code))),
    )
    return bad, [name, d.source]


_DERIVATION_CHECKS = {
    "truncate": _check_truncate,
    "concat": _check_concat,
    "count": _check_count,
    "age_years": _check_age_years,
    "age_fraction": _check_age_fraction,
    "age_fraction_from_code": _check_age_fraction_from_code,
}


def derived_field(table: pa.Table, f: FieldSpec, offset: int = 0) -> RuleResult:
    """The derived field equals its derivation from the other fields of the same row."""
    bad, columns = _DERIVATION_CHECKS[f.derivation.kind](table, f.name, f.derivation)
    rule = f"derivation '{f.derivation.kind}'"
    return _result(rule, f.name, table, bad, table.num_rows, columns, offset)


# ----------------------------------------------------------------------- dates, durations


def date_chain(table: pa.Table, chain: tuple[str, ...], offset: int = 0) -> RuleResult:
    """Real dates of the chain never go backwards (nulls and placeholders are skipped)."""
    bad = np.zeros(table.num_rows, dtype=bool)
    latest = np.full(table.num_rows, np.datetime64("NaT"), dtype="datetime64[D]")
    for name in chain:
        days, real = _dates(table, name)
        seen = ~np.isnat(latest)
        bad |= real & seen & (days < np.where(seen, latest, days))
        latest = np.where(real & (~seen | (days > latest)), days, latest)
    subject = " <= ".join(chain)
    return _result("date order", subject, table, bad, table.num_rows, list(chain), offset)


def duration(table: pa.Table, field_name: str, start: str, end: str, offset: int = 0) -> RuleResult:
    """Where both dates are real, the duration is the number of days between them."""
    s, s_real = _dates(table, start)
    e, e_real = _dates(table, end)
    both = s_real & e_real
    actual = table.column(field_name)
    value = _np(pc.fill_null(pc.cast(actual, pa.float64()), np.nan)).astype(float)
    days = (e - s).astype(np.int64).astype(float)
    bad = both & ~(value == days)
    return _result(
        f"duration = {end} - {start}",
        field_name,
        table,
        bad,
        int(both.sum()),
        [field_name, start, end],
        offset,
    )
