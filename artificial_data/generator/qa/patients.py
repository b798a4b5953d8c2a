"""Patient-level consistency of the artificial table against the released metadata.

A patient-level field (SEX, ETHNOS, MYDOB) is held per patient: most patients have the same
value on every episode, and the released DEMOGRAPHIC_* metadata records how many do not (a
pattern of two or more values, or a MYDOB agreement share below 1). QA compares the share of
artificial patients whose episodes disagree with that released share. A generator that draws
the field per episode (or shuffles it across rows, keeping every marginal) makes most
multi-episode patients mixed and fails; one that never lets a patient disagree fails too.

The share of mixed patients among ``n`` independent patients is a binomial proportion, so the
blocking limit is Bernstein's bound at the QA false-failure rate: a correct generator exceeds it
less than once in a million, whatever ``p`` and ``n``. The warning threshold is the 99.9% normal
interval. Both use the released share ``p`` as the variance, so a released share of 0 still
tolerates a handful of mixed patients (2 ln(2/alpha)/(3n)).

A birth month after the date an age is measured at (MYDOB after ADMIDATE) is an impossible
record: that rule must hold on 100% of rows, like the other row rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.generator.qa.consistency import RuleResult, _birth_month_bounds, _dates
from artificial_data.generator.qa.distances import FALSE_FAILURE_RATE
from artificial_data.generator.qa.expected import Expectations

#: Normal quantile of the warning threshold (two-sided 99.9%).
WARNING_Z = 3.29


@dataclass(frozen=True)
class MixedShare:
    """Share of patients whose episodes hold more than one value of a patient-level field."""

    field: str
    patients: int  # patients in the table
    multi_episode_patients: int
    mixed_patients: int
    expected: float  # released share of mixed patients (among all patients)
    threshold: float  # warning: |observed - expected| above this
    limit: float  # blocking

    @property
    def observed(self) -> float:
        return self.mixed_patients / self.patients if self.patients else 0.0

    @property
    def deviation(self) -> float:
        return abs(self.observed - self.expected)

    @property
    def failed(self) -> bool:
        return self.deviation > self.limit

    @property
    def within_noise(self) -> bool:
        return self.deviation <= self.threshold

    @property
    def mixed_among_multi(self) -> float:
        if not self.multi_episode_patients:
            return 0.0
        return self.mixed_patients / self.multi_episode_patients

    def describe(self) -> str:
        return (
            f"{self.field}: {100 * self.observed:.2f}% of {self.patients} patients mixed "
            f"({100 * self.mixed_among_multi:.1f}% of multi-episode patients), released "
            f"{100 * self.expected:.2f}% (limit ±{100 * self.limit:.2f} points)"
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "patients": self.patients,
            "mixed_patients": self.mixed_patients,
            "observed": round(self.observed, 6),
            "expected": round(self.expected, 6),
            "mixed_among_multi_episode": round(self.mixed_among_multi, 6),
            "threshold": round(self.threshold, 6),
            "limit": round(self.limit, 6),
        }


def bernstein_margin(p: float, n: int, alpha: float = FALSE_FAILURE_RATE) -> float:
    """t with P(|mean - p| >= t) <= alpha for the mean of ``n`` Bernoulli(p) draws."""
    if n <= 0:
        return math.inf
    log_term = math.log(2 / alpha)
    variance = p * (1 - p)
    return (log_term / 3 + math.sqrt(log_term**2 / 9 + 2 * n * variance * log_term)) / n


def value_codes(column: pa.ChunkedArray) -> np.ndarray:
    """Integer code per row of a column, null a code of its own."""
    encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def patient_codes(table: pa.Table, spec: DatasetSpec) -> np.ndarray:
    return value_codes(table.column(spec.patient_key))


def mixed_patients(patients: np.ndarray, column: pa.ChunkedArray) -> tuple[int, int, int]:
    """(patients, patients with 2+ episodes, patients whose rows hold 2+ distinct values)."""
    if len(patients) == 0:
        return 0, 0, 0
    values = value_codes(column)
    n_patients = int(patients.max()) + 1
    episodes = np.bincount(patients, minlength=n_patients)
    pairs = np.unique(patients * (int(values.max()) + 1) + values)
    distinct = np.bincount(pairs // (int(values.max()) + 1), minlength=n_patients)
    return n_patients, int((episodes >= 2).sum()), int((distinct >= 2).sum())


def mixed_shares(table, spec: DatasetSpec, exps: Expectations) -> list[MixedShare]:
    """Mixed share of every patient-level field with DEMOGRAPHIC_* metadata in the table
    (an Arrow table, or ``fields.FieldColumns``: anything with ``column_names`` and ``mixed``)."""
    if spec.patient_key not in table.column_names:
        return []
    if isinstance(table, pa.Table):
        keys, whole = patient_codes(table, spec), table

        def mixed(name: str) -> tuple[int, int, int]:
            return mixed_patients(keys, whole.column(name))
    else:
        mixed = table.mixed
    out = []
    for name, exp in exps.fields.items():
        if exp.mixed_share is None or name not in table.column_names:
            continue
        if exp.value_type not in (contract.DEMOGRAPHIC_CATEGORICAL, contract.DEMOGRAPHIC_DATE):
            continue
        n, multi, mixed_count = mixed(name)
        p = exp.mixed_share
        threshold = WARNING_Z * math.sqrt(p * (1 - p) / max(n, 1)) + 1 / max(n, 1)
        out.append(
            MixedShare(
                name, n, multi, mixed_count, p, threshold, max(threshold, bernstein_margin(p, n))
            )
        )
    return out


def births_after(table: pa.Table, spec: DatasetSpec, offset: int = 0) -> list[RuleResult]:
    """Rows whose birth month (MYDOB) starts after the date an age is measured at (``offset``:
    the row number of the table's first row, for a record batch)."""
    seen, out = set(), []
    for f in spec.fields_with_role("derived"):
        d = f.derivation
        if d.kind not in ("age_years", "age_fraction") or (d.birth, d.at) in seen:
            continue
        seen.add((d.birth, d.at))
        if d.birth not in table.column_names or d.at not in table.column_names:
            continue
        first, _last, birth_ok = _birth_month_bounds(table, d.birth)
        at, at_ok = _dates(table, d.at)
        bad = birth_ok & at_ok & (first > at)
        rows = np.flatnonzero(bad)[:3]
        examples = [
            f"row {offset + int(i)}: {d.birth}={table.column(d.birth)[int(i)].as_py()!r}, "
            f"{d.at}={table.column(d.at)[int(i)].as_py()!r}"
            for i in rows
        ]
        out.append(
            RuleResult(
                "birth month not after",
                f"{d.birth} <= {d.at}",
                int((birth_ok & at_ok).sum()),
                int(bad.sum()),
                examples,
            )
        )
    return out
