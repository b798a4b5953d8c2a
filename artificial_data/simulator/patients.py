"""Patients of one chunk: how many episodes each has, and their patient-level facts.

Why patients first: HES has one row per episode (or attendance), and the same person appears
many times with the same pseudonymised id, sex, ethnicity and month of birth. The episodes per
patient are heavy-tailed (most patients once, some 2-10 times, a few hundreds of times), and a
small share of episodes disagree with the patient's usual values (coding noise), which is what
the scraper's DEMOGRAPHIC_* summaries describe. A patient never straddles two chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from artificial_data.simulator import arrays as A

SEX_CODES = ("1", "2", "9", "0")
SEX_WEIGHTS = (48.0, 51.4, 0.4, 0.2)
ETHNOS_CODES = (*tuple("ABCDEFGHJKLMNPRSZ"), "99", "X")
ETHNOS_WEIGHTS = (
    72,
    2.5,
    4.5,
    0.3,
    0.4,
    0.3,
    0.7,
    2.4,
    1.6,
    0.6,
    1.2,
    1.0,
    1.0,
    0.3,
    0.5,
    1.8,
    7.0,
    1.8,
    0.2,
)

# Age mix (share of patients per band; upper bound exclusive) for each kind of dataset.
AGE_PROFILES = {
    "admitted": ((0, 1, 6), (1, 16, 7), (16, 45, 25), (45, 65, 24), (65, 80, 22), (80, 101, 16)),
    "outpatient": ((0, 1, 2), (1, 16, 9), (16, 45, 24), (45, 65, 28), (65, 80, 24), (80, 101, 13)),
    "emergency": ((0, 1, 4), (1, 16, 20), (16, 45, 36), (45, 65, 19), (65, 80, 12), (80, 101, 9)),
}


@dataclass(frozen=True)
class PatientProfile:
    """Shape of the episodes-per-patient distribution and the age mix of a dataset."""

    tail_exponent: float  # P(episodes >= k) ~ k^-exponent: smaller means heavier tail
    max_episodes: int
    ages: str
    sex_noise: float = 0.015
    ethnos_noise: float = 0.04
    mydob_noise: float = 0.015
    mydob_null: float = 0.004


@dataclass
class Patients:
    """Patients of one chunk and, for every row, which patient it belongs to."""

    count: int
    episodes: np.ndarray  # episodes per patient
    of_row: np.ndarray  # patient index of each row (rows in random order)
    birth: np.ndarray  # birth date per patient, days since 1970-01-01
    sex: np.ndarray  # index into SEX_CODES per row (after episode noise)
    ethnos: np.ndarray  # index into ETHNOS_CODES per row (after episode noise)
    mydob_birth: np.ndarray  # per row: the birth date the row's MYDOB shows
    mydob_null: np.ndarray  # per row: MYDOB not recorded

    @property
    def birth_of_row(self) -> np.ndarray:
        return self.birth[self.of_row]


def episodes_per_patient(
    rng: np.random.Generator, rows: int, profile: PatientProfile
) -> np.ndarray:
    """Episode counts of as many patients as it takes to fill exactly ``rows`` rows."""
    cap = max(1, min(profile.max_episodes, rows))
    parts: list[np.ndarray] = []
    total = 0
    while total < rows:
        batch = max(16, int((rows - total) * 0.7))
        # Discrete Pareto: floor(U^(-1/a)) gives P(k >= x) = x^-a, so most patients have one.
        k = np.floor(rng.random(batch) ** (-1.0 / profile.tail_exponent)).astype(np.int64)
        k = np.minimum(k, cap)
        parts.append(k)
        total += int(k.sum())
    counts = np.concatenate(parts)
    ends = np.cumsum(counts)
    last = int(np.searchsorted(ends, rows))
    counts = counts[: last + 1].copy()
    counts[-1] -= int(ends[last] - rows)
    return counts


def _ages(rng: np.random.Generator, n: int, profile: str) -> np.ndarray:
    bands = AGE_PROFILES[profile]
    weights = A.cumulative([b[2] for b in bands])
    band = A.weighted_index(rng, weights, n)
    lo = np.array([b[0] for b in bands], dtype=np.float64)[band]
    hi = np.array([b[1] for b in bands], dtype=np.float64)[band]
    # Within the oldest band, fewer people at each higher age.
    u = rng.random(n)
    u = np.where(hi > 100, 1 - np.sqrt(1 - u), u)
    return lo + u * (hi - lo)


def build_patients(
    rng: np.random.Generator, rows: int, fy_end: int, profile: PatientProfile
) -> Patients:
    """Draw the patients of a chunk of ``rows`` rows; ages are at the financial year's end."""
    counts = episodes_per_patient(rng, rows, profile)
    count = len(counts)
    of_row = rng.permutation(np.repeat(np.arange(count), counts))
    age_at_end = _ages(rng, count, profile.ages)
    birth = fy_end - np.floor(age_at_end * 365.25).astype(np.int64)

    sex_p = A.weighted_index(rng, A.cumulative(SEX_WEIGHTS), count)
    sex = sex_p[of_row]
    flip = rng.random(rows) < profile.sex_noise
    # A disagreeing episode mostly swaps 1<->2, sometimes records 'not known' codes.
    other = np.where(rng.random(rows) < 0.7, 1 - np.minimum(sex, 1), rng.integers(2, 4, rows))
    sex = np.where(flip, other, sex)

    eth_p = A.weighted_index(rng, A.cumulative(ETHNOS_WEIGHTS), count)
    ethnos = eth_p[of_row]
    flip = rng.random(rows) < profile.ethnos_noise
    ethnos = np.where(flip, rng.integers(0, len(ETHNOS_CODES), rows), ethnos)

    mydob_birth = birth[of_row].copy()
    shift = rng.random(rows) < profile.mydob_noise
    # Noise moves the recorded month of birth *earlier* (1-12 months), never past the event.
    mydob_birth[shift] -= rng.integers(28, 366, int(shift.sum()))
    mydob_null = rng.random(rows) < profile.mydob_null
    return Patients(count, counts, of_row, birth, sex, ethnos, mydob_birth, mydob_null)
