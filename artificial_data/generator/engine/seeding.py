"""Seeds: one per (metadata content, dataset, year), one random stream per (chunk, field).

Why streams per field: a field's values then depend only on the seed, the chunk and the
field's position, not on which other fields happen to have metadata, so a change in one
field's metadata leaves every other column bit-identical. Why per chunk: chunks are the unit
of parallel work, and their boundaries depend only on the row count and the chunk size,
never on the number of Spark partitions.
"""

from __future__ import annotations

import hashlib

import numpy as np

#: Stream number of the patient layout (episodes per patient); fields use their position.
PATIENT_STREAM = 0
#: Streams of the structures that couple fields (far above any field position): one per
#: positional code group (``GROUP_STREAM + g``), date chain, patient-level fix-up.
GROUP_STREAM = 10_000
CHAIN_STREAM = 20_000
BIRTH_STREAM = 30_000
CLOCK_STREAM = 40_000
#: Offset of the per-table (not per-chunk) streams that pick identifier scrambles.
_TABLE_STREAM_OFFSET = 1_000_000


def generation_seed(
    content_hash: str, dataset: str, financial_year: str, base_seed: int = 0
) -> int:
    """The seed of one artificial table-year: a 63-bit integer from a SHA-256 digest.

    Bound to the released metadata's content hash, so a new release gives new data and the
    same release always gives the same data.
    """
    text = f"{content_hash}|{dataset}|{financial_year}|{int(base_seed)}"
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def chunk_rng(seed: int, chunk_index: int, stream: int) -> np.random.Generator:
    """The generator of ``stream`` in chunk ``chunk_index``: a child of
    ``SeedSequence([seed, chunk_index])`` (its ``stream``-th spawn)."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), int(chunk_index)], spawn_key=(int(stream),))
    )


def table_rng(seed: int, stream: int) -> np.random.Generator:
    """A generator shared by every chunk of the table (for identifier scramble parameters)."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed)], spawn_key=(_TABLE_STREAM_OFFSET + int(stream),))
    )
