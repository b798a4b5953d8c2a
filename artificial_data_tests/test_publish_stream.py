"""Publication streamed (issue 16): a year is read, formatted, hashed and copied in batches, and
the files are byte for byte what the whole-table writer produced before."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.stores import ScopedStores
from artificial_data.generator.engine import generate_chunk, generation_seed
from artificial_data.generator.publish import package
from artificial_data.generator.publish.csv_format import (
    csv_chunks,
    csv_sha256,
    format_column,
    write_csv,
)
from artificial_data.generator.publish.releases import publish_release
from artificial_data.generator.publish.year_rows import ParquetRows, TableRows
from artificial_data_tests.generator_metadata import plausible_metadata

YEAR = "2122"


def old_csv(table: pa.Table) -> bytes:
    """The published CSV as the whole-table writer made it before streaming (kept verbatim as
    the reference: the header, then the lines of 100,000-row slices joined in Python)."""
    pieces = [",".join(table.column_names) + "\n"]
    for start in range(0, table.num_rows, 100_000):
        part = table.slice(start, 100_000)
        columns = [format_column(part.column(i)) for i in range(part.num_columns)]
        lines = pc.binary_join_element_wise(
            *columns, ",", null_handling="replace", null_replacement=""
        )
        if len(lines):
            pieces.append("\n".join(lines.to_pylist()) + "\n")
    return "".join(pieces).encode("utf-8")


def old_parquet(table: pa.Table, path: Path, row_group_size: int) -> None:
    """The whole-table Parquet copy as it was written before streaming."""
    schema = pa.schema([f.remove_metadata() for f in table.schema])
    plain = pa.Table.from_arrays(table.columns, schema=schema)
    pq.write_table(plain, path, **{**package.PARQUET_OPTIONS, "row_group_size": row_group_size})


def _set(table: pa.Table, name: str, head: list) -> pa.Table:
    i = table.schema.get_field_index(name)
    field = table.schema.field(i)
    values = head + table.column(i)[len(head) :].to_pylist()
    return table.set_column(i, field, pa.array(values, field.type))


@pytest.fixture(scope="module")
def apc() -> pa.Table:
    """An APC year (every HES type: text codes, int, long, double, date) with the values whose
    formatting matters planted first: nulls, empty text, quotes, commas, exponent doubles."""
    spec = load_spec("hes_apc")
    seed = generation_seed("stream-test", spec.dataset, YEAR)
    table = generate_chunk(plausible_metadata(spec, YEAR), spec, YEAR, 0, 2_500, seed, 0)
    types = {str(f.type) for f in table.schema}
    assert {"string", "int32", "int64", "double", "date32[day]"} <= types
    by_type = {}
    for field in table.schema:
        by_type.setdefault(str(field.type), field.name)
    table = _set(table, by_type["string"], ["01", None, "", 'say "hi"', "a,b", "x\ny"])
    table = _set(table, by_type["double"], [1e-05, 1e20, None, 2.5e-7, 0.5])
    table = _set(table, by_type["int32"], [None, 7])
    table = _set(table, by_type["int64"], [None, 123456789012])
    table = _set(table, by_type["date32[day]"], [None])
    return table


@pytest.fixture(scope="module")
def parquet_year(apc, tmp_path_factory) -> list[Path]:
    """The same rows as an artificial partition might hold them: two files, many row groups."""
    folder = tmp_path_factory.mktemp("artificial")
    pq.write_table(apc.slice(0, 1_000), folder / "part-00000.parquet", row_group_size=333)
    pq.write_table(apc.slice(1_000), folder / "part-00001.parquet", row_group_size=400)
    return sorted(folder.glob("*.parquet"))


def test_streamed_csv_is_the_old_csv_byte_for_byte(apc, parquet_year, tmp_path):
    reference = old_csv(apc)
    assert b'"say ""hi"""' in reference and b"0.00000025" in reference  # planted values
    for source in (apc, TableRows(apc), ParquetRows(parquet_year)):
        written = write_csv(source, tmp_path / "year.csv")
        assert (tmp_path / "year.csv").read_bytes() == reference
        assert written.sha256 == hashlib.sha256(reference).hexdigest() == csv_sha256(source)
        assert written.size == len(reference) and written.rows == apc.num_rows


def test_the_csv_bytes_do_not_depend_on_the_batch_size(apc):
    # One-row batches on a slice only: they cost a formatting call per row.
    for table, rows in ((apc.slice(0, 60), 1), (apc, 7), (apc, 999), (apc, 100_000)):
        reference = old_csv(table)
        chunks = list(csv_chunks(table, rows))
        assert b"".join(c.to_pybytes() for c in chunks) == reference
        assert len(chunks) == 1 + -(-table.num_rows // rows)  # header + one chunk per batch


def test_parquet_rows_are_read_in_bounded_batches(apc, parquet_year):
    rows = ParquetRows(parquet_year)
    assert rows.num_rows == apc.num_rows and rows.schema.names == apc.column_names
    sizes = [b.num_rows for b in rows.batches(300)]
    assert max(sizes) <= 300 and sum(sizes) == apc.num_rows
    assert pa.Table.from_batches(list(rows.batches(300))).equals(apc)


@pytest.mark.parametrize("buffered", [True, False])
def test_reading_a_parquet_year_holds_one_row_group_not_the_file(tmp_path, buffered):
    """A pre-buffered reader over a whole file kept every column chunk it had read until it
    closed: publication's memory grew with the year (1M -> 3M APC rows: 1.52x). Memory must
    not depend on how many row groups the file has."""
    import numpy as np

    rng = np.random.default_rng(16)
    group = 4_000

    def year(groups: int) -> Path:
        path = tmp_path / f"year{groups}.parquet"
        with pq.ParquetWriter(path, pa.schema([("k", pa.string()), ("v", pa.float64())])) as w:
            for _ in range(groups):  # random text: the file is as large as its values
                hexed = rng.bytes(32 * group).hex()
                text = pa.array([hexed[i : i + 64] for i in range(0, 64 * group, 64)])
                w.write_table(pa.table({"k": text, "v": rng.random(group)}))
        return path

    def peak(path: Path) -> int:
        before, most = pa.total_allocated_bytes(), 0
        for batch in ParquetRows([path], buffered).batches(1_000):
            most = max(most, pa.total_allocated_bytes() - before)
            del batch
        return most

    small, large = year(2), year(40)
    assert pq.ParquetFile(large).metadata.num_row_groups == 40
    assert peak(large) < 1.5 * peak(small)
    assert peak(large) < large.stat().st_size / 4


@pytest.mark.parametrize("group", [1_000, 333])
def test_streamed_parquet_is_the_old_parquet_byte_for_byte(
    apc, parquet_year, tmp_path, monkeypatch, group
):
    monkeypatch.setattr(package, "ROW_GROUP_ROWS", group)
    old_parquet(apc, tmp_path / "old.parquet", group)
    package.write_parquet(ParquetRows(parquet_year), tmp_path / "new.parquet")
    assert (tmp_path / "new.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "new.parquet").metadata.num_row_groups == -(
        -apc.num_rows // group
    )


def _release(home: Path, years: dict):
    spec = load_spec("hes_apc")
    provenance = {y: {"metadata_content_hash": "ab" * 32, "seed": 1} for y in years}
    return publish_release(
        ScopedStores.for_location("generator", home, catalog=None),
        spec,
        years,
        provenance,
        kind="sample",
        release_month="202405",
        recorded_at="2024-05-01T00:00:00+00:00",
        release_info={"years": provenance},
    )


def test_a_release_from_parquet_batches_is_the_release_from_whole_tables(
    apc, parquet_year, tmp_path
):
    whole = _release(tmp_path / "a", {YEAR: apc, "2223": apc.slice(0, 777)})
    streamed = _release(
        tmp_path / "b", {YEAR: ParquetRows(parquet_year), "2223": TableRows(apc.slice(0, 777))}
    )
    # The same inputs, hashes and file sha256; only the Parquet year records the files it was
    # read from (what lets the next release carry it over, carry.py).
    sources = {y: streamed.record["years"][y].pop("published_from") for y in (YEAR, "2223")}
    assert sources[YEAR]["source_sha256"] and sources["2223"] is None
    assert all(whole.record["years"][y].pop("published_from") is None for y in (YEAR, "2223"))
    assert streamed.record == whole.record
    assert streamed.zip_path.read_bytes() == whole.zip_path.read_bytes()
    with zipfile.ZipFile(streamed.zip_path) as archive:
        csv_bytes = archive.read(f"{streamed.name}/artificial_hes_apc_{YEAR}.csv")
    assert csv_bytes == old_csv(apc)
    assert streamed.record["inputs"]["years"][YEAR]["artificial_sha256"] == (
        hashlib.sha256(csv_bytes).hexdigest()
    )
