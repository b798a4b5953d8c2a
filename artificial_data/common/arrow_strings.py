"""Building Arrow string columns straight from numpy character matrices.

Fixed-width codes (identifiers, HHMM times, MMYYYY dates) are made by the million in the
simulator and the generator; building them as Python strings would dominate the run time.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from artificial_data.common.arrow_buffers import validity_buffer


def fixed_width_strings(chars: np.ndarray, is_null: np.ndarray | None = None) -> pa.Array:
    """A string array from an ``(n, width)`` uint8 matrix of ASCII characters."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [validity_buffer(is_null), pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())],
    )
