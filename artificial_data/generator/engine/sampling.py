"""Vectorised sampling: inverse-CDF draws, percentile-bin draws and fast Arrow string building.

Why inverse CDF: one uniform draw per row and one search of a cumulative table samples a
whole column in a few numpy calls, whatever the number of categories (ICD-10 fields have
thousands; :func:`search_cumulative` keeps that search short). Values live in a small Arrow
array and are picked by index (:func:`pick`): text values as a dictionary-encoded column (the
drawn indices over the category array, no string copied), so string columns are never built
one Python string at a time, and a chunk written to Parquet keeps them encoded
(``coerce_to_schema``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from artificial_data.common.arrow_buffers import masked_array
from artificial_data.common.arrow_strings import fixed_width_strings

_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
ALPHANUMERIC = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


def cumulative(weights: np.ndarray) -> np.ndarray:
    """Normalised cumulative weights, the last one exactly 1.0 (so any u < 1 finds a bin)."""
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    cum /= cum[-1]
    cum[-1] = 1.0
    return cum


#: Tables up to this many categories are searched by comparing with every weight in turn.
COMPARE_ALL_CATEGORIES = 20
#: Guide-table slices of [0, 1) per category of a larger table.
GUIDE_SLICES_PER_CATEGORY = 16
#: ... up to this many slices in all (a diagnosis table has thousands of categories).
GUIDE_MAX_SLICES = 2**16


def draw_indices(rng: np.random.Generator, cum: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices drawn with the probabilities whose cumulative sums are ``cum``: for each
    uniform ``u``, the first index whose cumulative weight exceeds ``u``."""
    return search_cumulative(cum, rng.random(n))


def search_cumulative(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``searchsorted(cum, u, side="right")`` capped at the last index, exactly, but faster.

    A binary search per row costs a cache miss per step over thousands of categories, and
    numpy's ``searchsorted`` is slow even for three. So: a small table counts, per row, the
    cumulative weights not above ``u`` (one vectorised comparison per category); a larger one
    takes the bracket of ``u``'s slice of [0, 1) from a guide table (the answers at the
    slice's two edges) and bisects only the rows whose bracket holds more than one index,
    most rows none.
    """
    k = len(cum)
    u = np.asarray(u, dtype=np.float64)
    if k <= COMPARE_ALL_CATEGORIES:
        idx = np.zeros(len(u), dtype=np.intp)
        for weight in cum[:-1]:
            idx += weight <= u
        return idx
    slices = min(GUIDE_SLICES_PER_CATEGORY * k, GUIDE_MAX_SLICES)
    # Row u falls in slice floor(u * slices); that product can round across a slice edge, so
    # each slice's bracket is taken a hair wider than the slice (1e-12, far above rounding,
    # far below any weight that matters): it always holds the answer, and only a weight that
    # ends within that hair of an edge leaves more rows to bisect.
    edges = np.arange(slices + 1) / slices
    low = np.searchsorted(cum, edges[:-1] - 1e-12, side="right")
    high = np.minimum(np.searchsorted(cum, edges[1:] + 1e-12, side="right"), k - 1)
    bucket = np.minimum((u * slices).astype(np.intp), slices - 1)
    lo, hi = low[bucket], high[bucket]
    active = np.flatnonzero(lo < hi)
    while len(active):
        mid = (lo[active] + hi[active]) // 2
        above = cum[mid] <= u[active]
        lo[active] = np.where(above, mid + 1, lo[active])
        hi[active] = np.where(above, hi[active], mid)
        active = active[lo[active] < hi[active]]
    return lo


def pick(values: pa.Array, indices: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """``values[indices]``, null where ``mask``: the column of one sampled field.

    Text values come back dictionary-encoded (``indices`` over ``values``): picking is then a
    numpy operation whatever the length of the codes, and Parquet stores such a column as the
    dictionary it is. A null among ``values`` (a released null category) becomes a null
    index, as Arrow's dictionaries must not carry the nulls a Parquet writer sees. Other types
    are taken as plain arrays (fixed width: as cheap as numpy).
    """
    if not pa.types.is_string(values.type):
        return values.take(masked_array(np.asarray(indices), mask))
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    codes = np.asarray(indices, dtype=np.int32)
    if not valid.all():
        remap = np.where(valid, np.cumsum(valid) - 1, -1).astype(np.int32)
        codes = remap[codes]
        missing = codes < 0
        mask = missing if mask is None else (mask | missing)
        values = values.filter(pa.array(valid))
    return pa.DictionaryArray.from_arrays(masked_array(codes, mask), values)


def null_mask(rng: np.random.Generator, share: float, n: int) -> np.ndarray | None:
    """Rows to make null at rate ``share`` (None when the share is zero)."""
    if share <= 0.0:
        return None
    return rng.random(n) < share


def random_characters(
    rng: np.random.Generator, n: int, width: int, alphabet: np.ndarray = ALPHANUMERIC
) -> np.ndarray:
    """An ``(n, width)`` matrix of characters drawn uniformly from ``alphabet``."""
    return alphabet[rng.integers(0, len(alphabet), size=(n, width), dtype=np.uint8)]


def digit_characters(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers as an ``(n, width)`` char matrix."""
    values = np.asarray(values, dtype=np.uint64)
    powers = np.uint64(10) ** np.arange(width - 1, -1, -1, dtype=np.uint64)
    return _DIGITS[(values[:, None] // powers) % np.uint64(10)]


def base_characters(values: np.ndarray, width: int, alphabet: np.ndarray) -> np.ndarray:
    """Digits of non-negative integers in base ``len(alphabet)``, most significant first."""
    values = np.asarray(values, dtype=np.uint64).copy()
    base = np.uint64(len(alphabet))
    out = np.empty((len(values), width), dtype=np.uint8)
    for column in range(width - 1, -1, -1):
        out[:, column] = alphabet[(values % base).astype(np.intp)]
        values //= base
    return out


def time_of_day_text(minutes: np.ndarray, is_null: np.ndarray | None) -> pa.Array:
    """HHMM text from minutes after midnight (clipped to 00:00..23:59)."""
    m = np.clip(np.rint(minutes), 0, 24 * 60 - 1).astype(np.int64)
    return fixed_width_strings(digit_characters(m // 60 * 100 + m % 60, 4), is_null)


# --------------------------------------------------------------------------------------------
# Row-level samplers (one per independently sampled field)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoricalSampler:
    """A frequency table: ``values`` (typed Arrow, may hold a null) with their weights."""

    values: pa.Array
    cum: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> pa.Array:
        return pick(self.values, draw_indices(rng, self.cum, n))

    @property
    def filled_share(self) -> float:
        """The share of rows with a value (not null)."""
        probs = np.diff(np.concatenate([[0.0], self.cum]))
        is_null = self.values.is_null().to_numpy(zero_copy_only=False)
        return float(1.0 - probs[is_null].sum())

    def sample_filled(self, rng: np.random.Generator, filled: np.ndarray) -> pa.Array:
        """Values where ``filled`` (drawn from the non-null values with their weights),
        null elsewhere: the field's own distribution when ``filled`` holds on a share
        :attr:`filled_share` of rows, independently of the values."""
        probs = np.diff(np.concatenate([[0.0], self.cum]))
        is_null = self.values.is_null().to_numpy(zero_copy_only=False)
        probs = np.where(is_null, 0.0, probs)
        n = len(filled)
        if probs.sum() <= 0:
            return pa.nulls(n, type=self.values.type)
        idx = draw_indices(rng, cumulative(probs), n)
        return pick(self.values, idx, ~filled)


#: Widest span of whole numbers (first to last released quantile) whose CDF is spread evenly
#: (:func:`even_whole_cdf`); a wider field keeps the linear interpolation of its quantiles.
EVEN_SPREAD_MAX_VALUES = 100_000
#: Most sweeps of that smoothing (it stops sooner, once no value moves by 1e-13).
EVEN_SPREAD_SWEEPS = 50_000


def even_whole_cdf(quantiles: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CDF ``F(k)`` at each whole number ``k`` from the first to the last quantile that
    spreads the mass as evenly as the released points allow.

    For whole-number data the released points say only that ``F(k)`` lies in a bracket:
    at least the largest ``probs[j]`` with ``quantiles[j] <= k``, below the smallest with
    ``quantiles[j] > k``. Every ``F`` inside the brackets reproduces every released quantile.
    Linear interpolation of the quantiles and rounding (what non-whole fields get) picks one
    that puts a whole 1-2 percentile steps on alternate days: HES waiting times of 0, 1, 2, 3
    days came out as 2.5%, 2.0%, 3.0%, 2.0% where the simulated source falls smoothly from
    2.55% to 2.22%, and a date placed from such a duration (OP ``REQDATE = APPTDATE -
    WAITING``) lost its weekday mix, which QA caught at 10M rows (session 14). This picks
    the ``F`` with the least sum of squared day masses, ``sum (F(k) - F(k-1))^2``, within
    the brackets (each sweep moves every inner point halfway to the mean of its neighbours,
    then back into its bracket: a damped Jacobi iteration with a projection, which converges
    to that minimum).
    The sweeps start from linear interpolation, and the end points stay where it puts them.
    On OP WAITING (618 days) they move ``F`` by up to 0.005 from that start and stop after
    about 19,600 sweeps (0.12 s, session 14).
    """
    ks = np.arange(quantiles[0], quantiles[-1] + 1)
    at_or_below = np.searchsorted(quantiles, ks, side="right")  # quantiles[j] <= k: j < this
    lower = probs[at_or_below - 1]
    upper = np.append(probs, 1.0)[at_or_below]
    upper = np.nextafter(upper, 0.0)  # F(k) must stay below the next released probability
    cdf = np.clip(np.interp(ks + 0.5, quantiles, probs), lower, upper)
    for sweep in range(EVEN_SPREAD_SWEEPS):
        before = cdf
        cdf = cdf.copy()
        inner = before[1:-1] / 2 + (before[:-2] + before[2:]) / 4  # damped: no flip-flop
        cdf[1:-1] = np.clip(inner, lower[1:-1], upper[1:-1])
        if sweep % 64 == 63 and np.abs(cdf - before).max() < 1e-13:
            break
    return ks, cdf


@dataclass(frozen=True)
class ContinuousSampler:
    """A percentile grid: uniform within bins, exponential tails beyond the outer points.

    ``probs`` are cumulative probabilities of the ``quantiles``. No min or max is ever
    published, so the mass below the first and above the last quantile (``probs[0]`` and
    ``1 - probs[-1]``) is placed by a tail model made from the released points alone: an
    exponential tail whose density where it meets the grid equals that of the outermost bin
    of positive width (so the density has no jump), clipped to the field's declared range
    (``lower`` / ``upper``; e.g. durations never below 0). Every published cumulative
    probability is therefore reproduced, the outer ones included.

    A whole-number field (an integer type, every quantile whole, not a time of day) is drawn
    within the grid from :func:`even_whole_cdf`, the evenest whole-number CDF the released
    points allow, instead of rounding the interpolated quantiles (which gives alternate days
    whole percentiles).
    """

    quantiles: np.ndarray
    probs: np.ndarray
    null_share: float
    arrow_type: pa.DataType
    integer: bool
    time_of_day: bool
    lower: float | None = None
    upper: float | None = None

    def _tail_scale(self, side: int) -> float:
        """Scale of the exponential tail on one side (0: lower, -1: upper)."""
        q, p = self.quantiles, self.probs
        mass = p[0] if side == 0 else 1.0 - p[-1]
        widths = np.diff(q)
        masses = np.diff(p)
        order = range(len(widths)) if side == 0 else range(len(widths) - 1, -1, -1)
        for k in order:
            if widths[k] > 0:
                return float(mass * widths[k] / masses[k])
        return 0.0

    #: :func:`even_whole_cdf` of a whole-number field, None where the grid is interpolated;
    #: made with the sampler (on the driver, so a shipped plan carries it).
    whole_cdf: tuple[np.ndarray, np.ndarray] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        q = self.quantiles
        whole = self.integer and not self.time_of_day and len(q) > 1
        if whole and np.array_equal(q, np.rint(q)) and q[-1] - q[0] < EVEN_SPREAD_MAX_VALUES:
            object.__setattr__(self, "whole_cdf", even_whole_cdf(q, self.probs))
        else:
            object.__setattr__(self, "whole_cdf", None)

    def quantile_function(self, u: np.ndarray) -> np.ndarray:
        """Values at cumulative probabilities ``u`` in [0, 1) (the inverse CDF)."""
        q, p = self.quantiles, self.probs
        if len(q) == 1:
            x = np.full(len(u), q[0], dtype=np.float64)
        elif self.whole_cdf is not None:
            ks, cdf = self.whole_cdf
            # the smallest whole k with F(k) >= u; beyond the grid, the tails below
            x = ks[np.minimum(np.searchsorted(cdf, u, side="left"), len(ks) - 1)]
        else:
            x = np.interp(u, p, q)
        if len(q) > 1:
            low = u < p[0]
            if low.any():
                scale = self._tail_scale(0)
                ratio = np.maximum(u[low], 1e-300) / p[0]
                x[low] = q[0] + scale * np.log(ratio)
            high = u > p[-1]
            if high.any():
                scale = self._tail_scale(-1)
                ratio = np.maximum(1.0 - u[high], 1e-300) / (1.0 - p[-1])
                x[high] = q[-1] - scale * np.log(ratio)
        if self.lower is not None or self.upper is not None:
            x = np.clip(x, self.lower, self.upper)
        return x

    def sample_numbers(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.quantile_function(rng.random(n))

    def sample(self, rng: np.random.Generator, n: int) -> pa.Array:
        x = self.sample_numbers(rng, n)
        is_null = null_mask(rng, self.null_share, n)
        return self.to_arrow(x, is_null)

    def to_arrow(self, x: np.ndarray, is_null: np.ndarray | None) -> pa.Array:
        """Numbers as the field's Arrow type (rounded for integers, HHMM for times)."""
        if self.time_of_day:
            return time_of_day_text(x, is_null)
        if pa.types.is_string(self.arrow_type):
            text = masked_array(np.rint(x).astype(np.int64), is_null).cast(pa.string())
            return text
        if self.integer:
            x = np.rint(x)
            info = np.iinfo(self.arrow_type.to_pandas_dtype())
            x = np.clip(x, info.min, info.max).astype(self.arrow_type.to_pandas_dtype())
            return masked_array(x, is_null, self.arrow_type)
        if pa.types.is_decimal(self.arrow_type):
            x = np.round(x, self.arrow_type.scale)
            return masked_array(x, is_null).cast(self.arrow_type, safe=False)
        return masked_array(np.asarray(x, dtype=np.float64), is_null).cast(self.arrow_type)
