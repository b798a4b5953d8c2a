"""The generator on local Spark: same table as the pure chunk function, for any parallelism."""

from __future__ import annotations

import pyarrow as pa
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.schema import arrow_schema, spark_schema
from artificial_data.generator.engine import (
    GenerationError,
    chunk_bounds,
    generate_chunk,
    generate_table,
    generation_seed,
)
from artificial_data.generator.engine.spark_generate import generate_table_partitioned
from artificial_data_tests.generator_metadata import plausible_metadata

pytestmark = pytest.mark.spark


def local_table(metadata, spec, year, rows, seed, chunk_rows) -> pa.Table:
    return pa.concat_tables(
        generate_chunk(metadata, spec, year, i, size, seed, first)
        for i, first, size in chunk_bounds(rows, chunk_rows)
    )


def test_spark_table_equals_the_chunk_loop_for_any_partitioning(spark):
    spec = load_spec("hes_apc")
    md = plausible_metadata(spec)
    seed = generation_seed("f" * 64, spec.dataset, "2122")
    expected = local_table(md, spec, "2122", 2500, seed, 600)

    default = generate_table(spark, md, spec, "2122", 2500, seed, chunk_rows=600)
    assert default.schema == spark_schema(spec)
    one = generate_table_partitioned(spark, md, spec, "2122", 2500, seed, 600, num_partitions=1)
    three = generate_table_partitioned(spark, md, spec, "2122", 2500, seed, 600, num_partitions=3)
    for df in (default, one, three):
        got = df.toArrow()
        assert got.schema.equals(arrow_schema(spec))
        assert got.equals(expected)
    # Repartitioning the output changes the row order only, never the rows.
    shuffled = default.repartition(4).toArrow().sort_by(spec.primary_key)
    assert shuffled.equals(expected.sort_by(spec.primary_key))


@pytest.mark.parametrize("dataset", ["hes_op", "hes_ae"])
def test_spark_schema_is_exact_for_every_dataset(spark, dataset):
    spec = load_spec(dataset)
    df = generate_table(spark, plausible_metadata(spec), spec, "2122", 300, 11, chunk_rows=200)
    assert df.schema == spark_schema(spec)
    got = df.toArrow()
    assert got.num_rows == 300 and got.schema.equals(arrow_schema(spec))
    assert got.column(spec.primary_key).to_pandas().is_unique


def test_bad_metadata_fails_on_the_driver_before_any_task(spark):
    spec = load_spec("hes_op")
    md = plausible_metadata(spec)
    md.loc[0, "FIELD_NAME"] = "NOT_IN_SPEC"
    with pytest.raises(GenerationError, match=r"hes_op\.NOT_IN_SPEC"):
        generate_table(spark, md, spec, "2122", 100, 1)
