"""Arrow arrays straight from numpy buffers, nulls given as a numpy mask.

``pa.array(values, mask=is_null)`` converts the mask element by element: at 100k rows it
costs about 40 times as much as packing the mask into a validity bitmap with numpy and wrapping
both buffers, which the generator and the simulator do for every sampled column of every chunk.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def validity_buffer(is_null: np.ndarray | None) -> pa.Buffer | None:
    """An Arrow validity bitmap from a boolean 'is null' mask (None when nothing is null)."""
    if is_null is None or not is_null.any():
        return None
    return pa.py_buffer(np.packbits(~np.asarray(is_null, dtype=bool), bitorder="little"))


def masked_array(
    values: np.ndarray, is_null: np.ndarray | None = None, type: pa.DataType | None = None
) -> pa.Array:
    """``pa.array(values, type=type, mask=is_null)`` for a 1-d numeric numpy array, without
    copying the values. ``type`` must have the values' own width (e.g. ``int32`` values as
    ``date32``); other arrays (bool, objects, datetimes) take ``pa.array``."""
    values = np.asarray(values)
    if values.dtype.kind not in "iuf" or values.ndim != 1:
        return pa.array(values, type=type, mask=is_null)
    natural = pa.from_numpy_dtype(values.dtype)
    target = natural if type is None else type
    if target.bit_width != natural.bit_width:
        raise ValueError(f"{values.dtype} values cannot be read as {target} without a cast")
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(
        target, len(values), [validity_buffer(is_null), pa.py_buffer(values)]
    )
