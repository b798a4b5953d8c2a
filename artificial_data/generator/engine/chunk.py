"""One chunk of an artificial table: pure numpy + pyarrow, no Spark.

A chunk is the unit of parallel work. Its content depends only on the plan (metadata + spec),
the table seed, the chunk index, its row count and its first global row index, so the same
table comes out whether chunks run in one process, in a loop, or spread over any number of
Spark partitions.
"""

from __future__ import annotations

import contextlib
import math
import weakref

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.schema import arrow_schema, arrow_type
from artificial_data.generator.engine.chains import place_chain, place_clock
from artificial_data.generator.engine.distributions import GenerationPlan, build_plan
from artificial_data.generator.engine.errors import GenerationError
from artificial_data.generator.engine.identifiers import (
    digit_identifier,
    patient_identifier,
    random_identifier,
)
from artificial_data.generator.engine.patients import layout_patients
from artificial_data.generator.engine.postprocess import post_process
from artificial_data.generator.engine.sampling import CategoricalSampler
from artificial_data.generator.engine.seeding import (
    BIRTH_STREAM,
    CHAIN_STREAM,
    CLOCK_STREAM,
    GROUP_STREAM,
    PATIENT_STREAM,
    chunk_rng,
)

#: Default rows per table-year of the two published sizes (as the NHS artificial HES files).
SAMPLE_ROWS = 10_000
FULL_ROWS = 1_000_000
#: Default rows per chunk (one chunk = one task's unit of work).
DEFAULT_CHUNK_ROWS = 100_000


def chunk_bounds(rows: int, chunk_rows: int) -> list[tuple[int, int, int]]:
    """``(chunk_index, first_row_index, chunk_rows)`` of every chunk of a ``rows``-row table.

    Depends only on ``rows`` and ``chunk_rows``: never on the engine's parallelism.
    """
    if rows < 0 or chunk_rows < 1:
        raise ValueError(f"rows must be >= 0 and chunk_rows >= 1, got {rows}, {chunk_rows}")
    n_chunks = math.ceil(rows / chunk_rows)
    return [(i, i * chunk_rows, min(chunk_rows, rows - i * chunk_rows)) for i in range(n_chunks)]


# The same metadata frame is usually passed for every chunk of a table: parse it once.
_PLANS: dict[tuple[int, str, int, str], tuple[weakref.ref, GenerationPlan]] = {}


def plan_for(metadata: pd.DataFrame, spec: DatasetSpec, financial_year: str) -> GenerationPlan:
    """The (cached) plan of ``metadata``; the cache is keyed on the frame object itself, so a
    frame must not be modified in place between calls."""
    key = (id(metadata), spec.dataset, id(spec), financial_year)
    cached = _PLANS.get(key)
    if cached is not None and cached[0]() is metadata:
        return cached[1]
    plan = build_plan(metadata, spec, financial_year)
    for stale in [k for k, (ref, _) in _PLANS.items() if ref() is None]:
        del _PLANS[stale]
    with contextlib.suppress(TypeError):  # not weak-referenceable: no caching
        _PLANS[key] = (weakref.ref(metadata), plan)
    return plan


def generate_chunk(
    metadata: pd.DataFrame,
    spec: DatasetSpec,
    financial_year: str,
    chunk_index: int,
    chunk_rows: int,
    seed: int,
    first_row_index: int,
) -> pa.Table:
    """``chunk_rows`` artificial rows with exactly ``arrow_schema(spec)``.

    ``metadata`` is the released metadata of one table-year (contract frame); ``seed`` comes
    from :func:`generation_seed`; ``first_row_index`` is the global index of the chunk's first
    row (keys and patient identifiers are unique across chunks that do not overlap).
    """
    plan = plan_for(metadata, spec, financial_year)
    return generate_chunk_from_plan(plan, chunk_index, chunk_rows, seed, first_row_index)


def generate_chunk_from_plan(
    plan: GenerationPlan,
    chunk_index: int,
    chunk_rows: int,
    seed: int,
    first_row_index: int,
    keep_dictionaries: bool = False,
) -> pa.Table:
    """:func:`generate_chunk` from an already parsed plan (what Spark executors run).

    ``keep_dictionaries``: sampled text columns stay dictionary-encoded (same values, the
    schema's text fields typed ``dictionary<int32, string>``), for a writer that stores them
    as Parquet dictionaries without ever building the strings (see :func:`coerce_to_schema`).
    """
    spec = plan.spec
    n = int(chunk_rows)
    if n < 0 or first_row_index < 0:
        raise GenerationError(
            spec.dataset,
            None,
            (chunk_rows, first_row_index),
            "chunk rows and first row index must be >= 0",
        )
    layout = layout_patients(chunk_rng(seed, chunk_index, PATIENT_STREAM), plan.episodes, n)
    patient_slot = np.uint64(first_row_index) + np.arange(layout.n_patients, dtype=np.uint64)
    row_index = np.uint64(first_row_index) + np.arange(n, dtype=np.uint64)

    cols: dict[str, pa.Array] = {}
    grouped = _code_groups(plan, chunk_index, n, seed)
    for c, chain in enumerate(plan.chains):
        member_rngs = [chunk_rng(seed, chunk_index, spec.field(m).position) for m in chain.members]
        cols.update(
            place_chain(chain, chunk_rng(seed, chunk_index, CHAIN_STREAM + c), member_rngs, n)
        )
    if spec.clock_durations:
        cols.update(
            place_clock(
                spec,
                plan.row_samplers,
                chunk_rng(seed, chunk_index, CLOCK_STREAM),
                lambda name: chunk_rng(seed, chunk_index, spec.field(name).position),
                n,
            )
        )
    for f in spec.fields:
        rng = chunk_rng(seed, chunk_index, f.position)
        if f.name in cols:
            continue
        if f.name in grouped:
            cols[f.name] = plan.row_samplers[f.name].sample_filled(rng, grouped[f.name])
        elif f.role == "identifier":
            cols[f.name] = _identifier(plan, f, rng, layout, patient_slot, row_index, seed)
        elif f.name in plan.row_samplers:
            cols[f.name] = plan.row_samplers[f.name].sample(rng, n)
        elif f.name in plan.patient_samplers:
            cols[f.name] = plan.patient_samplers[f.name].sample(rng, layout)
        elif f.role != "derived":  # fully suppressed: null
            cols[f.name] = pa.nulls(n, type=arrow_type(f.spark_type))

    births = chunk_rng(seed, chunk_index, BIRTH_STREAM)
    post_process(spec, cols, n, layout.patient, layout.position, births)
    return coerce_to_schema(spec, cols, n, keep_dictionaries)


def _code_groups(plan: GenerationPlan, chunk_index: int, n: int, seed: int) -> dict:
    """Which rows get a value in each position of each positional code group.

    One uniform per row and group is compared with every position's released fill share
    (a monotone coupling): position k is filled where the uniform is below its share, so each
    position keeps its own fill rate exactly and, as HES fill rates never increase with the
    position, the filled positions of a row are always 1..m, with no gap.
    """
    filled: dict[str, np.ndarray] = {}
    for g, members in enumerate(plan.spec.code_groups):
        samplers = {
            m: plan.row_samplers[m]
            for m in members
            if isinstance(plan.row_samplers.get(m), CategoricalSampler)
        }
        if not samplers:
            continue
        u = chunk_rng(seed, chunk_index, GROUP_STREAM + g).random(n)
        for name, sampler in samplers.items():
            filled[name] = u < sampler.filled_share
    return filled


def _identifier(plan, f, rng, layout, patient_slot, row_index, seed) -> pa.Array:
    spec = plan.spec
    if f.identifier.per == "patient":
        per_patient = patient_identifier(f, rng, patient_slot, seed, spec.dataset)
        return per_patient.take(pa.array(layout.patient))
    if f.identifier.format == "digits":
        values = digit_identifier(f, row_index, seed, spec.dataset)
    else:
        values = random_identifier(f, rng, len(row_index))
    share = plan.identifier_nulls.get(f.name, 0.0)
    if share > 0:  # a linked key filled on its released share of records only
        is_null = pa.array(rng.random(len(row_index)) < share)
        values = pc.if_else(is_null, pa.scalar(None, values.type), values)
    return values


def coerce_to_schema(
    spec: DatasetSpec, cols: dict[str, pa.Array], n: int, keep_dictionaries: bool = False
) -> pa.Table:
    """The columns in schema order, each cast to its spec type.

    A dictionary-encoded column of the right value type is decoded, unless
    ``keep_dictionaries``: then it stays encoded, as Parquet stores it either way (a file
    written without Arrow's own schema, ``store_schema=False``, reads back as plain text).
    """
    schema = arrow_schema(spec)
    arrays = []
    for target in schema:
        arr = cols.get(target.name)
        if arr is None:
            arr = pa.nulls(n, type=target.type)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        encoded = pa.types.is_dictionary(arr.type) and arr.type.value_type == target.type
        if arr.type != target.type and not (keep_dictionaries and encoded):
            try:
                arr = arr.cast(target.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise GenerationError(
                    spec.dataset, target.name, str(arr.type), f"cannot be coerced to {target.type}"
                ) from exc
        arrays.append(arr)
    return pa.Table.from_arrays(
        arrays,
        schema=pa.schema([pa.field(t.name, a.type) for t, a in zip(schema, arrays, strict=True)]),
    )
