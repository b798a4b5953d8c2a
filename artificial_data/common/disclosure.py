"""Small-number suppression and rounding (DESIGN §6).

The rule is applied to *raw* counts: a count below the policy's ``min_count`` is dropped (the
value disappears from the metadata), every other count is rounded half-up to the nearest
``rounding_base``. Filtering on the raw count, not the rounded one, is what the HES publication
rule says, and what the tests pin down at the boundary (7 dropped, 8 kept as 10).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from artificial_data.common.dataset_spec import DisclosurePolicy


def round_half_up(counts: np.ndarray | pd.Series | int, base: int) -> np.ndarray:
    """Round non-negative integer counts half-up to the nearest ``base`` (12 -> 10, 13 -> 15)."""
    arr = np.asarray(counts, dtype=np.int64)
    if (arr < 0).any():
        raise ValueError("counts must be non-negative")
    # floor((2n + b) / 2b) * b is exact integer half-up rounding for any base b.
    return ((2 * arr + base) // (2 * base)) * base


def is_published(counts: np.ndarray | pd.Series, policy: DisclosurePolicy) -> np.ndarray:
    """Which raw counts survive suppression."""
    return np.asarray(counts, dtype=np.int64) >= policy.min_count


def suppress_counts(
    frame: pd.DataFrame, policy: DisclosurePolicy, count_column: str = "COUNT"
) -> pd.DataFrame:
    """Drop the rows whose raw count is below the threshold; round the rest into ``WEIGHT``.

    The raw count column is removed from the result so that it cannot leak downstream.
    """
    keep = is_published(frame[count_column].to_numpy(), policy)
    out = frame.loc[keep].copy()
    out["WEIGHT"] = round_half_up(out[count_column].to_numpy(), policy.rounding_base).astype(float)
    return out.drop(columns=[count_column])


def meets_policy(weights: np.ndarray | pd.Series, policy: DisclosurePolicy) -> np.ndarray:
    """Which published weights are consistent with the policy (a multiple of the base, and
    at least the smallest rounded value a surviving raw count can have)."""
    w = np.asarray(weights, dtype=float)
    smallest = float(round_half_up(policy.min_count, policy.rounding_base))
    return (np.mod(w, policy.rounding_base) == 0) & (w >= smallest)
