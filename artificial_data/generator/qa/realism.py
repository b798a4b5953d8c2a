"""Realism measures an analyst looks at first, computed the same way on raw and artificial HES.

Issue 13's table, one function for both sides so that the comparison is like with like: the
median and the share of 0-day values of each duration, the share of each date in January to
March (seasonality), durations filled where one of their dates is empty, rows with a gap in a
positional code group (05 empty, 06 filled), patients with mixed values of a patient-level
field (overall and among patients with two or more episodes), rows whose birth month is after
the date their age is computed at (and the age's null share), the share of episodes that
belong to patients with more than k episodes (heavy users), and the fill rate of identifiers
that may be empty (AE's linked admission key EPIKEY).

Used by ``benchmarks/qa_fidelity.py`` (the report table of ``docs/qa_and_publication.md``) and
by ``artificial_data_tests/test_fidelity.py`` (artificial against simulated raw, noise-aware).
Only ever run on a table the caller may read: on raw, inside the scraper's scope or a test.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.generator.qa.expected import PLACEHOLDER_DATES
from artificial_data.generator.qa.patients import mixed_patients, patient_codes

#: Episode counts k for "share of episodes of patients with more than k episodes".
HEAVY_K = (1, 2, 5, 10, 20)


def real_dates(column: pa.ChunkedArray) -> np.ndarray:
    """Days (datetime64[D]) of the real dates (not null, not a placeholder); NaT elsewhere."""
    placeholder = pc.is_in(column, pa.array(PLACEHOLDER_DATES, pa.date32()))
    real = pc.and_(pc.is_valid(column), pc.invert(pc.fill_null(placeholder, False)))
    days = pc.if_else(real, pc.cast(column, pa.int32()), pa.scalar(None, pa.int32()))
    values = np.asarray(days.to_numpy(zero_copy_only=False), dtype=float)
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = ~np.isnan(values)
    out[ok] = values[ok].astype("int64").astype("datetime64[D]")
    return out


def _empty(column: pa.ChunkedArray) -> np.ndarray:
    text = pc.cast(column, pa.string())
    return np.asarray(pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False))


def birth_months(column: pa.ChunkedArray) -> np.ndarray:
    """First day of each MMYYYY birth month (NaT where missing or malformed)."""
    text = pc.cast(column, pa.string()).to_pylist()
    return np.array(
        [
            np.datetime64(f"{t[2:]}-{t[:2]}-01") if t and len(t) == 6 and t.isdigit() else "NaT"
            for t in text
        ],
        dtype="datetime64[D]",
    )


def positional_groups(table: pa.Table, spec: DatasetSpec) -> dict[str, list[str]]:
    """The spec's positional code groups (``code_groups``: DIAG_4_01..20 and the like, filled
    in order in HES) by stem, members in position order."""
    groups = {}
    for members in spec.code_groups:
        present = [m for m in members if m in table.column_names]
        if len(present) >= 2:
            groups[present[0].rsplit("_", 1)[0]] = present
    return groups


def heavy_user_shares(sizes: np.ndarray) -> dict[int, float]:
    """Share of episodes held by patients with more than k episodes, per k of HEAVY_K."""
    total = max(int(sizes.sum()), 1)
    return {k: float(sizes[sizes > k].sum() / total) for k in HEAVY_K}


def measures(table: pa.Table, spec: DatasetSpec) -> dict[str, float]:
    """The realism measures for one table (raw or artificial), by readable name."""
    out: dict[str, float] = {}
    names = table.column_names
    for d in spec.durations:
        if d.field not in names:
            continue
        values = pc.cast(table.column(d.field), pa.float64()).to_numpy(zero_copy_only=False)
        present = values[~np.isnan(values)]
        out[f"median {d.field}"] = float(np.median(present)) if len(present) else float("nan")
        out[f"{d.field} = 0 days"] = float((present == 0).mean()) if len(present) else 0.0
        start = np.isnat(real_dates(table.column(d.start)))
        end = np.isnat(real_dates(table.column(d.end)))
        missing = start | end
        filled = ~np.isnan(values)
        out[f"{d.field} filled where a date is empty"] = (
            float(filled[missing].mean()) if missing.any() else 0.0
        )
    for f in spec.fields_with_role("date"):
        if f.name not in names or not pa.types.is_date(table.column(f.name).type):
            continue
        days = real_dates(table.column(f.name))
        real = days[~np.isnat(days)]
        months = real.astype("datetime64[M]").astype(int) % 12 + 1
        out[f"{f.name} in Jan-Mar"] = float((months <= 3).mean()) if len(real) else 0.0
    for stem, members in positional_groups(table, spec).items():
        empty = np.column_stack([_empty(table.column(m)) for m in members])
        later_filled = np.flip(np.logical_or.accumulate(np.flip(~empty, axis=1), axis=1), axis=1)
        gap = (empty[:, :-1] & later_filled[:, 1:]).any(axis=1)
        out[f"rows with a gap in {stem}_nn"] = float(gap.mean())
    if spec.patient_key in names:
        patients = patient_codes(table, spec)
        for f in spec.fields_with_role("patient_categorical", "patient_date"):
            if f.name in names:
                n, multi, mixed = mixed_patients(patients, table.column(f.name))
                out[f"patients mixed {f.name}"] = mixed / max(n, 1)
                out[f"multi-episode patients mixed {f.name}"] = mixed / max(multi, 1)
        for k, share in heavy_user_shares(np.bincount(patients)).items():
            out[f"episodes of patients with > {k}"] = share
    for f in spec.fields_with_role("derived"):
        d = f.derivation
        if d.kind == "age_years" and d.birth in names and d.at in names:
            born, at = birth_months(table.column(d.birth)), real_dates(table.column(d.at))
            ok = ~np.isnat(born) & ~np.isnat(at)
            out[f"{d.birth} after {d.at}"] = float((born[ok] > at[ok]).mean()) if ok.any() else 0
            out[f"{f.name} null"] = table.column(f.name).null_count / max(table.num_rows, 1)
    for f in spec.fields_with_role("identifier"):
        if f.name in names and f.name not in (spec.primary_key, spec.patient_key):
            out[f"{f.name} filled"] = 1 - table.column(f.name).null_count / max(table.num_rows, 1)
    return out
