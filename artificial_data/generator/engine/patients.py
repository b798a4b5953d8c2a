"""Patients first: how a chunk's rows group into patients, and patient-level fields.

The episodes-per-patient distribution (RELATIONSHIP) fixes how many rows each artificial
patient gets; patient-level fields (SEX, ETHNOS: DEMOGRAPHIC_CATEGORICAL; MYDOB:
DEMOGRAPHIC_DATE) are then drawn once per patient and spread over that patient's episodes with
the recorded shares of disagreeing episodes. A patient never straddles chunks: the last rows
of a chunk go to patients whose released episode counts still fit, so chunks can be generated
independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from artificial_data.generator.engine.sampling import draw_indices, pick


@dataclass(frozen=True)
class EpisodesPerPatient:
    """Episodes per patient: ``counts`` (>= 1; the top-coded bucket at its representative
    value) with their cumulative patient shares."""

    counts: np.ndarray
    cum: np.ndarray

    @property
    def mean(self) -> float:
        probs = np.diff(np.concatenate([[0.0], self.cum]))
        return float((probs * self.counts).sum())

    @classmethod
    def one_each(cls) -> EpisodesPerPatient:
        """The fallback when no RELATIONSHIP row was released: one episode per patient."""
        return cls(counts=np.array([1], dtype=np.int64), cum=np.array([1.0]))


@dataclass(frozen=True)
class PatientLayout:
    """Which patient each row of a chunk belongs to, and where in the patient it sits.

    ``position`` is a random order of the patient's episodes (0..size-1), so that values
    spread by position (patterns, disagreeing episodes) land on random episodes.
    """

    patient: np.ndarray  # per row: patient number within the chunk (0..n_patients-1)
    size: np.ndarray  # per row: number of episodes of the row's patient (after truncation)
    position: np.ndarray  # per row: position of the row within its patient
    n_patients: int


def layout_patients(
    rng: np.random.Generator, episodes: EpisodesPerPatient, rows: int
) -> PatientLayout:
    """Draw patients until exactly ``rows`` episodes are covered."""
    if rows <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return PatientLayout(empty, empty, empty, 0)
    batch = int(np.ceil(rows / max(episodes.mean, 1.0))) + 16
    sizes = []
    total = 0
    while total < rows:
        drawn = episodes.counts[draw_indices(rng, episodes.cum, batch)]
        sizes.append(drawn)
        total += int(drawn.sum())
    size_per_patient = np.concatenate(sizes)
    ends = np.cumsum(size_per_patient)
    whole = int(np.searchsorted(ends, rows, side="right"))  # patients that fit completely
    size_per_patient = np.concatenate(
        [
            size_per_patient[:whole],
            _fill_remainder(rng, episodes, rows - (int(ends[whole - 1]) if whole else 0)),
        ]
    )
    n_patients = len(size_per_patient)
    patient = np.repeat(np.arange(n_patients, dtype=np.int64), size_per_patient)
    starts = np.concatenate([[0], np.cumsum(size_per_patient)[:-1]])
    # A random order of episodes within each patient: sort rows by (patient, random key).
    order = np.lexsort((rng.random(rows), patient))
    position = np.empty(rows, dtype=np.int64)
    position[order] = np.arange(rows, dtype=np.int64) - starts[patient]
    return PatientLayout(
        patient=patient,
        size=size_per_patient[patient],
        position=position,
        n_patients=n_patients,
    )


def _fill_remainder(rng: np.random.Generator, episodes: EpisodesPerPatient, remaining: int):
    """Patients for the last ``remaining`` rows of a chunk, each drawn from the released
    episode counts that still fit, so no patient gets a count that was never released (a
    plain cut would invent one). Only when no released count fits is the last one cut."""
    probs = np.diff(np.concatenate([[0.0], episodes.cum]))
    sizes: list[int] = []
    while remaining > 0:
        fits = (episodes.counts <= remaining) & (probs > 0)
        if not fits.any():
            sizes.append(remaining)
            break
        size = int(rng.choice(episodes.counts[fits], p=probs[fits] / probs[fits].sum()))
        sizes.append(size)
        remaining -= size
    return np.array(sizes, dtype=np.int64)


def systematic_share(rng: np.random.Generator, layout: PatientLayout) -> np.ndarray:
    """Per row, a point in [0, 1) spread evenly over the patient's episodes.

    Each patient gets one random offset; its episode at position j gets ``(j + offset) / size``.
    Cutting [0, 1) at cumulative shares then gives every value ``floor`` or ``ceil`` of
    ``size * share`` episodes: the recorded shares, as closely as whole episodes allow.
    """
    offset = rng.random(layout.n_patients)
    return (layout.position + offset[layout.patient]) / layout.size


def patterns_given_episodes(
    rng: np.random.Generator, cum: np.ndarray, lengths: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """A pattern per patient given its number of episodes (``sizes``); pattern p has patient
    weights ``cum`` (cumulative) and needs at least ``lengths[p]`` episodes to show (1: a
    pattern any patient can have).

    Each mixed pattern goes to patients with enough episodes, at the rate that gives it its
    released share of all patients. Patients with fewer episodes are preferred (weight
    1 / episodes), so that mixed patterns hold about the share of episodes that their share
    of patients implies. The rates depend on a patient only through its episode count, so
    they are worked out once per count (a table of counts x patterns), not per patient.
    """
    probs = np.diff(np.concatenate([[0.0], cum]))
    single = lengths == 1
    u = rng.random(len(sizes))
    v = rng.random(len(sizes))
    if single.all() or not single.any() or len(sizes) == 0:
        return np.minimum(np.searchsorted(cum, u, side="right"), len(probs) - 1)
    patients_with = np.bincount(sizes)  # patients per episode count 0..max
    count = np.arange(len(patients_with))
    eligible = (count[:, None] >= lengths[None, :]) & ~single[None, :]
    g = 1.0 / np.maximum(count, 1)
    weighted = (patients_with * g)[:, None] * eligible
    frac = np.maximum(weighted.sum(axis=0) / len(sizes), 1e-12)
    rate = np.where(single, 0.0, probs / frac)
    q = np.where(eligible, rate[None, :] * g[:, None], 0.0)
    total = q.sum(axis=1, keepdims=True)
    q = np.where(total > 1.0, q / np.maximum(total, 1e-12), q)
    # Per episode count, the patterns' cumulative rates; each patient's pick is a search in its
    # count's row. (Comparing every patient with every pattern at once took patients x
    # patterns floats: RSS rose from 297 to 2,041 MB in a 100,000-row APC chunk, for MYDOB's
    # thousands of released rows.)
    cum_q = np.cumsum(q, axis=1)
    pick_mixed = np.empty(len(sizes), dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    present, starts = np.unique(sizes[order], return_index=True)
    for size, who in zip(present, np.split(order, starts[1:]), strict=True):
        pick_mixed[who] = np.searchsorted(cum_q[size], u[who], side="right")
    single_cum = np.cumsum(np.where(single, probs, 0.0))
    single_cum /= single_cum[-1]
    pick_single = np.minimum(np.searchsorted(single_cum, v, side="right"), len(probs) - 1)
    return np.where(pick_mixed < len(probs), np.minimum(pick_mixed, len(probs) - 1), pick_single)


@dataclass(frozen=True)
class PatternSampler:
    """DEMOGRAPHIC_CATEGORICAL: patterns of values across a patient's episodes.

    ``domain`` holds every distinct value; ``pattern_values[p, k]`` indexes the k-th value of
    pattern p and ``pattern_cum[p, k]`` its cumulative share (padded with 2.0 past the end).

    A pattern of several values can only show on a patient with at least that many episodes,
    so patterns are drawn given the patient's episode count: one-episode patients draw among
    the single-value patterns, and each mixed pattern goes to patients with enough episodes at
    the rate that gives it its released share of patients (as far as there are such patients),
    preferring patients with fewer episodes (weight 1 / episodes) so that mixed patterns hold
    about the share of episodes their share of patients implies. Every value of a mixed
    pattern then holds at least one of the patient's episodes, the rest spread by its shares.
    """

    domain: pa.Array
    pattern_values: np.ndarray
    pattern_cum: np.ndarray
    cum: np.ndarray
    size_rule: str = "shares"
    prefer_small: bool = True

    @property
    def lengths(self) -> np.ndarray:
        return (self.pattern_cum <= 1.0 + 1e-9).sum(axis=1)

    def _choose(self, rng: np.random.Generator, sizes: np.ndarray) -> np.ndarray:
        return patterns_given_episodes(rng, self.cum, self.lengths, sizes)

    def _rest_cum(self, pattern: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Cumulative shares by which a patient's episodes beyond the first of each value are
        spread over the values of its pattern (one row per ``(pattern, size)`` given)."""
        shares = np.diff(
            np.concatenate(
                [np.zeros((len(pattern), 1)), np.minimum(self.pattern_cum[pattern], 1.0)], axis=1
            ),
            axis=1,
        )
        left = np.maximum(shares * size[:, None] - 1.0, 0.0)
        left = np.where(left.sum(axis=1, keepdims=True) > 0, left, shares)
        return np.cumsum(left, axis=1) / np.maximum(left.sum(axis=1, keepdims=True), 1e-12)

    def sample(self, rng: np.random.Generator, layout: PatientLayout) -> pa.Array:
        sizes = np.bincount(layout.patient, minlength=layout.n_patients)
        pattern = self._choose(rng, sizes)[layout.patient]
        lengths = self.lengths[pattern]
        u = systematic_share(rng, layout)
        # The first episodes (a random order) take each value of the pattern once ...
        first = layout.position < lengths
        rest_size = np.maximum(layout.size - lengths, 1)
        rest_u = (np.maximum(layout.position - lengths, 0) + (u * layout.size) % 1.0) / rest_size
        # ... the others follow the shares left after that, which depend on the row only
        # through (pattern, episodes): worked out once per pair when there are fewer pairs
        # than rows.
        n_patterns, width = self.pattern_cum.shape
        n_sizes = int(layout.size.max()) + 1 if len(layout.size) else 1
        if n_patterns * n_sizes < len(pattern):
            pairs = np.arange(n_patterns * n_sizes)
            table = self._rest_cum(pairs // n_sizes, pairs % n_sizes)
            left_cum = table[pattern * n_sizes + layout.size]
        else:
            left_cum = self._rest_cum(pattern, layout.size)
        k_rest = (rest_u[:, None] >= left_cum).sum(axis=1)
        k = np.where(first, layout.position, k_rest)
        k = np.minimum(k, np.minimum(lengths - 1, width - 1))
        return pick(self.domain, self.pattern_values[pattern, k])


@dataclass(frozen=True)
class ModalValueSampler:
    """DEMOGRAPHIC_DATE: a modal value per patient, with the share of episodes agreeing.

    Rows are (modal value index into ``domain``, agreement share) with patient weights
    ``cum``; disagreeing episodes get another value drawn from the modal values' own
    distribution (``value_cum`` over ``domain``), never the patient's modal value when any
    other value exists.

    A row with an agreement below 1 (a patient whose episodes disagree) can only show on a
    patient with two or more episodes, so rows are drawn given the patient's episode count as
    ``PatternSampler`` draws its patterns (``patterns_given_episodes``), and such a patient has
    at least one disagreeing episode even where its share rounds to none (0.95 of 2 episodes).
    Drawn regardless of the episode count, as before issue 16's full release at 1M rows, most
    of these rows fell on one-episode patients: 0.03% of patients had a mixed MYDOB against a
    released 0.09%, which QA's patient_consistency check blocked.
    """

    domain: pa.Array
    modal: np.ndarray
    agreement: np.ndarray
    cum: np.ndarray
    value_cum: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """Episodes a row needs to show: 2 for a row whose episodes disagree, else 1."""
        return np.where(self.agreement < 1.0, 2, 1)

    def sample(self, rng: np.random.Generator, layout: PatientLayout) -> pa.Array:
        sizes = np.bincount(layout.patient, minlength=layout.n_patients)
        lengths = self.lengths
        choice = patterns_given_episodes(rng, self.cum, lengths, sizes)
        modal = self.modal[choice][layout.patient]
        agreement = self.agreement[choice][layout.patient]
        u = systematic_share(rng, layout)
        disagree = (u >= agreement) & (layout.position > 0)
        mixed = (lengths[choice] == 2) & (sizes >= 2)
        none_yet = mixed & (np.bincount(layout.patient[disagree], minlength=layout.n_patients) == 0)
        disagree |= none_yet[layout.patient] & (layout.position == 1)
        value = modal.copy()
        todo = np.flatnonzero(disagree)
        if len(self.domain) > 1:
            for _ in range(32):
                if len(todo) == 0:
                    break
                other = draw_indices(rng, self.value_cum, len(todo))
                value[todo] = other
                todo = todo[other == modal[todo]]
        return pick(self.domain, value)
