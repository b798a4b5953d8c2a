"""Post-processing of independently sampled columns (DESIGN §8), in this order:

1. date chains: the real dates of each row's chain are sorted into the chain's order
   (APC: ELECDATE <= ADMIDATE <= EPISTART <= EPIEND <= DISDATE); nulls and HES placeholder
   dates (1800-01-01, 1801-01-01: anything before 1900) stay where they are and do not take
   part in the ordering;
2. durations: ``end - start`` in days wherever both dates are real, null wherever one of them
   is null or a placeholder (date chains are placed from released durations, ``chains``, so
   this gives back the drawn values);
3. derived fields in dependency order (``truncate``, ``concat``, ``count``, ``age_years``,
   ``age_fraction``, ``age_fraction_from_code``) from the final dates and codes.

Conventions shared with the simulator and QA (docs/generator.md):
* ages count from the first day of the MYDOB (``MMYYYY``) month; under one year HES infant
  codes 7001 (<1 day), 7002 (1-6 days), 7003 (7-28), 7004 (29-90), 7005 (91-182), 7006
  (183-273), 7007 (274+); whole years capped at ``cap``; null if either input is missing,
  not a real date, or the birth month starts after ``at``;
* ``age_fraction``: completed years plus the elapsed share of the current year of age,
  floored to three decimals, capped;
* ``age_fraction_from_code``: the middle of the interval a code stands for (infant codes: the
  middle of their day band / 365.25; whole years ``c + 0.5``), floored to three decimals;
  codes above 200 that are not infant codes are null (HES unknown-age codes);
* ``concat``: non-null, non-empty codes joined with commas in position order, null if none;
* ``count``: codes other than null, empty, ``&`` and ``-``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.arrow_buffers import masked_array
from artificial_data.common.codes import concat_codes, count_codes, text_codes, truncate_codes
from artificial_data.common.dataset_spec import DatasetSpec, Derivation
from artificial_data.common.schema import arrow_type
from artificial_data.generator.engine.errors import GenerationError

_EPOCH = np.datetime64("1970-01-01", "D")
#: Dates before this are HES placeholders (1800-01-01 null, 1801-01-01 invalid), not dates.
REAL_DATE_FLOOR = int((np.datetime64("1900-01-01", "D") - _EPOCH).astype(np.int64))
INFANT_CODES = np.arange(7001, 7008)
#: Lower bounds in days of the infant codes 7001..7007.
INFANT_DAY_BOUNDS = np.array([0, 1, 7, 29, 91, 183, 274])
INFANT_MIDPOINTS = np.array([0.5, 3.5, 17.5, 59.5, 136.5, 228.0, 319.5]) / 365.25

Columns = dict[str, pa.Array]


def date_days(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970, is-not-a-real-date mask) of a date32 array."""
    arr = arr.cast(pa.date32())
    missing = arr.is_null().to_numpy(zero_copy_only=False)
    days = arr.cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
    return days, missing | (days < REAL_DATE_FLOOR)


def order_date_chain(cols: Columns, chain: tuple[str, ...]) -> None:
    """Sort each row's real dates into chain order, leaving nulls and placeholders in place."""
    days, not_real = zip(*(date_days(cols[name]) for name in chain), strict=True)
    matrix = np.stack(days, axis=1)
    real = ~np.stack(not_real, axis=1)
    sentinel = np.iinfo(np.int64).max
    ordered = np.sort(np.where(real, matrix, sentinel), axis=1)
    rank = np.maximum(np.cumsum(real, axis=1) - 1, 0)
    result = np.where(real, np.take_along_axis(ordered, rank, axis=1), matrix)
    for k, name in enumerate(chain):
        is_null = cols[name].is_null().to_numpy(zero_copy_only=False)
        cols[name] = masked_array(result[:, k].astype(np.int32), is_null, pa.date32())


def apply_durations(spec: DatasetSpec, cols: Columns) -> None:
    """Make every spec duration ``end - start`` in days where both dates are real, and null
    where either is null or a placeholder."""
    for duration in spec.durations:
        start, bad_start = date_days(cols[duration.start])
        end, bad_end = date_days(cols[duration.end])
        both = ~(bad_start | bad_end)
        target = arrow_type(spec.field(duration.field).spark_type)
        cols[duration.field] = masked_array(end - start, ~both).cast(target)


def mydob_days(mydob: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(first day of the birth month in days, is-missing mask) from ``MMYYYY`` text.

    Dictionary-encoded text (a sampled MYDOB) is parsed once per distinct month and the
    result spread to the rows by their indices (a null index is missing).
    """
    if pa.types.is_dictionary(mydob.type):
        per_code, missing = _parse_mydob(mydob.dictionary)
        indices = mydob.indices
        codes = indices.fill_null(0).to_numpy(zero_copy_only=False)
        if not len(per_code):  # an empty dictionary: every row is null
            return np.zeros(len(codes), dtype=np.int64), np.ones(len(codes), dtype=bool)
        return per_code[codes], missing[codes] | indices.is_null().to_numpy(zero_copy_only=False)
    return _parse_mydob(mydob)


def _parse_mydob(mydob: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    text = mydob.cast(pa.string())
    valid = pc.match_substring_regex(text, r"^(0[1-9]|1[0-2])\d{4}$").fill_null(False)
    valid_np = valid.to_numpy(zero_copy_only=False)
    text = pc.if_else(valid, text, pa.scalar("011970"))
    month = pc.cast(pc.utf8_slice_codeunits(text, 0, 2), pa.int64()).to_numpy()
    year = pc.cast(pc.utf8_slice_codeunits(text, 2, 6), pa.int64()).to_numpy()
    months = (year - 1970) * 12 + (month - 1)
    days = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return days, ~valid_np


def _month_number(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def whole_years(birth_month_start: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Completed years from the first day of a birth month to ``at`` (both in days)."""
    return (_month_number(at) - _month_number(birth_month_start)) // 12


def fractional_years(birth_month_start: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Completed years plus the elapsed share of the current year of age (below 1)."""
    years = whole_years(birth_month_start, at)
    birth_month = _month_number(birth_month_start)

    def birthday(k: np.ndarray) -> np.ndarray:
        return (
            (birth_month + 12 * k).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        )

    last, following = birthday(years), birthday(years + 1)
    share = (at - last) / np.maximum(following - last, 1)
    return years + np.clip(share, 0.0, 0.999)


def floor3(x: np.ndarray) -> np.ndarray:
    return np.floor(x * 1000.0) / 1000.0


def age_codes(days: np.ndarray, years: np.ndarray, cap: int) -> np.ndarray:
    """HES age codes: whole years (capped), or 7001-7007 for infants by age in days."""
    band = np.clip(np.searchsorted(INFANT_DAY_BOUNDS, days, side="right") - 1, 0, 6)
    return np.where(years >= 1, np.minimum(years, cap), INFANT_CODES[band])


def derive(cols: Columns, d: Derivation, n: int) -> pa.Array:
    """One derived field from already final columns."""
    if d.kind == "truncate":
        return truncate_codes(cols[d.source], d.length)
    if d.kind == "concat":
        return concat_codes([cols[s] for s in d.sources], n)
    if d.kind == "count":
        return count_codes([cols[s] for s in d.sources], n)
    if d.kind in ("age_years", "age_fraction"):
        birth, no_birth = mydob_days(cols[d.birth])
        at, no_at = date_days(cols[d.at])
        days = at - birth
        missing = no_birth | no_at | (days < 0)
        cap = d.cap if d.cap is not None else 120
        if d.kind == "age_years":
            codes = age_codes(np.maximum(days, 0), whole_years(birth, at), cap)
            return masked_array(codes, missing)
        fraction = fractional_years(birth, np.maximum(at, birth))
        return masked_array(np.minimum(floor3(fraction), cap), missing)
    if d.kind == "age_fraction_from_code":
        code = pc.cast(cols[d.source], pa.int64(), safe=False)
        missing = code.is_null().to_numpy(zero_copy_only=False)
        c = code.fill_null(0).to_numpy()
        infant = (c >= 7001) & (c <= 7007)
        value = np.where(infant, INFANT_MIDPOINTS[np.clip(c - 7001, 0, 6)], c + 0.5)
        return masked_array(floor3(value), missing | (c < 0) | ((c > 200) & ~infant))
    raise ValueError(f"unknown derivation kind {d.kind!r}")


def apply_derivations(spec: DatasetSpec, cols: Columns, n: int) -> None:
    """Fill every derived field of ``spec`` in dependency order."""
    pending = [f for f in spec.fields if f.derivation is not None]
    while pending:
        ready = [f for f in pending if all(i in cols for i in f.derivation.inputs())]
        if not ready:
            raise GenerationError(
                spec.dataset,
                pending[0].name,
                [f.name for f in pending],
                "derived fields with missing or cyclic inputs",
            )
        for f in ready:
            value, target = derive(cols, f.derivation, n), arrow_type(f.spark_type)
            encoded = pa.types.is_dictionary(value.type) and value.type.value_type == target
            cols[f.name] = value if encoded else value.cast(target)
            pending.remove(f)


def birth_pairs(spec: DatasetSpec) -> list[tuple[str, str]]:
    """(patient-level birth field, date) pairs that ages are computed between."""
    pairs = []
    for f in spec.fields:
        d = f.derivation
        if d is None or d.kind not in ("age_years", "age_fraction") or not (d.birth and d.at):
            continue
        if spec.field(d.birth).role == "patient_date" and (d.birth, d.at) not in pairs:
            pairs.append((d.birth, d.at))
    return pairs


def keep_births_before(
    spec: DatasetSpec,
    cols: Columns,
    patient: np.ndarray,
    position: np.ndarray,
    rng: np.random.Generator | None = None,
    rounds: int = 64,
) -> None:
    """A birth month never after the date an age is computed at (MYDOB <= ADMIDATE).

    Patient-level birth months are drawn independently of the episodes' dates, so a patient
    born during the year could be admitted before birth. Such a patient **swaps** its birth
    month (the modal value, on every episode that holds it) with a random other patient for
    whom both then fit, so the released distribution of birth months is kept exactly; up to
    ``rounds`` random partners are tried. A patient left without a partner copies the birth
    month of a random patient whose month fits (the released months below its first
    admission, a small distortion reported by QA's MYDOB comparison). An episode that
    disagrees with its patient's modal month and is born after its own date, or that a swap
    left holding the patient's new modal month, takes another patient's modal month that fits
    and differs (so the patient stays mixed, as released); any episode still born after its
    own date takes the patient's modal month where that fits and no birth month otherwise:
    the rule holds on every row, whatever the metadata.
    """
    if not len(patient) or rng is None:
        return
    n_patients = int(patient.max()) + 1
    big = np.iinfo(np.int64).max
    for birth_name, at_name in birth_pairs(spec):
        # The work is on each row's index into the distinct months (-1: none), never on text.
        months, codes = text_codes(cols[birth_name])
        if not len(months):
            continue
        parsed = mydob_days(months)

        def births(index: np.ndarray, parsed=parsed) -> tuple[np.ndarray, np.ndarray]:
            """(birth day, missing) of rows given by their index into the distinct months."""
            month_days, month_missing = parsed
            at_least_0 = np.maximum(index, 0)
            return month_days[at_least_0], month_missing[at_least_0] | (index < 0)

        birth, no_birth = births(codes)
        at, no_at = date_days(cols[at_name])
        if not (~no_birth & ~no_at & (birth > at)).any():
            continue
        earliest = np.full(n_patients, big)
        np.minimum.at(earliest, patient[~no_at], at[~no_at])
        first = position == 0
        modal = np.full(n_patients, -1, dtype=np.int64)  # row holding the modal value
        modal[patient[first]] = np.flatnonzero(first)
        has = (modal >= 0) & ~no_birth[np.maximum(modal, 0)]
        mb = np.where(has, birth[np.maximum(modal, 0)], np.iinfo(np.int64).min)
        owner = np.arange(n_patients)  # whose modal value each patient ends up with
        conflict = np.flatnonzero(has & (mb > earliest))
        for _ in range(rounds):
            if len(conflict) == 0:
                break
            partner = rng.integers(0, n_patients, len(conflict))
            b_c, e_c = mb[owner[conflict]], earliest[conflict]
            b_p, e_p = mb[owner[partner]], earliest[partner]
            ok = has[owner[partner]] & (b_p <= e_c) & (b_c <= e_p) & (partner != conflict)
            # each patient takes part in at most one swap per round
            ok &= ~np.isin(partner, conflict)
            _, first_use = np.unique(partner[ok], return_index=True)
            chosen = np.zeros(len(conflict), dtype=bool)
            chosen[np.flatnonzero(ok)[first_use]] = True
            c, q = conflict[chosen], partner[chosen]
            owner[c], owner[q] = owner[q].copy(), owner[c].copy()
            conflict = conflict[~chosen]
        # No partner found (many patients born during the year, as when a small source left
        # few birth months after suppression): take the birth month of a random patient whose
        # month fits, a draw from the released months below the admission; a patient with no
        # such donor loses its birth month (age unknown) rather than be born after admission.
        for _ in range(rounds):
            if len(conflict) == 0:
                break
            donor = rng.integers(0, n_patients, len(conflict))
            fits = has[owner[donor]] & (mb[owner[donor]] <= earliest[conflict])
            owner[conflict[fits]] = owner[donor[fits]]
            conflict = conflict[~fits]
        unborn = np.zeros(n_patients, dtype=bool)
        unborn[conflict] = True
        modal_code = np.where(modal >= 0, codes[np.maximum(modal, 0)], -1)
        disagreeing = (codes >= 0) & (codes != modal_code[patient])
        changed = owner != np.arange(n_patients)
        if changed.any():
            new = modal_code[owner]
            rows = changed[patient] & (codes == modal_code[patient])
            codes[rows] = new[patient[rows]]
            birth, no_birth = births(codes)
            modal_code = new
        # A disagreeing episode born after its own date, or now holding the modal month its
        # patient was given by a swap, would make the patient agree on every episode.
        lost = disagreeing & (modal_code[patient] >= 0)
        lost &= (~no_birth & ~no_at & (birth > at)) | (codes == modal_code[patient])
        if lost.any():
            _keep_disagreeing(
                rng, codes, np.flatnonzero(lost), patient, at, no_at, modal_code, births, rounds
            )
            birth, no_birth = births(codes)
        still = ~no_birth & ~no_at & (birth > at)
        if still.any():
            own = modal_code[patient[still]]
            own_days, own_missing = births(own)
            fits = ~own_missing & (own_days <= at[still]) & ~unborn[patient[still]]
            codes[still] = np.where(fits, own, -1)
        # still dictionary-encoded: the same distinct months, each row pointing at its own
        cols[birth_name] = pa.DictionaryArray.from_arrays(
            masked_array(codes.astype(np.int32), codes < 0), months
        )


def _keep_disagreeing(
    rng: np.random.Generator,
    codes: np.ndarray,
    rows: np.ndarray,
    patient: np.ndarray,
    at: np.ndarray,
    no_at: np.ndarray,
    modal_code: np.ndarray,
    births: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    rounds: int = 64,
) -> None:
    """Disagreeing episodes (``rows``: indices of rows whose birth month is not their
    patient's modal one but now is, or is after their own date) take the modal month of a
    random patient instead, one that fits their date and differs from their own patient's
    modal month, so that the patient stays mixed, as released. Without this, a patient given
    an infant's month by a swap, or whose other month fell after an episode's date (which then
    took the modal month), agreed on every episode: 10M APC rows had 1.64% of patients with a
    mixed MYDOB against a released 1.68% (QA's patient_consistency check blocked it). Rows with
    no such donor after ``rounds`` tries are left as they are, for the rule after this."""
    todo = rows
    for _ in range(rounds):
        if len(todo) == 0:
            break
        other = modal_code[rng.integers(0, len(modal_code), len(todo))]
        other_days, other_missing = births(other)
        fits = ~other_missing & (other != modal_code[patient[todo]])
        fits &= no_at[todo] | (other_days <= at[todo])
        codes[todo[fits]] = other[fits]
        todo = todo[~fits]


def post_process(
    spec: DatasetSpec,
    cols: Columns,
    n: int,
    patient: np.ndarray | None = None,
    position: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> None:
    """Date chains, then durations, then births before dates (given the patient layout),
    then derived fields (DESIGN §8 order)."""
    for chain in spec.date_chains:
        order_date_chain(cols, chain)
    apply_durations(spec, cols)
    if patient is not None and position is not None:
        keep_births_before(spec, cols, patient, position, rng)
    apply_derivations(spec, cols, n)
