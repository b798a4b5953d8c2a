"""Percentile grids and null rates of continuous fields, all fields in one aggregation.

Every continuous field gets its finest grid (1st..99th percentile) in a single ``agg`` over the
table (exact ``percentile``: deterministic, so the metadata hash does not depend on how the
rows happen to be partitioned; its memory grows with the number of *distinct* values, which
for HES durations and times of day is small). The coarser grids are subsets of the finest
one, so the disclosure rule (every bin must rest on at least ``min_count`` records) can choose
the grid afterwards without another pass. Min and max are never computed.

The tails beyond the 1st and 99th percentile are described by extra outer points
(``LOWER_TAIL`` / ``UPPER_TAIL``, e.g. the 0.5th and 99.5th percentile), computed in the same
aggregation and published only with the finest grid and only as far out as the same rule
allows: every bin between two published points, and the outermost bin beyond the last one,
rests on at least ``min_count`` records (:func:`choose_tails`). The generator models the mass
beyond the outermost published point from the released points themselves, so no minimum or
maximum is ever needed.

The same aggregation counts values that failed their checked cast (e.g. ``12:3x`` as a time
of day) and text that is not valid UTF-8, and keeps the smallest such value (as hex, for the
latter) so that the error can describe one by its shape or its first invalid byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from artificial_data.common.dataset_spec import DisclosurePolicy
from artificial_data.scraper.scrape.casts import FieldCast
from artificial_data.scraper.scrape.errors import (
    bad_value_error,
    invalid_utf8_error,
    outside_domain_error,
)

#: Grids tried from finest to coarsest, as numbers of quantiles (99 = percentiles 1..99).
GRIDS = (99, 19, 9, 3, 1)
FINEST = tuple(round(i / 100, 2) for i in range(1, 100))
#: Extra outer points of the finest grid, from the 1st (99th) percentile outwards.
LOWER_TAIL = (0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001)
UPPER_TAIL = (0.995, 0.998, 0.999, 0.9995, 0.9998, 0.9999)
_ALL_PROBABILITIES = (*reversed(LOWER_TAIL), *FINEST, *UPPER_TAIL)


def grid_probabilities(quantiles: int) -> tuple[float, ...]:
    """Cumulative probabilities of a grid of ``quantiles`` equal-probability cut points."""
    step = quantiles + 1
    return tuple(round(i / step, 2) for i in range(1, step))


@dataclass(frozen=True)
class ContinuousSummary:
    """Raw (unsuppressed) summary of one continuous field; never leaves the scraper as is."""

    field: str
    non_null: int
    nulls: int
    percentiles: tuple[float, ...] | None  # values at FINEST, None if there are no values
    tails: tuple[tuple[float, float], ...] = ()  # (probability, value) at the tail points


def summarise_continuous(
    df: DataFrame, casts: list[FieldCast]
) -> tuple[int, list[ContinuousSummary]]:
    """``(source row count, raw summaries)`` from one aggregation; raise on uncastable values."""
    aggs = [F.count(F.lit(1)).alias("rows")]
    for i, cast in enumerate(casts):
        aggs.append(F.count(cast.value).alias(f"n{i}"))
        aggs.append(F.percentile(cast.value, F.lit(list(_ALL_PROBABILITIES))).alias(f"p{i}"))
        if cast.bad is not None:
            aggs.append(F.count(cast.bad).alias(f"bn{i}"))
            aggs.append(F.min(cast.bad).alias(f"bv{i}"))
        if cast.invalid is not None:
            aggs.append(F.count(cast.invalid).alias(f"un{i}"))
            aggs.append(F.min(cast.invalid).alias(f"uv{i}"))
        outside = outside_domain(cast)
        if outside is not None:
            aggs.append(F.count(F.when(outside, F.lit(1))).alias(f"on{i}"))
    row = df.agg(*aggs).collect()[0].asDict()
    total = int(row["rows"])
    for i, cast in enumerate(casts):
        if cast.invalid is not None and row[f"un{i}"]:
            raise invalid_utf8_error(cast, row[f"uv{i}"], int(row[f"un{i}"]))
    for i, cast in enumerate(casts):
        if cast.bad is not None and row[f"bn{i}"]:
            raise bad_value_error(cast, row[f"bv{i}"], f"{row[f'bn{i}']} such value(s)")
    for i, cast in enumerate(casts):
        if row.get(f"on{i}"):
            # Out-of-range values would shape the outer percentiles: fail closed, before
            # anything is written, so the previous metadata and release stay as they are.
            raise outside_domain_error(cast, int(row[f"on{i}"]))
    summaries = []
    for i, cast in enumerate(casts):
        non_null = int(row[f"n{i}"])
        values = row[f"p{i}"]
        present = bool(values) and non_null > 0
        by_probability = dict(zip(_ALL_PROBABILITIES, values, strict=True)) if present else {}
        summaries.append(
            ContinuousSummary(
                field=cast.field.name,
                non_null=non_null,
                nulls=total - non_null,
                percentiles=tuple(float(by_probability[p]) for p in FINEST) if present else None,
                tails=tuple(
                    (p, float(by_probability[p])) for p in (*LOWER_TAIL, *UPPER_TAIL) if present
                ),
            )
        )
    return total, summaries


def outside_domain(cast: FieldCast) -> Column | None:
    """True where a present value lies outside the field's declared numeric domain (its range,
    whole numbers only where integral, or one of its numeric codes); None without a domain."""
    domain = cast.field.domain
    if domain is None or not domain.is_numeric:
        return None
    value = cast.value
    if domain.kind == "range":
        inside = (value >= F.lit(domain.minimum)) & (value <= F.lit(domain.maximum))
        if domain.integral:
            inside = inside & (value == F.floor(value))
    else:
        inside = F.lit(False)
    if domain.codes:
        inside = inside | value.isin([float(c) for c in domain.codes])
    return value.isNotNull() & ~inside


def choose_grid(non_null: int, policy: DisclosurePolicy) -> int | None:
    """The finest grid whose every bin rests on at least ``min_count`` records, or None.

    A grid of q cut points splits the non-null records into q + 1 equal-probability bins.
    """
    for quantiles in GRIDS:
        if non_null >= policy.min_count * (quantiles + 1):
            return quantiles
    return None


def choose_tails(non_null: int, policy: DisclosurePolicy) -> tuple[float, ...]:
    """The extra outer probabilities that may be published with the finest grid.

    Working outwards from the 1st (99th) percentile, a point is kept only while the bin it
    closes (between it and the previous point) and the outermost bin beyond it each rest on
    at least ``min_count`` records; both tails are symmetric, so one check covers both.
    """
    kept: list[float] = []
    previous = FINEST[0]
    for p in LOWER_TAIL:
        if round(non_null * min(previous - p, p), 6) < policy.min_count:
            break
        kept.append(p)
        previous = p
    upper = [round(1.0 - p, 6) for p in kept]
    return (*sorted(kept), *upper)


def with_tails(
    values: list[float],
    probs: list[float],
    tails: tuple[tuple[float, float], ...],
    keep: tuple[float, ...],
) -> tuple[list[float], list[float]]:
    """A grid's ``(values, probabilities)`` extended by the tail points in ``keep``."""
    lookup = {round(p, 6): v for p, v in tails}
    low = [p for p in keep if p < 0.5]
    high = [p for p in keep if p > 0.5]
    out_probs = [*low, *probs, *high]
    out_values = [lookup[round(p, 6)] for p in low] + values + [lookup[round(p, 6)] for p in high]
    return out_values, out_probs


def coarsen(percentiles: tuple[float, ...], quantiles: int) -> tuple[list[float], list[float]]:
    """``(values, probabilities)`` of the ``quantiles`` grid, picked from the finest grid."""
    probs = grid_probabilities(quantiles)
    values = [percentiles[round(p * 100) - 1] for p in probs]
    return values, list(probs)
