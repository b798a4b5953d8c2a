"""Derived fields and durations, computed from the spec (DESIGN §3, §8).

Raw HES carries its derived fields (DIAG_3_01, DIAG_4_CONCAT, DIAG_COUNT, STARTAGE, ...), so
the stand-in must too, and they must agree with their sources exactly as the spec declares.
Conventions (documented in docs/simulator.md):

* ``truncate``: first ``length`` characters (``&`` stays ``&``).
* ``concat``: the non-null codes joined with commas, in position order; null if none.
* ``count``: codes that are neither null nor ``&``/``-``.
* ``age_years``: whole years from the first day of the MYDOB month to ``at``; under one year
  the HES infant codes 7001 (<1 day), 7002 (1-6 days), 7003 (7-28), 7004 (29-90), 7005
  (91-182), 7006 (183-273), 7007 (274+); capped at ``cap``; null if either input is missing.
* ``age_fraction``: completed years from the first day of the MYDOB month to ``at`` plus the
  elapsed share of the current year of age, floored to three decimals, capped (so its floor
  is always the whole-year age).
* ``age_fraction_from_code``: the middle of the age interval a code stands for (the simulator's
  own datasets put the exact age there instead; it always lies inside the code's interval).
* durations: ``end - start`` in days where both dates are real (not null, not a 1800/1801
  placeholder), else null.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.arrow_buffers import masked_array
from artificial_data.common.codes import concat_codes, count_codes, truncate_codes
from artificial_data.common.dataset_spec import DatasetSpec, Derivation
from artificial_data.common.schema import arrow_type
from artificial_data.simulator import arrays as A

INFANT_CODES = np.arange(7001, 7008)
#: Lower bounds in days of the infant codes 7001..7007.
INFANT_DAY_BOUNDS = np.array([0, 1, 7, 29, 91, 183, 274])
_INFANT_MIDPOINTS = np.array([0.5, 3.5, 17.5, 59.5, 136.5, 228, 319.5]) / 365.25


def age_codes(days: np.ndarray, years: np.ndarray, cap: int = 120) -> np.ndarray:
    """HES age codes: whole years, or 7001-7007 for infants by age in days."""
    infant = INFANT_CODES[np.searchsorted(INFANT_DAY_BOUNDS, days, side="right") - 1]
    return np.where(years >= 1, np.minimum(years, cap), infant)


def whole_years(birth: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Completed years between two day numbers (birthday rule, day of month respected)."""
    b = np.asarray(birth, dtype=np.int64).astype("datetime64[D]")
    a = np.asarray(at, dtype=np.int64).astype("datetime64[D]")
    years = a.astype("datetime64[Y]").astype(np.int64) - b.astype("datetime64[Y]").astype(np.int64)
    b_month = b.astype("datetime64[M]").astype(np.int64) % 12
    a_month = a.astype("datetime64[M]").astype(np.int64) % 12
    b_dom = (b - b.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    a_dom = (a - a.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    before = (a_month < b_month) | ((a_month == b_month) & (a_dom < b_dom))
    return years - before.astype(np.int64)


def fractional_years(birth: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Completed years plus the elapsed share of the current year of age.

    Unlike ``days / 365.25`` this always floors to the completed years, so a fractional age
    and its whole-year age code never disagree around a birthday.
    """
    birth = np.asarray(birth, dtype=np.int64)
    at = np.asarray(at, dtype=np.int64)
    years = whole_years(birth, at)
    b = birth.astype("datetime64[D]")
    b_month = b.astype("datetime64[M]").astype(np.int64)
    b_dom = (b - b.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)

    def birthday(k: np.ndarray) -> np.ndarray:
        month = (b_month + 12 * k).astype("datetime64[M]").astype("datetime64[D]")
        return month.astype(np.int64) + b_dom

    last, following = birthday(years), birthday(years + 1)
    share = (at - last) / np.maximum(following - last, 1)
    return years + np.clip(share, 0.0, 0.999)


def floor3(x: np.ndarray) -> np.ndarray:
    return np.floor(x * 1000.0) / 1000.0


def mydob_to_days(mydob: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(first day of the month in days, is-missing mask) from ``MMYYYY`` text."""
    valid = pc.and_(pc.is_valid(mydob), pc.match_substring_regex(mydob, r"^(0[1-9]|1[0-2])\d{4}$"))
    valid = valid.fill_null(False).to_numpy(zero_copy_only=False)
    text = pc.if_else(pa.array(valid), mydob, pa.scalar("011970"))
    month = pc.cast(pc.utf8_slice_codeunits(text, 0, 2), pa.int64()).to_numpy()
    year = pc.cast(pc.utf8_slice_codeunits(text, 2, 6), pa.int64()).to_numpy()
    return A.month_start(year, month), ~valid


def _date_days(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970, is-not-a-real-date mask) of a date32 array."""
    missing = pc.is_null(arr).to_numpy(zero_copy_only=False)
    days = pc.cast(arr.fill_null(0), pa.int32()).to_numpy().astype(np.int64)
    return days, missing | (days < A.REAL_DATE_FLOOR)


def derive_field(cols: dict[str, pa.Array], d: Derivation, n: int) -> pa.Array:
    """Compute one derived field from already-present columns."""
    if d.kind == "truncate":
        return truncate_codes(cols[d.source], d.length)
    if d.kind == "concat":
        return concat_codes([cols[s] for s in d.sources], n)
    if d.kind == "count":
        return count_codes([cols[s] for s in d.sources], n)
    if d.kind in ("age_years", "age_fraction"):
        birth, no_birth = mydob_to_days(cols[d.birth])
        at, no_at = _date_days(cols[d.at])
        days = at - birth
        missing = no_birth | no_at | (days < 0)
        cap = d.cap or 120
        if d.kind == "age_years":
            years = whole_years(birth, at)
            return masked_array(age_codes(np.maximum(days, 0), years, cap), missing)
        fraction = fractional_years(birth, np.maximum(at, birth))
        return masked_array(np.minimum(floor3(fraction), cap), missing)
    if d.kind == "age_fraction_from_code":
        code = pc.cast(cols[d.source], pa.int64())
        missing = pc.is_null(code).to_numpy(zero_copy_only=False)
        c = code.fill_null(0).to_numpy()
        infant = (c >= 7001) & (c <= 7007)
        value = np.where(infant, _INFANT_MIDPOINTS[np.clip(c - 7001, 0, 6)], c + 0.5)
        return masked_array(floor3(value), missing | ((c > 200) & ~infant))
    raise ValueError(f"unknown derivation kind {d.kind!r}")


def apply_derivations(spec: DatasetSpec, cols: dict[str, pa.Array], n: int, keep=()) -> None:
    """Fill every derived field of ``spec`` in dependency order (``keep``: leave as given)."""
    pending = [f for f in spec.fields if f.derivation and f.name not in keep]
    while pending:
        ready = [f for f in pending if all(i in cols for i in f.derivation.inputs())]
        if not ready:
            names = [f.name for f in pending]
            raise ValueError(f"{spec.dataset}: cannot derive {names}: inputs missing or cyclic")
        for f in ready:
            cols[f.name] = derive_field(cols, f.derivation, n).cast(arrow_type(f.spark_type))
            pending.remove(f)


def apply_durations(spec: DatasetSpec, cols: dict[str, pa.Array]) -> None:
    """Set every spec duration to the day difference of its dates (null unless both real)."""
    for dur in spec.durations:
        start, bad_start = _date_days(cols[dur.start])
        end, bad_end = _date_days(cols[dur.end])
        values = masked_array(end - start, bad_start | bad_end)
        cols[dur.field] = values.cast(arrow_type(spec.field(dur.field).spark_type))
