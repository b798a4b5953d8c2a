"""Chunked, seeded generation of one dataset-year (DESIGN §4).

Rows are produced in chunks of ``chunk_rows`` so that memory stays bounded at any size (10M
APC rows are 50 chunks of 200k). Each chunk draws from its own random stream, derived with
numpy's ``SeedSequence`` from (seed, dataset, financial year, chunk index): the output depends
only on those and on ``chunk_rows``, never on timing, threads or how many chunks ran before.
Patients are drawn inside a chunk, so a patient's episodes never straddle two chunks.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.schema import arrow_schema
from artificial_data.simulator import common_fields as cf
from artificial_data.simulator.context import Chunk, financial_year_bounds
from artificial_data.simulator.derive import apply_derivations, apply_durations
from artificial_data.simulator.models import DEFAULT_PROFILE, MODELS, PROFILES, generic_events
from artificial_data.simulator.patients import build_patients

SIMULATED_METADATA_KEY = b"artificial_data.simulated"


def chunk_rng(seed: int, dataset: str, financial_year: str, index: int) -> np.random.Generator:
    """The random stream of one chunk (independent of every other chunk)."""
    sequence = np.random.SeedSequence(
        entropy=int(seed) & 0xFFFFFFFFFFFFFFFF,
        spawn_key=(zlib.crc32(dataset.encode()), int(financial_year), index),
    )
    return np.random.Generator(np.random.PCG64(sequence))


def check_request(spec: DatasetSpec, financial_year: str, rows: int, chunk_rows: int) -> None:
    """Refuse a request that cannot produce a valid partition, naming the dataset."""
    if financial_year not in spec.financial_years:
        raise ValueError(
            f"{spec.dataset}: financial year {financial_year!r} is not in the spec; "
            f"expected one of {list(spec.financial_years)}"
        )
    if int(rows) < 1:
        raise ValueError(f"{spec.dataset}: rows must be at least 1, got {rows}")
    if int(chunk_rows) < 1:
        raise ValueError(f"{spec.dataset}: chunk_rows must be at least 1, got {chunk_rows}")


def build_chunk(
    spec: DatasetSpec, financial_year: str, index: int, rows: int, chunk_rows: int, seed: int
) -> pa.Table:
    """One chunk of ``rows`` rows with exactly ``arrow_schema(spec)``."""
    rng = chunk_rng(seed, spec.dataset, financial_year, index)
    fy_start, fy_end = financial_year_bounds(financial_year)
    profile = PROFILES.get(spec.dataset, DEFAULT_PROFILE)
    patients = build_patients(rng, rows, fy_end, profile)
    ch = Chunk(
        spec=spec,
        financial_year=financial_year,
        index=index,
        rows=rows,
        chunk_rows=chunk_rows,
        seed=seed,
        rng=rng,
        patients=patients,
        fy_start=fy_start,
        fy_end=fy_end,
    )
    cf.year_fields(ch)
    cf.patient_fields(ch)
    cf.provider_fields(ch)
    cf.residence_fields(ch)
    MODELS.get(spec.dataset, generic_events)(ch)
    cf.date_chain_fill(ch)
    cf.generic_fill(ch)
    cf.plant_rare_values(ch)
    cf.identifier_fields(ch)
    apply_derivations(spec, ch.cols, ch.n, keep=ch.keep_derived)
    apply_durations(spec, ch.cols)
    return assemble(spec, ch.cols, financial_year, seed)


def assemble(spec: DatasetSpec, cols: dict[str, pa.Array], financial_year: str, seed: int):
    """Columns in schema order with the exact Arrow types, labelled as simulated."""
    schema = arrow_schema(spec)
    arrays = []
    for f in schema:
        if f.name not in cols:
            raise ValueError(f"{spec.dataset}: the simulator produced no values for {f.name}")
        col = cols[f.name]
        if col.type != f.type:
            col = col.cast(f.type, safe=not pa.types.is_decimal(f.type))
        arrays.append(col)
    metadata = {
        SIMULATED_METADATA_KEY: b"true",
        b"artificial_data.dataset": spec.dataset.encode(),
        b"artificial_data.financial_year": financial_year.encode(),
        b"artificial_data.seed": str(seed).encode(),
    }
    return pa.Table.from_arrays(arrays, schema=schema.with_metadata(metadata))


def simulate_chunks(
    spec: DatasetSpec, financial_year: str, rows: int, seed: int, chunk_rows: int = 200_000
) -> Iterator[pa.Table]:
    """Yield tables with exactly ``arrow_schema(spec)``, ``rows`` rows in total."""
    check_request(spec, financial_year, rows, chunk_rows)
    index, remaining = 0, int(rows)
    while remaining > 0:
        size = min(int(chunk_rows), remaining)
        yield build_chunk(spec, financial_year, index, size, int(chunk_rows), int(seed))
        remaining -= size
        index += 1
