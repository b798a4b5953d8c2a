"""Distances between an artificial field and its metadata, with sampling-noise-aware limits.

An artificial field of N rows drawn from shares p never matches p exactly: under multinomial
sampling the expected total variation distance (TVD) is about Σ√(pᵢ/(2πN)) (each |qᵢ − pᵢ| is
half-normal with scale √(pᵢ/N)). DESIGN §9 asks for a threshold of 1.5 times that, which a
correct generator still exceeds now and then (for a two-valued field about one time in five),
so it is only a *warning*. A field *fails* when its TVD exceeds the threshold by a clear margin:
√(ln(1/α)/(2N)) with α = 10⁻⁶. That margin is McDiarmid's bound (one row changes the TVD by at
most 1/N), so a correct generator fails a field less than once in a million whatever the number
of categories, while a real shift of a few percent still fails at the default sizes.

Continuous fields are compared bin by bin against the quantile grid. Integer-valued ones (day
counts, times of day in minutes) are rounded after sampling, which moves mass across bin edges,
so for them the statistic is the distance between each published cumulative probability cᵢ and
the bracket [F(⌊vᵢ⌋−1), F(⌈vᵢ⌉)] of the observed distribution function, which holds whatever the
rounding (floor, round or ceiling); its limits come from the DKW inequality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.generator.qa.expected import (
    NULL_KEY,
    ContinuousExpectation,
    FrequencyExpectation,
    value_key,
)

#: Probability that a correct generator fails one field (blocking margin).
FALSE_FAILURE_RATE = 1e-6
#: Factor on the expected TVD under sampling noise (DESIGN §9).
NOISE_FACTOR = 1.5


@dataclass(frozen=True)
class Distance:
    """A distance, the noise threshold (warning) and the blocking limit (failure)."""

    statistic: str  # "tvd" or "quantile_bracket"
    value: float
    threshold: float
    limit: float
    n: int

    @property
    def within_noise(self) -> bool:
        return self.value <= self.threshold

    @property
    def failed(self) -> bool:
        return self.value > self.limit

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "statistic": self.statistic,
            "value": round(self.value, 6),
            "threshold": round(self.threshold, 6),
            "limit": round(self.limit, 6),
            "n": self.n,
        }


def expected_tvd(shares: np.ndarray, n: int) -> float:
    """Expected TVD between ``shares`` and the shares of an ``n``-row sample: Σ√(pᵢ/(2πN))."""
    if n <= 0:
        return 0.0
    p = np.asarray(shares, dtype=float)
    return float(np.sqrt(p[p > 0] / (2 * math.pi * n)).sum())


def margin(n: int, alpha: float = FALSE_FAILURE_RATE) -> float:
    """McDiarmid margin: P(TVD − E[TVD] > margin) ≤ alpha for an ``n``-row sample."""
    return math.sqrt(math.log(1 / alpha) / (2 * n)) if n > 0 else math.inf


def tvd(expected: pd.Series, observed: pd.Series) -> float:
    """Total variation distance between two share vectors indexed by value key."""
    both = pd.concat([expected, observed], axis=1, keys=["e", "o"]).fillna(0.0)
    return float(0.5 * (both["e"] - both["o"]).abs().sum())


def frequency_distance(expected: FrequencyExpectation, observed: pd.Series, n: int) -> Distance:
    """TVD of observed counts (index: value key) against the expected shares."""
    total = float(observed.sum())
    shares = observed / total if total > 0 else observed
    threshold = NOISE_FACTOR * expected_tvd(expected.shares.to_numpy(), n)
    return Distance("tvd", tvd(expected.shares, shares), threshold, threshold + margin(n), n)


def suppressed_share(expected: FrequencyExpectation, source_rows: int | None) -> float:
    """Share of the source's rows whose value of this field was suppressed (not released).

    The released weights (null included) of a field add up to the source's rows less the
    suppressed ones; both are rounded, so this is an estimate, clipped to [0, 1]."""
    if not source_rows:
        return 0.0
    return min(1.0, max(0.0, 1.0 - expected.weight / float(source_rows)))


def placed_distance(
    expected: FrequencyExpectation, observed: pd.Series, n: int, source_rows: int | None
) -> Distance:
    """Distance of a date placed from another date by a released duration (a date-chain member).

    Two things differ from a field drawn from its own released shares:

    * Such a date legitimately lands on days whose counts were suppressed, in about the share
      ``s`` of the source's rows that suppression removed from this field: the released shares
      are the source's restricted to the released days, renormalised. So the statistic is the
      TVD of the output *restricted to the released values* against the released shares, plus
      any excess of the output's share outside the released values over ``s`` less a rounding
      slack (each released weight and the row count are rounded, at most half a base each;
      ``ROUNDING_SLACK_BASE``). A generator that scatters dates outside what was released, or
      moves mass between released days, still fails.
    * A placed date follows the *smooth* distribution that anchor and duration imply, while the
      released day counts carry the source's own sampling noise (a day of 500 records is
      ±22): the comparison is between two samples, the output's ``n`` and the source's released
      records ``w``, so the noise threshold and the McDiarmid margin use the effective size
      ``n·w / (n + w)`` (one record of either sample moves the TVD by at most 1/n or 1/w).
    """
    s = suppressed_share(expected, source_rows)
    released = observed.index.isin(expected.shares.index)
    inside = observed[released]
    n_in = float(inside.sum())
    total = float(observed.sum())
    outside = 1.0 - n_in / total if total > 0 else 0.0
    restricted = tvd(expected.shares, inside / n_in) if n_in > 0 else 1.0
    records = float(source_rows or expected.weight or 1.0)
    slack = ROUNDING_SLACK_BASE * (math.sqrt(len(expected.shares)) + 1) / records
    value = min(1.0, restricted + max(0.0, outside - s - slack))
    w = float(expected.weight)
    n_eff = int(n_in * w / (n_in + w)) if n_in > 0 and w > 0 else int(n_in)
    threshold = NOISE_FACTOR * expected_tvd(expected.shares.to_numpy(), n_eff)
    limit = threshold + margin(n_eff) + (margin(n) if s > 0 else 0.0)
    return Distance("tvd_released_days", value, threshold, limit, n_eff)


#: Half the HES rounding base times a safety factor of 3: how far rounded weights can move ``s``.
ROUNDING_SLACK_BASE = 7.5


# ------------------------------------------------------------------------ observed values


def observed_counts(column: pa.ChunkedArray | pa.Array) -> pd.Series:
    """Count of each value (by key, null included) of a column: one pass in Arrow."""
    counts = column.value_counts()
    return tally_counts(
        counts.field("values").to_pylist(),
        counts.field("counts").to_numpy(zero_copy_only=False),
        pa.types.is_decimal(column.type),
    )


def tally_counts(values: list, numbers: np.ndarray, decimal: bool) -> pd.Series:
    """:func:`observed_counts` from a tally of distinct values and their counts (a column's
    ``value_counts``, or the merged tallies of its record batches)."""
    if decimal:
        # Arrow's decimal->float cast is not always the nearest double (0.09 can become
        # 0.09000000000000001); go through the exact decimal text instead, as the scraper does.
        values = [None if v is None else float(v) for v in values]
    series = pd.Series(numbers, index=[value_key(v) for v in values], dtype=float)
    return series.groupby(level=0).sum()


def numeric_values(column: pa.ChunkedArray, time_of_day: bool) -> np.ndarray:
    """Float values of a continuous column (NaN = null); HHMM text becomes minutes."""
    if time_of_day:
        text = pc.cast(column, pa.string())
        valid = pc.match_substring_regex(text, r"^([01][0-9]|2[0-3])[0-5][0-9]$")
        text = pc.if_else(valid, text, pa.scalar(None, pa.string()))
        hours = pc.cast(pc.utf8_slice_codeunits(text, 0, 2), pa.float64())
        minutes = pc.cast(pc.utf8_slice_codeunits(text, 2, 4), pa.float64())
        column = pc.add(pc.multiply(hours, 60.0), minutes)
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(float)


@dataclass(frozen=True)
class NumberTally:
    """A numeric column as its distinct present values (sorted) and their counts, plus the
    NaN (null or unreadable) count: what the quantile tests read, exact, and mergeable over
    record batches (:meth:`merge`) in memory bounded by the number of distinct values."""

    values: np.ndarray  # sorted distinct present values (float)
    counts: np.ndarray  # int64, one per value
    nulls: int

    @classmethod
    def of(cls, values: np.ndarray) -> NumberTally:
        is_null = np.isnan(values)
        distinct, counts = np.unique(values[~is_null], return_counts=True)
        return cls(distinct, counts.astype(np.int64), int(is_null.sum()))

    def merge(self, other: NumberTally) -> NumberTally:
        values = np.concatenate([self.values, other.values])
        counts = np.concatenate([self.counts, other.counts])
        distinct, where = np.unique(values, return_inverse=True)
        merged = np.bincount(where, weights=counts, minlength=len(distinct))
        return NumberTally(distinct, merged.astype(np.int64), self.nulls + other.nulls)

    @property
    def present(self) -> int:
        return int(self.counts.sum())

    @property
    def n(self) -> int:
        return self.present + self.nulls

    def at_most(self, x: np.ndarray) -> np.ndarray:
        """How many present values are <= each of ``x`` (``searchsorted(sorted, x, "right")``)."""
        cum = np.concatenate([[0], np.cumsum(self.counts)])
        return cum[np.searchsorted(self.values, x, side="right")]

    def quantiles(self, probabilities: np.ndarray) -> np.ndarray:
        """``np.quantile`` (linear) of the present values, from the tally: the same numbers,
        as numpy interpolates between the same two order statistics."""
        m = self.present
        virtual = (m - 1) * np.asarray(probabilities, dtype=float)
        below = np.floor(virtual)
        gamma = virtual - below
        low = below.astype(np.int64)
        high = np.minimum(low + 1, m - 1)
        cum = np.cumsum(self.counts)
        a = self.values[np.searchsorted(cum, low, side="right")]
        b = self.values[np.searchsorted(cum, high, side="right")]
        return np.asarray(
            [np.quantile(np.asarray([x, y]), g) for x, y, g in zip(a, b, gamma, strict=True)],
            dtype=float,
        )


def continuous_distance(expected: ContinuousExpectation, values: np.ndarray) -> Distance:
    """TVD between the observed share per quantile bin (plus nulls) and the expected masses."""
    n = len(values)
    is_null = np.isnan(values)
    present = values[~is_null]
    edges, masses = expected.bins()
    bins = np.searchsorted(edges, present, side="left")  # bin j: edges[j-1] < x <= edges[j]
    counts = np.bincount(bins, minlength=len(masses)).astype(float)
    exp_shares = np.concatenate([masses * (1 - expected.null_share), [expected.null_share]])
    obs_shares = np.concatenate([counts, [is_null.sum()]]) / max(n, 1)
    value = float(0.5 * np.abs(exp_shares - obs_shares).sum())
    threshold = NOISE_FACTOR * expected_tvd(exp_shares, n)
    return Distance("tvd", value, threshold, threshold + margin(n), n)


def quantile_bracket_distance(expected: ContinuousExpectation, values: np.ndarray) -> Distance:
    """Largest gap between a published cᵢ and the bracket [F(⌊vᵢ⌋−1), F(⌈vᵢ⌉)] (integer data)."""
    n = len(values)
    is_null = np.isnan(values)
    present = np.sort(values[~is_null])
    m = max(len(present), 1)
    q, c = expected.quantiles, expected.probabilities
    upper = np.searchsorted(present, np.ceil(q), side="right") / m  # F(ceil(v))
    lower = np.searchsorted(present, np.floor(q) - 1, side="right") / m  # F(floor(v) - 1)
    gaps = np.maximum.reduce([np.zeros_like(c), c - upper, lower - c])
    null_gap = abs(is_null.mean() - expected.null_share) if n else 0.0
    value = float(max(gaps.max(initial=0.0), null_gap))
    # KS-type limits: 1.36/√N is the 95% point (warning); DKW gives the blocking limit.
    threshold = 1.36 / math.sqrt(m)
    limit = math.sqrt(math.log(2 / FALSE_FAILURE_RATE) / (2 * m))
    return Distance("quantile_bracket", value, threshold, limit, n)


def continuous_tally_distance(expected: ContinuousExpectation, tally: NumberTally) -> Distance:
    """:func:`continuous_distance` of the values a :class:`NumberTally` holds."""
    n = tally.n
    edges, masses = expected.bins()
    bins = np.searchsorted(edges, tally.values, side="left")
    counts = np.bincount(bins, weights=tally.counts, minlength=len(masses)).astype(float)
    exp_shares = np.concatenate([masses * (1 - expected.null_share), [expected.null_share]])
    obs_shares = np.concatenate([counts, [tally.nulls]]) / max(n, 1)
    value = float(0.5 * np.abs(exp_shares - obs_shares).sum())
    threshold = NOISE_FACTOR * expected_tvd(exp_shares, n)
    return Distance("tvd", value, threshold, threshold + margin(n), n)


def quantile_bracket_tally_distance(
    expected: ContinuousExpectation, tally: NumberTally
) -> Distance:
    """:func:`quantile_bracket_distance` of the values a :class:`NumberTally` holds."""
    n = tally.n
    m = max(tally.present, 1)
    q, c = expected.quantiles, expected.probabilities
    upper = tally.at_most(np.ceil(q)) / m
    lower = tally.at_most(np.floor(q) - 1) / m
    gaps = np.maximum.reduce([np.zeros_like(c), c - upper, lower - c])
    null_gap = abs(tally.nulls / n - expected.null_share) if n else 0.0
    value = float(max(gaps.max(initial=0.0), null_gap))
    threshold = 1.36 / math.sqrt(m)
    limit = math.sqrt(math.log(2 / FALSE_FAILURE_RATE) / (2 * m))
    return Distance("quantile_bracket", value, threshold, limit, n)


def observed_shares(counts: pd.Series) -> pd.Series:
    total = counts.sum()
    return counts / total if total > 0 else counts


__all__ = [
    "NULL_KEY",
    "Distance",
    "continuous_distance",
    "expected_tvd",
    "frequency_distance",
    "margin",
    "numeric_values",
    "observed_counts",
    "quantile_bracket_distance",
    "tvd",
]
