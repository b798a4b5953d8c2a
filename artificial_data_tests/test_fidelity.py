"""Fidelity measured against raw: simulated raw HES -> scraper -> generator, realism compared.

The simulator plants realistic structure (same-day stays, winter pressure, heavy users, births
during the year, linked A&E admissions). Its raw year is scraped by the scraper's own code, the
metadata is taken as released as it is, and the generator makes the same number of rows. Every
measure of ``generator.qa.realism`` is then compared between raw and artificial with a
tolerance from sampling noise (4 standard errors of both sides; clustered by patient where a
measure is), and the rules that must hold exactly are asserted exactly. QA itself must pass.
Seeded: the same inputs give the same tables and the same verdict every run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.stores import RAW, ScopedStores
from artificial_data.generator.engine import (
    DEFAULT_CHUNK_ROWS,
    chunk_bounds,
    generate_chunk,
    generation_seed,
)
from artificial_data.generator.qa import run_qa
from artificial_data.generator.qa.patients import patient_codes
from artificial_data.generator.qa.realism import HEAVY_K, measures
from artificial_data.scraper.scrape import read_source, scrape
from artificial_data.simulator import write_raw_partition

pytestmark = pytest.mark.spark

ROWS = 30_000
YEAR = "2223"
SEED = 20261201


def _generate(metadata, spec, rows: int, seed: int) -> pa.Table:
    parts = [
        generate_chunk(metadata, spec, YEAR, index, size, seed, first)
        for index, first, size in chunk_bounds(rows, DEFAULT_CHUNK_ROWS)
    ]
    return pa.concat_tables(parts)


@pytest.fixture(scope="module", params=["hes_apc", "hes_ae"])
def raw_and_artificial(request, spark, tmp_path_factory):
    spec = load_spec(request.param)
    home = Path(tmp_path_factory.mktemp(f"fidelity_{spec.dataset}"))
    stores = ScopedStores.for_location("scraper", home, simulated_raw=True)
    write_raw_partition(stores, spec, YEAR, rows=ROWS, seed=SEED)
    path = stores.partition_path(RAW, spec.dataset, YEAR)
    metadata = scrape(read_source(spark, spec, YEAR, str(path)), spec, YEAR, True)
    seed = generation_seed(metadata.content_hash, spec.dataset, YEAR, 0)
    artificial = _generate(metadata.rows, spec, ROWS, seed)
    return spec, pq.read_table(path), artificial, metadata


def _share_tolerance(p: float, q: float, n: int, m: int) -> float:
    """Four standard errors of the difference of two independent shares."""
    return 4 * math.sqrt(p * (1 - p) / max(n, 1) + q * (1 - q) / max(m, 1))


def _heavy_se(sizes: np.ndarray, k: int) -> float:
    """Standard error of the share of episodes held by patients with more than k episodes,
    patients being the sampling unit (delta method): a few heavy users move it a lot."""
    total = float(sizes.sum())
    share = sizes[sizes > k].sum() / total
    return float(np.sqrt(np.sum((sizes * ((sizes > k) - share)) ** 2)) / total)


def test_qa_passes_on_the_artificial_table(raw_and_artificial):
    spec, _, artificial, metadata = raw_and_artificial
    result = run_qa(artificial, metadata.rows, spec, YEAR, metadata.header.source_rows_rounded)
    assert [c.name for c in result.blocking_failures] == [], [
        c.details for c in result.blocking_failures
    ]


def test_structural_rules_hold_exactly(raw_and_artificial):
    spec, raw, artificial, _ = raw_and_artificial
    got, want = measures(artificial, spec), measures(raw, spec)
    exact = [
        k
        for k in want
        if "filled where a date is empty" in k or k.startswith("rows with a gap") or " after " in k
    ]
    assert exact, "the spec should have durations, code groups or ages to check"
    for key in exact:
        assert want[key] == 0.0, f"the simulator breaks its own rule: {key}"
        assert got[key] == 0.0, key


def test_durations_and_seasonality_follow_raw(raw_and_artificial):
    spec, raw, artificial, metadata = raw_and_artificial
    got, want = measures(artificial, spec), measures(raw, spec)
    checked = 0
    for d in spec.durations:
        if f"median {d.field}" not in want:
            continue
        values = pc.cast(raw.column(d.field), pa.float64()).to_numpy(zero_copy_only=False)
        values = values[~np.isnan(values)]
        low, high = np.quantile(values, [0.45, 0.55])
        assert low <= got[f"median {d.field}"] <= high, (d.field, low, high, got)
        # The released grid says only that P(0 days) lies between the largest probability
        # whose quantile is <= 0 and the smallest whose quantile is > 0: that bracket's width
        # is what the metadata cannot tell, on top of sampling noise.
        grid = metadata.rows[metadata.rows["FIELD_NAME"] == d.field].iloc[0]
        q, c = np.asarray(grid["VALUE_NUMERIC_ARRAY"]), np.asarray(grid["WEIGHT_ARRAY"])
        bracket = float(c[q > 0].min(initial=1.0) - c[q <= 0].max(initial=0.0))
        key = f"{d.field} = 0 days"
        assert abs(got[key] - want[key]) <= bracket + _share_tolerance(
            want[key], got[key], len(values), artificial.num_rows
        ), (key, want[key], got[key], bracket)
        checked += 1
    for key in (k for k in want if k.endswith("in Jan-Mar")):
        assert abs(got[key] - want[key]) <= _share_tolerance(
            want[key], got[key], raw.num_rows, artificial.num_rows
        ), (key, want[key], got[key])
        checked += 1
    assert checked


def test_heavy_users_hold_their_share_of_episodes(raw_and_artificial):
    spec, raw, artificial, _ = raw_and_artificial
    raw_sizes = np.bincount(patient_codes(raw, spec))
    art_sizes = np.bincount(patient_codes(artificial, spec))
    got, want = measures(artificial, spec), measures(raw, spec)
    for k in HEAVY_K:
        key = f"episodes of patients with > {k}"
        se = math.hypot(_heavy_se(raw_sizes, k), _heavy_se(art_sizes, k))
        assert abs(got[key] - want[key]) <= 4 * se + 0.01, (key, want[key], got[key], se)


def test_linked_identifiers_keep_their_fill_rate(raw_and_artificial):
    spec, raw, artificial, _ = raw_and_artificial
    got, want = measures(artificial, spec), measures(raw, spec)
    keys = [k for k in want if k.endswith(" filled")]
    for key in keys:
        assert (
            abs(got[key] - want[key])
            <= _share_tolerance(want[key], got[key], raw.num_rows, artificial.num_rows) + 0.005
        ), (key, want[key], got[key])
