"""Publication in the NHS artificial HES format: layout, CSV conventions and round trips."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import time
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

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
from artificial_data_tests.qa_tables import replace_column as replace

INFO = {
    "policy": {"name": "hes-publication-rule", "min_count": 8, "rounding_base": 5},
    "seeds": {"2122": 42},
    "metadata_content_hashes": {"2122": "ab" * 32},
    "versions": {"artificial_data": "0.1.0"},
    "spectrum_level": 3,
}


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
    assert (
        notes["files_sha256"]["artificial_hes_mini_2122.csv"]
        == hashlib.sha256(csv_bytes).hexdigest()
    )
    assert set(release.files) == set(beside)
    notice = (tmp_path / name / "user_notice.md").read_text()
    assert "level 3" in notice and "must NOT be used" in notice
    assert "`DIAG_4_CONCAT`" in (tmp_path / name / "data_dictionary.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp folder gone


def test_release_is_deterministic_and_never_replaced(mini, tmp_path):
    first = publish_mini(mini, tmp_path)
    mtime = first.zip_path.stat().st_mtime_ns
    second = publish_mini(mini, tmp_path)
    assert first.files == second.files and first.zip_path.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == ["artificial_hes_mini_202405_v2_sample"]
    other_info = {**INFO, "seeds": {"2122": 43}}
    with pytest.raises(PublicationError, match="never rewritten"):
        publish_mini(mini, tmp_path, release_info=other_info)
    assert _sha256(first.zip_path) == first.files[first.zip_path.name]
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


def test_every_byte_that_needs_quotes_is_found_and_nothing_else_is_quoted():
    """Text columns are scanned byte by byte before the per-value check: each of the four
    bytes alone must still quote its value, and a sliced column whose quote-needing value lies
    outside the slice is left as it is."""
    for needs in ('"', ",", "\r", "\n"):
        text = format_column(pa.array(["A01", f"x{needs}y", None, ""]))
        escaped = needs.replace('"', '""')
        assert text.to_pylist() == ["A01", f'"x{escaped}y"', None, None]
    assert format_column(pa.array(["A01", "B02"])).to_pylist() == ["A01", "B02"]
    sliced = pa.array(["a,b", "A01", "B02"]).slice(1)
    assert format_column(sliced).to_pylist() == ["A01", "B02"]
    assert format_column(pa.array(["a,b", "A01"]).slice(0, 1)).to_pylist() == ['"a,b"']
    assert format_column(pa.array([None, None], pa.string())).to_pylist() == [None, None]


def test_a_zip_written_in_parts_is_the_one_sorted_zip_and_refuses_an_unsorted_part(tmp_path):
    """Publication deflates the CSV entries while the Parquet copies are written, then adds
    the documents: the archive must be byte for byte the one sorted write."""
    from artificial_data.generator.publish.package import ReleaseZip, write_zip

    files = []
    for name, text in (
        ("artificial_hes_x_2122.csv", "A,B\n1,2\n"),
        ("b.md", "x"),
        ("c.json", "{}"),
    ):
        (tmp_path / name).write_text(text * 1000)
        files.append(tmp_path / name)
    write_zip(tmp_path / "whole.zip", "r", list(reversed(files)), "202405")
    with ReleaseZip(tmp_path / "parts.zip", "r", "202405") as archive:
        archive.add(files[:1])
        archive.add(files[1:])
    assert (tmp_path / "parts.zip").read_bytes() == (tmp_path / "whole.zip").read_bytes()
    with ReleaseZip(tmp_path / "bad.zip", "r", "202405") as archive:
        archive.add(files[1:2])
        with pytest.raises(ValueError, match=r"does not sort after b\.md"):
            archive.add(files[:1])


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


# ------------------------------------------------- issue 13: byte-identical publication


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_inputs_give_byte_identical_packages(mini, tmp_path):
    first = publish_mini(mini, tmp_path / "a")
    second = publish_mini(mini, tmp_path / "b")
    assert _sha256(first.zip_path) == _sha256(second.zip_path)
    assert _sha256(first.parquet_paths[0]) == _sha256(second.parquet_paths[0])
    assert first.files == second.files
    with zipfile.ZipFile(first.zip_path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(2024, 5, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos[1:]} == {0o100644}
    assert {i.compress_type for i in infos[1:]} == {zipfile.ZIP_DEFLATED}
    assert all(not i.extra for i in infos) and {i.create_system for i in infos} == {3}


def test_a_changed_release_gives_different_bytes(mini, tmp_path):
    spec, table = mini
    base = _sha256(publish_mini(mini, tmp_path / "a").zip_path)
    other_info = {**INFO, "metadata_content_hashes": {"2122": "cd" * 32}}
    assert _sha256(publish_mini(mini, tmp_path / "b", release_info=other_info).zip_path) != base
    epiorder = table.column("EPIORDER").to_pylist()
    epiorder[5] = 2 if epiorder[5] != 2 else 3
    changed = (spec, replace(table, "EPIORDER", epiorder))
    assert _sha256(publish_mini(changed, tmp_path / "c").zip_path) != base


def test_parquet_drops_carried_schema_metadata(mini, tmp_path):
    spec, table = mini
    tagged = table.replace_schema_metadata({"org.apache.spark.version": "4.0.0", "run": "x1"})
    plain = publish_mini(mini, tmp_path / "a").parquet_paths[0]
    carried = publish_mini((spec, tagged), tmp_path / "b").parquet_paths[0]
    assert _sha256(plain) == _sha256(carried)
    assert b"org.apache.spark" not in (pq.read_schema(carried).metadata or {})


def test_release_time_is_the_latest_scrape_in_utc():
    from artificial_data.generator.publish.release_docs import release_month_of, release_time

    recorded = release_time(["2024-05-31T23:30:00-01:00", "2024-05-20T10:00:00+01:00"])
    assert recorded == "2024-06-01T00:30:00+00:00"
    assert release_month_of(recorded) == "202406"
    with pytest.raises(ValueError, match="recorded time"):
        release_time([])


def _published_asset_setup(
    home, scraped_at: str, spec=None, year="2122", seed=8, size="sample", simulated=True
):
    """Released metadata, an artificial partition and a passed QA record for hes_mini 2122."""
    from artificial_data.common.metadata_store import write_metadata
    from artificial_data.common.stores import ARTIFICIAL, METADATA_RELEASED, ScopedStores
    from artificial_data.generator.assets import GENERATION_FILE
    from artificial_data.generator.qa_assets import QA_FILE, generation_sha256, qa_object
    from artificial_data_tests.metadata_factory import header

    spec = spec or mini_spec()
    metadata = hand_made_metadata(spec)
    review = ScopedStores.for_location("review", home)
    released = write_metadata(
        review,
        METADATA_RELEASED,
        spec.dataset,
        year,
        metadata,
        dataclasses.replace(header(spec, year), scraped_at=scraped_at, simulated_source=simulated),
    )
    generator = ScopedStores.for_location("generator", home)
    table = clean_table(spec, metadata, 300, seed=seed)
    provenance = {"dataset": spec.dataset, "rows": 300, "seed": seed, "size": size}
    provenance["metadata_content_hash"] = released.content_hash
    provenance["sign_off"] = {"demo": simulated, "pair_digest": "p" * 64}

    def write(folder):
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-00000.parquet")
        (folder / GENERATION_FILE).write_text(json.dumps(provenance))

    generator.write_partition(ARTIFICIAL, spec.dataset, year, write)
    checked = generation_sha256(json.dumps(provenance).encode())
    generator.write_json_partition(
        ARTIFICIAL,
        qa_object(spec.dataset),
        year,
        {QA_FILE: {"passed": True, "generation_sha256": checked}},
    )
    return spec, released


def _materialise_published(spec, year="2122", config=None, metadata=False):
    from dagster import materialize

    from artificial_data.generator.publication import build_published_asset
    from artificial_data.orchestration.resources import GeneratorStores

    asset = build_published_asset(spec)
    run_config = {"ops": {asset.op.name: {"config": config}}} if config else None
    result = materialize(
        [asset],
        partition_key=year,
        resources={"stores": GeneratorStores()},
        run_config=run_config,
    )
    (event,) = result.asset_materializations_for_node(result.all_node_events[0].node_name)
    if metadata:
        return {k: v.value for k, v in event.metadata.items()}
    return event.metadata["release"].value, Path(event.metadata["zip"].value)


def test_published_asset_is_byte_identical_for_the_same_release(home):
    """The asset publishes the same release twice (a second apart) into the same bytes, named
    by the release's recorded time; a new recorded time changes them."""
    spec, _ = _published_asset_setup(home, "2024-05-17T10:00:00+01:00")
    name, zip_path = _materialise_published(spec)
    assert name == "artificial_hes_mini_202405_v1_sample"
    first = _sha256(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        notes = json.loads(archive.read(f"{name}/release_notes.json"))
        text = b"".join(archive.read(n) for n in archive.namelist()).decode("utf-8")
    assert notes["release_info"]["metadata_scraped_at"] == "2024-05-17T09:00:00+00:00"
    assert "published_at" not in notes["release_info"]
    today = datetime.now(UTC).date().isoformat()
    assert today not in text  # no wall-clock date anywhere in the package
    time.sleep(1.1)
    again_name, again = _materialise_published(spec)
    assert again_name == name and _sha256(again) == first
    _published_asset_setup(home, "2024-06-03T08:00:00+00:00")
    changed_name, changed = _materialise_published(spec)
    assert changed_name == "artificial_hes_mini_202406_v2_sample" and _sha256(changed) != first
    assert _sha256(zip_path) == first  # v1 is never rewritten


def test_published_asset_refuses_a_table_of_an_older_release(home):
    from dagster import DagsterExecutionStepExecutionError, Failure

    from artificial_data.common.metadata_store import write_metadata
    from artificial_data.common.stores import METADATA_RELEASED, ScopedStores
    from artificial_data_tests.metadata_factory import header

    spec, _ = _published_asset_setup(home, "2024-05-17T10:00:00+01:00")
    newer = hand_made_metadata(spec)
    newer.loc[0, "WEIGHT"] += 5
    review = ScopedStores.for_location("review", home)
    write_metadata(review, METADATA_RELEASED, spec.dataset, "2122", newer, header(spec))
    with pytest.raises((Failure, DagsterExecutionStepExecutionError), match="generated from"):
        _materialise_published(spec)


# ------------------------------------------- issue 15: releases through the Dagster asset


def test_published_asset_holds_every_year_and_makes_new_versions(home):
    spec = dataclasses.replace(mini_spec(), financial_years=("2122", "2223"))
    _published_asset_setup(home, "2026-12-10T10:00:00+00:00", spec=spec)
    name1, zip1 = _materialise_published(spec)
    assert name1 == "artificial_hes_mini_202612_v1_sample"
    v1 = _sha256(zip1)
    _published_asset_setup(home, "2027-01-10T10:00:00+00:00", spec=spec, year="2223", seed=9)
    meta = _materialise_published(spec, year="2223", metadata=True)
    assert meta["release"] == "artificial_hes_mini_202701_v2_sample" and meta["new_version"]
    assert meta["years"] == ["2122", "2223"] and meta["version"] == 2
    assert meta["carried_over"] == ["2122"]  # copied from v1, not formatted again
    with zipfile.ZipFile(meta["zip"]) as archive:
        csvs = sorted(n for n in archive.namelist() if n.endswith(".csv"))
    assert [c.rsplit("/", 1)[1] for c in csvs] == [
        "artificial_hes_mini_2122.csv",
        "artificial_hes_mini_2223.csv",
    ]
    # The other year's run publishes the same inputs: no new version, same bytes.
    again = _materialise_published(spec, year="2122", metadata=True)
    assert again["release"] == meta["release"] and not again["new_version"]
    assert again["carried_over"] == ["2122", "2223"]
    assert _sha256(Path(again["zip"])) == _sha256(Path(meta["zip"]))
    assert _sha256(zip1) == v1
    # Regenerating one year (another seed) makes v3.
    _published_asset_setup(home, "2027-01-10T10:00:00+00:00", spec=spec, year="2223", seed=10)
    v3 = _materialise_published(spec, year="2223", metadata=True)
    assert v3["version"] == 3 and v3["carried_over"] == ["2122"]
    assert _sha256(zip1) == v1


def test_published_asset_takes_the_kind_from_configuration(home):
    from dagster import DagsterExecutionStepExecutionError, Failure

    spec, _ = _published_asset_setup(home, "2024-05-17T10:00:00+01:00", size="full")
    name, _zip = _materialise_published(spec)  # 300 rows, labelled as generated: full
    assert name == "artificial_hes_mini_202405_v1_full"
    with pytest.raises((Failure, DagsterExecutionStepExecutionError), match="generated as full"):
        _materialise_published(spec, config={"release_kind": "sample"})
    _published_asset_setup(home, "2024-05-17T10:00:00+01:00", size=None)
    with pytest.raises((Failure, DagsterExecutionStepExecutionError), match="set release_kind"):
        _materialise_published(spec)
    name, _zip = _materialise_published(spec, config={"release_kind": "sample"})
    assert name == "artificial_hes_mini_202405_v1_sample"


def test_published_asset_refuses_a_year_regenerated_since_its_qa(home):
    from dagster import DagsterExecutionStepExecutionError, Failure

    from artificial_data.common.stores import ARTIFICIAL, ScopedStores
    from artificial_data.generator.qa_assets import QA_FILE, qa_object

    spec, _ = _published_asset_setup(home, "2024-05-17T10:00:00+01:00")
    generator = ScopedStores.for_location("generator", home)
    stale = {QA_FILE: {"passed": True, "generation_sha256": "0" * 64}}
    generator.write_json_partition(ARTIFICIAL, qa_object(spec.dataset), "2122", stale)
    with pytest.raises((Failure, DagsterExecutionStepExecutionError), match="passed QA"):
        _materialise_published(spec)


@pytest.mark.parametrize("simulated", [True, False])
def test_published_asset_metadata_and_notice_say_where_the_data_came_from(home, simulated):
    spec, _ = _published_asset_setup(home, "2024-05-17T10:00:00+01:00", simulated=simulated)
    meta = _materialise_published(spec, metadata=True)
    assert meta["simulated_source"] is simulated and meta["demo_sign_off"] is simulated
    name = meta["release"]
    with zipfile.ZipFile(meta["zip"]) as archive:
        notice = archive.read(f"{name}/user_notice.md").decode()
        notes = json.loads(archive.read(f"{name}/release_notes.json"))
    assert notes["source"]["simulated_source"] is simulated
    if simulated:
        assert "SIMULATED SOURCE" in meta["source"] and "DEMO SIGN-OFF" in meta["source"]
        assert "SIMULATED SOURCE" in notice and "DEMO sign-off" in notice
        assert "taken from HES" not in notice
    else:
        assert "simulated" not in (meta["source"] + notice).lower()
        assert "demo" not in (meta["source"] + notice).lower()
        assert "Aggregate statistics were taken from HES" in notice
