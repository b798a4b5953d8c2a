"""Text that Spark has not checked as UTF-8, checked in a Python worker on its distinct values.

Spark's ``is_valid_utf8`` on every row cost as much as handing the column over (1M APC rows:
27-30 s against 17-20 s unchecked, docs/performance.md), so the frequency and patient passes
hand text codes over as read and check only the distinct values a worker has counted. A value
that is not UTF-8 then leaves the worker only as hex, never as text.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from artificial_data.common.safe_text import first_invalid_utf8_byte


def invalid_utf8(keys: pa.Array) -> np.ndarray | None:
    """Which of ``keys`` (text that nothing has checked) are not valid UTF-8, or ``None`` if all
    are. Run on a partition's distinct values, not its rows. Arrow's full validation is one
    pass in C++; only when it fails is each value tried, and no message of either is kept, as
    it could quote the bytes."""
    try:
        keys.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    as_bytes = keys.view(pa.binary()).to_pylist()
    return np.array(
        [b is not None and first_invalid_utf8_byte(b) is not None for b in as_bytes], dtype=bool
    )


def as_hex(keys: pa.Array) -> pa.Array:
    """Upper-case hex of each value's bytes, as Spark's ``hex`` writes it."""
    return pa.array([b.hex().upper() for b in keys.view(pa.binary()).to_pylist()], pa.string())
