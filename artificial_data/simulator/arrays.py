"""Vectorised building blocks: turn numpy draws into Arrow arrays without Python loops.

Why: the simulator has to write ~200 columns for 10M rows. Building Python strings row by row
would dominate the run time, so every string column is made either by ``take`` from a small
dictionary of values or by laying fixed-width ASCII bytes straight into an Arrow buffer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.arrow_buffers import masked_array
from artificial_data.common.arrow_strings import fixed_width_strings

EPOCH = np.datetime64("1970-01-01", "D")
#: HES placeholder dates: 1800-01-01 means "null/not applicable", 1801-01-01 "invalid".
PLACEHOLDER_NULL_DATE = int((np.datetime64("1800-01-01", "D") - EPOCH).astype(np.int64))
PLACEHOLDER_INVALID_DATE = int((np.datetime64("1801-01-01", "D") - EPOCH).astype(np.int64))
#: Dates before this are placeholders, not real dates (durations and ages ignore them).
REAL_DATE_FLOOR = int((np.datetime64("1900-01-01", "D") - EPOCH).astype(np.int64))

_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """An (n, width) ASCII matrix of zero-padded decimal digits of non-negative integers."""
    values = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return _DIGITS[(values[:, None] // powers) % 10]


def prefixed_numbers(
    prefix: str, values: np.ndarray, width: int, mask_null: np.ndarray | None = None
) -> pa.Array:
    """Strings like ``E01000123``: a constant prefix then zero-padded digits."""
    n = len(values)
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (n, len(prefix)))
    return fixed_width_strings(np.hstack([head, digits(values, width)]), mask_null)


def random_alphanumeric(
    rng: np.random.Generator, n: int, length: int, prefix: str = ""
) -> pa.Array:
    """``n`` random upper-case alphanumeric strings of total ``length`` (prefix included)."""
    body = _ALNUM[rng.integers(0, len(_ALNUM), size=(n, length - len(prefix)))]
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (n, len(prefix)))
    return fixed_width_strings(np.hstack([head, body]) if prefix else body)


def take_strings(
    values: pa.Array | np.ndarray | list[str], index: np.ndarray, mask_null=None
) -> pa.Array:
    """``values[index]`` as an Arrow string array, nulls where ``mask_null``."""
    if isinstance(values, pa.Array):
        dictionary = values
    else:
        dictionary = pa.array(list(values), type=pa.string())
    idx = masked_array(np.asarray(index, dtype=np.int32), mask_null)
    return pc.take(dictionary, idx)


def dates(days: np.ndarray, mask_null: np.ndarray | None = None) -> pa.Array:
    """A date32 array from days since 1970-01-01."""
    return masked_array(np.asarray(days, dtype=np.int64).astype(np.int32), mask_null, pa.date32())


def year_month(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(year, month 1-12) of days since 1970-01-01."""
    months = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]")
    m = months.astype(np.int64)
    return m // 12 + 1970, m % 12 + 1


def month_start(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the first day of (year, month)."""
    months = (np.asarray(year, dtype=np.int64) - 1970) * 12 + (np.asarray(month) - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def hhmm(minutes: np.ndarray, mask_null: np.ndarray | None = None) -> pa.Array:
    """HES time-of-day text (``0930``) from minutes after midnight (wrapped to one day)."""
    m = np.asarray(minutes, dtype=np.int64) % 1440
    return fixed_width_strings(np.hstack([digits(m // 60, 2), digits(m % 60, 2)]), mask_null)


def weighted_index(rng: np.random.Generator, cumulative: np.ndarray, n: int) -> np.ndarray:
    """Indices drawn with probabilities given by a normalised cumulative weight vector."""
    idx = np.searchsorted(cumulative, rng.random(n), side="right")
    return np.minimum(idx, len(cumulative) - 1)


def cumulative(weights: np.ndarray | list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    c = np.cumsum(w)
    return c / c[-1]


def zipf_weights(k: int, exponent: float = 1.1) -> np.ndarray:
    """Zipf-like weights for ranks 1..k: a few common values and a long tail of rare ones."""
    return 1.0 / np.arange(1, k + 1, dtype=np.float64) ** exponent


def replace_where(column: pa.Array, mask: np.ndarray, value) -> pa.Array:
    """``column`` with ``value`` at the rows where ``mask`` is true."""
    scalar = value if isinstance(value, pa.Scalar) else pa.scalar(value, type=column.type)
    return pc.if_else(pa.array(mask), scalar, column)
