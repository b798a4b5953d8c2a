"""The leak scanner can find what it looks for: a scanner that finds nothing proves nothing."""

import gzip
import io
import sqlite3
import struct
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq

from artificial_data_tests.canaries import (
    ALL_CANARIES,
    NHS_NUMERIC,
    needles_of,
    number_needles,
    plant,
)
from artificial_data_tests.leak_scan import Matcher, scan

NEEDLE = b"Zebedee Quimby"
NUMBER = 9434765870


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _parquet(table: pa.Table, compression: str = "snappy") -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=compression)
    return buffer.getvalue()


def test_matcher_finds_every_needle_including_nested_ones():
    matcher = Matcher([b"Q871", b"Q8710", b"871", b"abc"])
    assert matcher.find(b"xxQ8710yy") == {b"Q871", b"Q8710", b"871"}
    assert matcher.find(b"nothing here") == set()
    many = [f"Q9{i:04d}".encode() for i in range(600)]
    assert Matcher(many).find(b"..Q90599..Q90000") == {b"Q90599", b"Q90000"}


def test_plain_file_and_clean_tree(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"hello " + NEEDLE + b" bye")
    (tmp_path / "b.txt").write_bytes(b"nothing")
    report = scan([tmp_path], [NEEDLE])
    assert [h.location for h in report.hits] == [str((tmp_path / "a.txt").resolve())]
    assert report.files == 2
    (tmp_path / "a.txt").unlink()
    assert scan([tmp_path], [NEEDLE]).hits == []


def test_needle_in_a_deflated_zip_member_inside_a_zip(tmp_path):
    inner = _zip({"notes/readme.txt": b"x" * 1000 + NEEDLE + b"y" * 1000})
    data = _zip({"inner.zip": inner, "other.csv": b"a,b\n1,2\n"})
    assert NEEDLE not in data  # deflate hides it from a plain byte search
    (tmp_path / "release.zip").write_bytes(data)
    report = scan([tmp_path], [NEEDLE])
    assert [h.location.split("!", 1)[1] for h in report.hits] == ["inner.zip!notes/readme.txt"]


def test_int64_in_a_snappy_parquet_column_and_parquet_in_a_zip(tmp_path):
    table = pa.table(
        {
            "ID": pa.array(range(1000, 1500), type=pa.int64()),
            "WAIT": pa.array([i * 7919 for i in range(499)] + [NUMBER], type=pa.int64()),
            "CODES": pa.array([["A01", "B02"]] * 499 + [["C03", "Zebedee Quimby"]]),
        }
    )
    data = _parquet(table, "snappy")
    (tmp_path / "part-0.parquet").write_bytes(data)
    (tmp_path / "tables.zip").write_bytes(_zip({"t.parquet": _parquet(table, "zstd")}))
    needles = [*number_needles(NUMBER), NEEDLE]
    report = scan([tmp_path], needles)
    parquet_hits = {
        (h.location.rsplit("/", 1)[1], h.needle) for h in report.hits if h.how == "parquet"
    }
    assert ("part-0.parquet#WAIT", str(NUMBER).encode()) in parquet_hits
    assert ("part-0.parquet#CODES", NEEDLE) in parquet_hits
    assert ("tables.zip!t.parquet#WAIT", str(NUMBER).encode()) in parquet_hits
    assert not report.errors


def test_double_and_date_values_are_rendered(tmp_path):
    from datetime import date

    table = pa.table(
        {
            "ALCFRAC": pa.array([0.5, float(NUMBER)], type=pa.float64()),
            "ADMIDATE": pa.array([date(2022, 5, 1), date(1, 1, 1)], type=pa.date32()),
            "DISDATE": pa.array([date(2022, 5, 2), date(9999, 12, 31)], type=pa.date32()),
        }
    )
    (tmp_path / "t.parquet").write_bytes(_parquet(table, "zstd"))
    report = scan([tmp_path], [str(NUMBER).encode(), b"0001-01-01", b"9999-12-31"])
    assert report.needles() == {str(NUMBER).encode(), b"0001-01-01", b"9999-12-31"}


def test_sqlite_cells_including_an_unflushed_wal(tmp_path):
    db = tmp_path / "runs.db"
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE event_logs (id INTEGER PRIMARY KEY, event TEXT, blob BLOB)")
    connection.commit()
    connection.execute(
        "INSERT INTO event_logs (event, blob) VALUES (?, ?)",
        ('{"description": "Zebedee Quimby"}', gzip.compress(struct.pack("<q", NUMBER) * 3)),
    )
    connection.commit()
    try:
        assert NEEDLE not in db.read_bytes()  # still only in the WAL
        report = scan([tmp_path], [NEEDLE, struct.pack("<q", NUMBER)])
    finally:
        connection.close()
    hows = {(h.needle, h.how) for h in report.hits}
    assert (NEEDLE, "sqlite") in hows
    assert (struct.pack("<q", NUMBER), "sqlite") in hows
    assert any(h.location.endswith("runs.db-wal") for h in report.hits)
    assert not report.errors


def test_gzip_and_symlinks_that_leave_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "log.gz").write_bytes(gzip.compress(b"..." + NEEDLE + b"..."))
    (outside / "secret.txt").write_bytes(NEEDLE)
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "escape_dir").symlink_to(outside, target_is_directory=True)
    report = scan([root], [NEEDLE])
    assert [h.location.rsplit("/", 1)[1] for h in report.hits] == ["log.gz!gunzip"]
    assert len(report.skipped) == 2


def test_catalogue_needles_are_distinct_and_nhs_numbers_valid():
    needles = needles_of(ALL_CANARIES)
    assert len(needles) >= 600
    assert str(int(NHS_NUMERIC)).encode() in needles
    assert all(len(n) >= 6 for n in needles)
    assert b"Q871" not in needles and b",Q871," in needles  # short codes only when delimited


def test_plant_appends_canary_rows_and_keeps_the_schema(tmp_path):
    import json

    from artificial_data.common.stores import RAW, ScopedStores
    from artificial_data_tests.canaries import BLOCKING_CANARIES, UNKNOWN_COLUMN_CANARY

    stores = ScopedStores.for_location("scraper", tmp_path, simulated_raw=True)
    schema = pa.schema(
        [
            ("EPIKEY", pa.int64()),
            ("ADMISORC", pa.string()),
            ("ALCFRAC", pa.float64()),
            ("ADMIDATE", pa.date32()),
            ("GPPRAC", pa.string()),
        ],
        metadata={b"artificial_data.simulated": b"true"},
    )
    base = pa.table(
        {
            "EPIKEY": [1, 2, 3],
            "ADMISORC": ["19", "51", None],
            "ALCFRAC": [None, 0.25, None],
            "ADMIDATE": pa.array([None] * 3, type=pa.date32()),
            "GPPRAC": ["A12345", "B23456", None],
        },
        schema=schema,
    )

    def writer(folder):
        folder.mkdir(parents=True)
        pq.write_table(base, folder / "part-00000.parquet")
        (folder / "_SIMULATED").write_text(json.dumps({"simulated": True}))

    stores.write_partition(RAW, "hes_apc", "2223", writer)
    chosen = [c for c in BLOCKING_CANARIES if c.field in schema.names]
    planted = plant(tmp_path, [*chosen, UNKNOWN_COLUMN_CANARY])
    folder = stores.partition_path(RAW, "hes_apc", "2223")
    table = pq.read_table(folder / "part-00000.parquet")
    assert (folder / "_SIMULATED").exists()
    assert table.schema.metadata == schema.metadata
    assert table.schema.names == [*schema.names, UNKNOWN_COLUMN_CANARY.field]
    assert table.num_rows == 3 + planted.planted_rows
    assert len(set(table.column("EPIKEY").to_pylist())) == table.num_rows
    for canary in chosen:
        column = table.column(canary.field).to_pylist()
        for value in canary.values:
            assert column.count(value) == canary.count
