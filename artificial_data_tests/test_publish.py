"""Publication in the NHS artificial HES format: layout, CSV conventions and round trips."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from decimal import Decimal

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.schema import spark_schema
from artificial_data.generator.publish import PublicationError, publish
from artificial_data.generator.publish.csv_format import format_column
from artificial_data_tests.qa_tables import clean_table, hand_made_metadata, mini_spec

INFO = {
    "policy": {"name": "hes-publication-rule", "min_count": 8, "rounding_base": 5},
    "seeds": {"2122": 42},
    "metadata_content_hashes": {"2122": "ab" * 32},
    "versions": {"artificial_data": "0.1.0"},
    "spectrum_level": 3,
}


def replace(table: pa.Table, name: str, values) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


@pytest.fixture(scope="module")
def mini():
    spec = mini_spec()
    table = clean_table(spec, hand_made_metadata(spec), 200, seed=2)
    # Plant the values whose formatting matters in the first rows.
    table = replace(
        table, "ADMIMETH", ["01", None, "A01", *table.column("ADMIMETH")[3:].to_pylist()]
    )
    alcfrac = table.column("ALCFRAC")[3:].to_pylist()
    table = replace(table, "ALCFRAC", [1e-05, 1e20, 0.5, *alcfrac])
    table = replace(
        table, "MYDOB", ["061975", "011950", None, *table.column("MYDOB")[3:].to_pylist()]
    )
    table = replace(table, "EPIORDER", [1, None, 3, *table.column("EPIORDER")[3:].to_pylist()])
    return spec, table


def publish_mini(mini, folder, **kwargs):
    spec, table = mini
    args = {"release_month": "202405", "version": 2, "size": "sample", "release_info": INFO}
    args.update(kwargs)
    return publish({"2122": table}, spec, folder, **args)


def test_zip_layout_and_file_names(mini, tmp_path):
    release = publish_mini(mini, tmp_path)
    name = "artificial_hes_mini_202405_v2_sample"
    assert release.zip_path == tmp_path / name / f"{name}.zip"
    assert release.parquet_paths == [tmp_path / name / "artificial_hes_mini_2122.parquet"]
    beside = sorted(p.name for p in (tmp_path / name).iterdir())
    assert beside == sorted(
        [
            f"{name}.zip",
            "artificial_hes_mini_2122.parquet",
            "data_dictionary.md",
            "user_notice.md",
            "release_notes.json",
            "schema.json",
        ]
    )
    with zipfile.ZipFile(release.zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(
            [f"{name}/"]
            + [
                f"{name}/{f}"
                for f in (
                    "artificial_hes_mini_2122.csv",
                    "data_dictionary.md",
                    "user_notice.md",
                    "release_notes.json",
                    "schema.json",
                )
            ]
        )
        notes = json.loads(archive.read(f"{name}/release_notes.json"))
        csv_bytes = archive.read(f"{name}/artificial_hes_mini_2122.csv")
    assert notes["ons_synthetic_data_spectrum"] == {
        "level": 3,
        "name": "synthetically-augmented plausible",
    }
    assert notes["policy"] == INFO["policy"] and notes["seeds"] == {"2122": 42}
    assert notes["metadata_content_hashes"] == INFO["metadata_content_hashes"]
    assert notes["rows"] == {"2122": 200}
    import hashlib

    assert (
        notes["files_sha256"]["artificial_hes_mini_2122.csv"]
        == hashlib.sha256(csv_bytes).hexdigest()
    )
    assert set(release.files) == set(beside)
    notice = (tmp_path / name / "user_notice.md").read_text()
    assert "level 3" in notice and "must NOT be used" in notice
    assert "`DIAG_4_CONCAT`" in (tmp_path / name / "data_dictionary.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp folder gone


def test_release_is_deterministic_and_replaced_atomically(mini, tmp_path):
    first = publish_mini(mini, tmp_path)
    second = publish_mini(mini, tmp_path)
    assert first.files == second.files
    assert [p.name for p in tmp_path.iterdir()] == ["artificial_hes_mini_202405_v2_sample"]


def test_bad_requests_are_refused_with_names(mini, tmp_path):
    spec, table = mini
    with pytest.raises(PublicationError, match="release_month"):
        publish_mini(mini, tmp_path, release_month="2024-05")
    with pytest.raises(PublicationError, match="size"):
        publish_mini(mini, tmp_path, size="huge")
    with pytest.raises(PublicationError, match=r"hes_mini 2122: .*SEX"):
        publish(
            {"2122": table.drop_columns(["SEX"])},
            spec,
            tmp_path,
            release_month="202405",
            version=1,
            size="sample",
            release_info=INFO,
        )
    with pytest.raises(PublicationError, match="1920"):
        publish(
            {"1920": table},
            spec,
            tmp_path,
            release_month="202405",
            version=1,
            size="sample",
            release_info=INFO,
        )
    assert not list(tmp_path.iterdir())


def test_csv_conventions(mini, tmp_path):
    release = publish_mini(mini, tmp_path)
    spec, _table = mini
    name = release.zip_path.stem
    with zipfile.ZipFile(release.zip_path) as archive:
        text = archive.read(f"{name}/artificial_hes_mini_2122.csv").decode()
    lines = text.split("\n")
    assert lines[0] == ",".join(spec.field_names)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 200
    first, second, third = rows[:3]
    assert first["ADMIMETH"] == "01" and second["ADMIMETH"] == "" and third["ADMIMETH"] == "A01"
    assert first["ALCFRAC"] == "0.00001" and second["ALCFRAC"] == "100000000000000000000"
    assert first["MYDOB"] == "061975" and third["MYDOB"] == ""
    assert first["EPIORDER"] == "1" and second["EPIORDER"] == ""
    assert all(r["EPIKEY"].isdigit() and len(r["EPIKEY"]) == 12 for r in rows)
    assert all("." not in r[f] for r in rows for f in ("DIAG_COUNT", "STARTAGE", "EPIORDER"))
    dates = [r["ADMIDATE"] for r in rows if r["ADMIDATE"]]
    assert all(len(d) == 10 and d[4] == "-" and d[7] == "-" for d in dates)
    assert all("e" not in (r["ALCFRAC"] + r["ALCNRWFRAC"]).lower() for r in rows)
    concat = [r["DIAG_4_CONCAT"] for r in rows if "," in r["DIAG_4_CONCAT"]]
    assert concat and f'"{concat[0]}"' in text  # code lists are quoted


def test_format_column_types():
    assert format_column(pa.array([date(2021, 4, 1), None])).to_pylist() == ["2021-04-01", None]
    assert format_column(pa.array([7, None], pa.int32())).to_pylist() == ["7", None]
    decimals = pa.array([Decimal("0.125"), None], pa.decimal128(16, 15))
    assert format_column(decimals).to_pylist() == ["0.125000000000000", None]
    assert format_column(pa.array([45.0, 2.5e-7])).to_pylist() == ["45", "0.00000025"]
    assert format_column(pa.array(['say "hi"', ""])).to_pylist() == ['"say ""hi"""', None]


# ------------------------------------------------------------------ full specs, round trips


@pytest.fixture(scope="module", params=["hes_apc", "hes_op", "hes_ae"])
def released(request, tmp_path_factory):
    spec = load_spec(request.param)
    table = clean_table(spec, hand_made_metadata(spec), 200, seed=7)
    folder = tmp_path_factory.mktemp(spec.dataset)
    release = publish(
        {"2122": table},
        spec,
        folder,
        release_month="202406",
        version=1,
        size="full",
        release_info=INFO,
    )
    name = release.zip_path.stem
    with zipfile.ZipFile(release.zip_path) as archive:
        archive.extractall(folder / "unzipped")
    csv_path = folder / "unzipped" / name / f"artificial_hes_{spec.dataset[4:]}_2122.csv"
    schema = json.loads((folder / "unzipped" / name / "schema.json").read_text())["fields"]
    return spec, table, release, csv_path, schema


def _as_python(table: pa.Table) -> dict[str, list]:
    return {n: table.column(n).to_pylist() for n in table.column_names}


def test_parquet_is_the_table(released):
    _spec, table, release, _, _ = released
    assert pq.read_table(release.parquet_paths[0]).equals(table)


def test_duckdb_read_csv_auto_keeps_leading_zero_codes_as_text(released):
    spec, table, _, csv_path, _ = released
    auto = duckdb.sql(f"SELECT * FROM read_csv_auto('{csv_path}')")
    types = dict(zip(auto.columns, [str(t) for t in auto.types], strict=True))
    codes = [
        f.name
        for f in spec.fields
        if f.role == "categorical"
        and f.spark_type == "string"
        # a leading zero before another character ('01'); a lone '0' is a number to DuckDB
        and any(v and len(v) > 1 and v.startswith("0") for v in table.column(f.name).to_pylist())
    ]
    assert codes
    assert all(types[c] == "VARCHAR" for c in codes)
    values = auto.fetchall()
    i = auto.columns.index(codes[0])
    assert [r[i] for r in values] == table.column(codes[0]).to_pylist()


def test_duckdb_with_shipped_types_round_trips_exactly(released):
    spec, table, _, csv_path, schema = released
    columns = ", ".join(f"'{f['name']}': '{f['duckdb_type']}'" for f in schema)
    typed = duckdb.sql(
        f"SELECT * FROM read_csv('{csv_path}', header=true, columns={{{columns}}})"
    ).arrow()
    typed = typed.read_all() if hasattr(typed, "read_all") else typed
    assert typed.column_names == spec.field_names
    assert _as_python(typed.cast(table.schema)) == _as_python(table)


def test_pandas_reads_text_and_typed(released):
    spec, table, _, csv_path, schema = released
    text = pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[""])
    expected = table.to_pandas()
    for f in spec.fields:
        if f.spark_type == "string":
            got = text[f.name].where(text[f.name].notna(), None).tolist()
            assert got == table.column(f.name).to_pylist(), f.name
    dates = [f["name"] for f in schema if f["spark_type"] == "date"]
    dtypes = {f["name"]: f["pandas_dtype"] for f in schema if f["name"] not in dates}
    typed = pd.read_csv(
        csv_path, dtype=dtypes, keep_default_na=False, na_values=[""], parse_dates=dates
    )
    for f in spec.fields:
        if f.spark_type in ("int", "long"):
            assert (
                typed[f.name].astype("float64").fillna(-1).tolist()
                == expected[f.name].astype("float64").fillna(-1).tolist()
            ), f.name
        if f.spark_type == "date":
            got = [None if pd.isna(v) else v.date() for v in typed[f.name]]
            assert got == table.column(f.name).to_pylist(), f.name


@pytest.mark.spark
def test_spark_reads_with_the_spec_schema(released, spark):
    spec, table, _, csv_path, _ = released
    df = spark.read.csv(str(csv_path), header=True, schema=spark_schema(spec))
    rows = df.collect()
    assert df.columns == spec.field_names and len(rows) == table.num_rows
    for f in spec.fields:
        got = [r[f.name] for r in rows]
        want = table.column(f.name).to_pylist()
        if f.spark_type == "double":
            got = [None if v is None else round(v, 12) for v in got]
            want = [None if v is None else round(v, 12) for v in want]
        assert got == want, f.name
