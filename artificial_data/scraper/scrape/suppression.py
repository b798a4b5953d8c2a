"""The disclosure policy applied to every count the scraper publishes (DESIGN §6).

All filtering uses the *raw* count (``common.disclosure``): values, demographic patterns and
episodes-per-patient counts below ``min_count`` are dropped, the rest rounded half-up to the
rounding base. Episodes per patient are not simply dropped at the rare top end: the tail is
pooled into one top-coded bucket (so that the generator still makes some heavy users) which is
itself subject to the threshold, and rare counts below it are pooled into bands published at
their rounded mean count.
"""

from __future__ import annotations

import math

import pandas as pd

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DisclosurePolicy
from artificial_data.common.disclosure import round_half_up, suppress_counts


def rounded_count(count: int, policy: DisclosurePolicy) -> int:
    """One count under the policy: 0 if below the threshold, else rounded half-up."""
    if count < policy.min_count:
        return 0
    return int(round_half_up(count, policy.rounding_base))


def suppress(frame: pd.DataFrame, policy: DisclosurePolicy) -> tuple[pd.DataFrame, int]:
    """``(kept rows with WEIGHT, number of rows dropped)``; the raw COUNT column is removed."""
    kept = suppress_counts(frame, policy, count_column="COUNT")
    return kept, len(frame) - len(kept)


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def top_code_episodes(
    episodes: pd.DataFrame, policy: DisclosurePolicy
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Suppress the episodes-per-patient distribution, pooling rare counts instead of dropping
    them (heavy users hold a large share of all episodes; dropping them would lose it).

    ``episodes`` has NUMBER (episodes per patient) and COUNT (patients). The tail above the
    highest value whose raw count meets the threshold goes into one top-coded pool; if the pool
    is below the threshold it absorbs the next lower values until it meets it (or is dropped,
    when all patients together do not). Below the pool, rare values are pooled into **bands**:
    walking up the counts, rare values accumulate until together they rest on at least
    ``min_count`` patients (see ``_band_complete``), and the band is published at the rounded
    mean of its counts (merged with that value's row if it is a common value). A last band
    that never reaches the threshold joins the published value nearest to its mean. Returns
    rows with VALUE_NUMERIC, VALUE_STRING, VALUE_NUMERIC_ARRAY and WEIGHT, and counts for the
    report.
    """
    ordered = episodes.sort_values("NUMBER").reset_index(drop=True)
    numbers = ordered["NUMBER"].astype(int).tolist()
    counts = ordered["COUNT"].astype(int).tolist()
    common = [i for i, c in enumerate(counts) if c >= policy.min_count]
    start = common[-1] + 1 if common else 0
    while 0 < start < len(numbers) and sum(counts[start:]) < policy.min_count:
        start -= 1
    published: dict[int, int] = {}
    band: list[tuple[int, int]] = []
    banded = 0
    for n, c in zip(numbers[:start], counts[:start], strict=True):
        if c >= policy.min_count:
            published[n] = published.get(n, 0) + c
            continue
        band.append((n, c))
        if _band_complete(sum(bc for _, bc in band), policy):
            _add_band(published, band)
            banded += len(band)
            band = []
    pool_numbers, pool_counts = numbers[start:], counts[start:]
    pool_total = sum(pool_counts)
    pooled = bool(pool_numbers) and pool_total >= policy.min_count
    dropped = 0 if pooled else len(pool_numbers)
    if band:
        if published:
            mean = _band_mean(band)
            nearest = min(published, key=lambda v: (abs(v - mean), v))
            published[nearest] += sum(bc for _, bc in band)
            banded += len(band)
        elif pooled:
            pool_numbers = [n for n, _ in band] + pool_numbers
            pool_counts = [c for _, c in band] + pool_counts
            pool_total = sum(pool_counts)
        else:
            dropped += len(band)
    rows = [
        {"VALUE_NUMERIC": float(n), "VALUE_STRING": None, "VALUE_NUMERIC_ARRAY": None, "COUNT": c}
        for n, c in sorted(published.items())
    ]
    if pooled:
        smallest = pool_numbers[0]
        mean = sum(n * c for n, c in zip(pool_numbers, pool_counts, strict=True)) / pool_total
        rows.append(
            {
                "VALUE_NUMERIC": float(smallest),
                "VALUE_STRING": mc.TOP_CODED,
                "VALUE_NUMERIC_ARRAY": [float(smallest), float(_half_up(mean))],
                "COUNT": pool_total,
            }
        )
    frame = pd.DataFrame(
        rows, columns=["VALUE_NUMERIC", "VALUE_STRING", "VALUE_NUMERIC_ARRAY", "COUNT"]
    )
    kept, _ = suppress(frame, policy)
    report = {
        "values_kept": sum(
            1 for n, c in zip(numbers[:start], counts[:start], strict=True) if c >= policy.min_count
        ),
        "values_banded": banded,
        "values_pooled": len(pool_numbers) if pooled else 0,
        "values_dropped": dropped,
        "top_coded_from": int(pool_numbers[0]) if pooled else None,
    }
    return kept, report


def _band_complete(total: int, policy: DisclosurePolicy) -> bool:
    """A band closes once it rests on ``min_count`` patients and rounding would not inflate
    it (a band closed at the first total of 8 or 9 would be published as 10: many such bands
    would add heavy users that never existed), or once it is twice the threshold."""
    if total < policy.min_count:
        return False
    return round_half_up(total, policy.rounding_base) <= total or total >= 2 * policy.min_count


def _band_mean(band: list[tuple[int, int]]) -> float:
    return sum(n * c for n, c in band) / sum(c for _, c in band)


def _add_band(published: dict[int, int], band: list[tuple[int, int]]) -> None:
    """A band of rare counts, published at the rounded mean of its counts."""
    value = max(1, _half_up(_band_mean(band)))
    published[value] = published.get(value, 0) + sum(c for _, c in band)
