"""The generator on local Spark: same table as the pure chunk function, for any parallelism."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.schema import arrow_schema, spark_schema
from artificial_data.generator.engine import (
    GenerationError,
    chunk_bounds,
    generate_chunk,
    generate_table,
    generation_seed,
    write_table_files,
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


def _read_files(folder) -> pa.Table:
    return pq.read_table(sorted(str(p) for p in folder.glob("*.parquet")))


@pytest.mark.parametrize("dataset", ["hes_apc", "hes_ae"])
def test_files_written_by_the_tasks_hold_the_chunk_loops_rows_in_order(spark, tmp_path, dataset):
    """The folder backend's path (each task writes its chunks' files) gives the same table,
    row for row, with exactly the schema: dictionary-encoded text reads back as plain text,
    by pyarrow and by Spark."""
    spec = load_spec(dataset)
    md = plausible_metadata(spec)
    seed = generation_seed("e" * 64, spec.dataset, "2122")
    folder = tmp_path / "partition"
    written = write_table_files(spark, md, spec, "2122", 1300, seed, folder, chunk_rows=500)

    assert written.files == ("part-00000.parquet", "part-00001.parquet", "part-00002.parquet")
    assert written.rows == 1300
    assert sorted(p.name for p in folder.iterdir()) == list(written.files)
    got = _read_files(folder)
    assert got.schema.equals(arrow_schema(spec))
    assert got.equals(local_table(md, spec, "2122", 1300, seed, 500))
    assert spark.read.parquet(str(folder)).schema == spark_schema(spec)


def test_writing_files_refuses_a_folder_that_exists(spark, tmp_path):
    """The folder is the partition's fresh version: one already there (another write's, or
    a planted one) is never written into."""
    spec = load_spec("hes_op")
    folder = tmp_path / "partition"
    folder.mkdir()
    (folder / "part-00009.parquet").write_bytes(b"planted")
    with pytest.raises(FileExistsError):
        write_table_files(spark, plausible_metadata(spec), spec, "2122", 100, 1, folder)
    assert [p.name for p in folder.iterdir()] == ["part-00009.parquet"]


def test_a_file_appearing_beside_the_chunks_fails_the_write(spark, tmp_path):
    """The driver accepts the folder only if it holds exactly the chunks' files: here a file
    planted while the tasks run (as a stray attempt or another process could leave one)."""
    spec = load_spec("hes_op")
    folder = tmp_path / "partition"
    real_range = spark.range

    class Planting:
        def __getattr__(self, name):
            return getattr(spark, name)

        def range(self, *args):
            (folder / "part-00042.parquet").write_bytes(b"not a chunk")
            return real_range(*args)

    with pytest.raises(RuntimeError, match=r"hes_op 2122: the partition folder holds"):
        write_table_files(Planting(), plausible_metadata(spec), spec, "2122", 100, 1, folder)
