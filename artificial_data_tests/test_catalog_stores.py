"""The catalog-tables store backend on local Spark's own catalog (DESIGN §11, issue 14).

Partitions are replaced one financial year at a time and a failed write leaves the old one; the
scope grants are checked before Spark is touched; and the whole pipeline (scrape, review pack,
DEMO sign-off, release, generate, QA, publish) runs through the Dagster assets with the catalog
backend selected by the environment alone.
"""

from __future__ import annotations

import json
import zipfile

import pyarrow as pa
import pytest

from artificial_data.common.settings import (
    BACKEND_ENV,
    CATALOG_ENV,
    CatalogSettings,
    load_settings,
)
from artificial_data.common.stores import (
    ARTIFICIAL,
    METADATA_RELEASED,
    METADATA_SENSITIVE,
    RAW,
    ScopedStores,
    ScopeViolation,
)
from artificial_data.common.tables import (
    ATTACHMENTS_COLUMN,
    PARTITION_COLUMN,
    TABLES_FOLDER,
    CatalogTables,
    FolderTables,
    TableSchemaChanged,
)
from artificial_data.orchestration.keys import artificial_key, raw_key, step_config


def _no_spark():
    raise AssertionError("Spark was touched before the grant check")


def _catalog_stores(location, home, **kw) -> ScopedStores:
    return ScopedStores.for_location(location, home, catalog=CatalogSettings(), **kw)


# ------------------------------------------------------------------------- backend selection


def test_backend_is_chosen_by_the_environment_only(home, monkeypatch):
    assert load_settings().catalog is None
    assert isinstance(ScopedStores.for_location("generator", home).tables, FolderTables)
    monkeypatch.setenv(BACKEND_ENV, "catalog")
    monkeypatch.setenv(CATALOG_ENV, "hes_catalog")
    settings = load_settings().catalog
    assert settings == CatalogSettings(catalog="hes_catalog")
    tables = ScopedStores.for_location("generator", home).tables
    assert isinstance(tables, CatalogTables)
    assert tables.table_name(ARTIFICIAL, "hes_op", "write") == (
        "`hes_catalog`.`artificial_data_artificial`.`hes_op`"
    )
    monkeypatch.setenv(BACKEND_ENV, "somewhere")
    with pytest.raises(ValueError, match="ARTIFICIAL_DATA_STORE_BACKEND"):
        load_settings()


def test_catalog_and_prefix_must_be_plain_identifiers():
    for bad in ("main; DROP", "a.b", "`x`", ""):
        with pytest.raises(ValueError):
            CatalogSettings(catalog=bad)
        with pytest.raises(ValueError):
            CatalogSettings(schema_prefix=bad or "-")


@pytest.mark.parametrize(
    ("location", "store", "action"),
    [
        ("generator", RAW, "read"),
        ("generator", METADATA_SENSITIVE, "read"),
        ("generator", METADATA_RELEASED, "write"),
        ("review", RAW, "read"),
        ("scraper", ARTIFICIAL, "write"),
    ],
)
def test_catalog_tables_refuse_outside_the_grants_before_spark(home, location, store, action):
    scoped = _catalog_stores(location, home, simulated_raw=True)
    tables = CatalogTables(scoped, scoped.catalog, session_factory=_no_spark)
    with pytest.raises(ScopeViolation) as refused:
        if action == "read":
            tables.read(store, "hes_op", "2122")
        else:
            tables.write(store, "hes_op", "2122", pa.table({"A": ["x"]}))
    message = str(refused.value)
    assert f"'{location}'" in message and f"'{store}'" in message and "'hes_op'" in message
    # The generator's table store holds no name of a raw or sensitive schema at all.
    if location == "generator":
        assert set(tables.schemas) == {METADATA_RELEASED, ARTIFICIAL, "published"}
        assert "artificial_data_raw" not in repr(tables.schemas)
        assert "metadata_sensitive" not in repr(tables.schemas)


def test_catalog_object_names_are_one_identifier(home):
    scoped = _catalog_stores("generator", home)
    tables = CatalogTables(scoped, scoped.catalog, session_factory=_no_spark)
    for bad in ("qa/hes_op", "hes_op`; DROP TABLE x; --", "../raw"):
        with pytest.raises((ScopeViolation, ValueError)):
            tables.write(ARTIFICIAL, bad, "2122", pa.table({"A": ["x"]}))
    with pytest.raises(ScopeViolation):
        tables.write(ARTIFICIAL, "hes_op", "2122' OR '1'='1", pa.table({"A": ["x"]}))


# --------------------------------------------------------------------- partition replacement


def _years(tables, store, obj):
    """Each year's rows, sorted (a catalog read, like any Spark read, has no row order)."""
    return {
        y: tables.read(store, obj, y).arrow().sort_by("N").to_pydict()
        for y in tables.partitions(store, obj)
    }


@pytest.mark.spark
def test_replacing_one_year_keeps_the_others_and_a_failed_write_keeps_the_old(home, spark):
    from pyspark.sql import functions as F

    scoped = _catalog_stores("generator", home)
    tables = scoped.tables
    frame = spark.createDataFrame([("a", 1), ("b", 2)], "CODE string, N bigint")
    tables.write(ARTIFICIAL, "demo_table", "2122", frame, {"_note.json": '{"v": 1}'})
    tables.write(ARTIFICIAL, "demo_table", "2223", frame.where("N = 1"), {"_note.json": "2223"})
    assert tables.partitions(ARTIFICIAL, "demo_table") == ["2122", "2223"]

    # Replace 2223 only: 2122 is untouched, 2223 holds exactly the new rows and attachments.
    new = spark.createDataFrame([("z", 9), ("y", 8), ("x", 7)], "CODE string, N bigint")
    where = tables.write(ARTIFICIAL, "demo_table", "2223", new, {"_note.json": '{"v": 2}'})
    assert where == "spark_catalog.artificial_data_artificial.demo_table/financial_year=2223"
    years = _years(tables, ARTIFICIAL, "demo_table")
    assert years["2122"] == {"CODE": ["a", "b"], "N": [1, 2]}
    assert years["2223"] == {"CODE": ["x", "y", "z"], "N": [7, 8, 9]}
    assert tables.read(ARTIFICIAL, "demo_table", "2223").attachments == {"_note.json": b'{"v": 2}'}
    assert tables.read(ARTIFICIAL, "demo_table", "2122").attachments == {"_note.json": b'{"v": 1}'}

    # A write that fails while Spark writes its tasks (the second row raises) leaves the old
    # 2223 partition, and 2122, exactly as they were, and no staging files behind.
    failing = new.withColumn(
        "CODE", F.when(F.col("N") == 8, F.raise_error(F.lit("injected"))).otherwise(F.col("CODE"))
    )
    with pytest.raises(Exception, match="injected"):
        tables.write(ARTIFICIAL, "demo_table", "2223", failing, {"_note.json": "never"})
    assert _years(tables, ARTIFICIAL, "demo_table") == years
    assert tables.read(ARTIFICIAL, "demo_table", "2223").attachments == {"_note.json": b'{"v": 2}'}
    files = home / ARTIFICIAL / TABLES_FOLDER / "demo_table"
    assert sorted(p.name for p in files.iterdir() if not p.name.startswith(("_", "."))) == [
        "financial_year=2122",
        "financial_year=2223",
    ]
    assert not [p for p in files.iterdir() if p.name.startswith(".spark-staging")]

    # A partition with other columns is refused, not cast; an empty one would keep the old rows
    # silently, so it is refused too.
    with pytest.raises(TableSchemaChanged):
        tables.write(ARTIFICIAL, "demo_table", "2324", frame.withColumn("EXTRA", F.lit(1)))
    with pytest.raises(ValueError, match="empty"):
        tables.write(ARTIFICIAL, "demo_table", "2324", frame.where("N > 100"))
    with pytest.raises(TableSchemaChanged, match="reserved"):
        tables.write(ARTIFICIAL, "demo_table", "2324", frame.withColumn(PARTITION_COLUMN, F.lit(1)))
    assert tables.partitions(ARTIFICIAL, "demo_table") == ["2122", "2223"]


@pytest.mark.spark
def test_a_new_session_catalog_finds_the_tables_from_their_files(home, spark):
    """Local Spark's catalog lives as long as its session: a process registers the tables of its
    granted stores from their files, with the partitions other processes wrote."""
    scoped = _catalog_stores("generator", home)
    frame = spark.createDataFrame([("a", 1)], "CODE string, N bigint")
    scoped.tables.write(ARTIFICIAL, "seen_table", "1920", frame)
    spark.sql("DROP TABLE spark_catalog.artificial_data_artificial.seen_table")  # as if new
    from artificial_data.common import tables as module

    module._REGISTERED.clear()
    again = _catalog_stores("generator", home).tables
    assert again.partitions(ARTIFICIAL, "seen_table") == ["1920"]
    assert again.read(ARTIFICIAL, "seen_table", "1920").arrow().to_pydict() == {
        "CODE": ["a"],
        "N": [1],
    }
    columns = spark.table("spark_catalog.artificial_data_artificial.seen_table").columns
    assert columns[-2:] == [ATTACHMENTS_COLUMN, PARTITION_COLUMN]


# ----------------------------------------------------------------------- through the assets


@pytest.mark.spark
def test_pipeline_runs_through_the_assets_on_catalog_tables(home, monkeypatch, spark):
    from artificial_data.common.dataset_spec import load_spec
    from artificial_data.common.metadata_store import read_metadata
    from artificial_data.common.schema import arrow_schema
    from artificial_data.demo import _run, demo_sign_off, use_demo_signers

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("ARTIFICIAL_DATA_ALLOWED_SIGNERS", raising=False)
    monkeypatch.setenv(BACKEND_ENV, "catalog")
    from dagster import DagsterInstance

    from artificial_data.generator.definitions import defs as generator_defs
    from artificial_data.review.definitions import defs as review_defs
    from artificial_data.scraper.definitions import defs as scraper_defs

    ds, year = "hes_op", "2122"
    spec = load_spec(ds)
    use_demo_signers()
    instance = DagsterInstance.ephemeral()
    raw_config = step_config(raw_key(ds), rows=3_000, seed=7)
    _run(scraper_defs, f"scrape_{ds}", year, instance, raw_config)
    _run(review_defs, f"review_pack_{ds}", year, instance)
    demo_sign_off(spec, year)
    _run(review_defs, f"release_{ds}", year, instance)
    gen_config = step_config(artificial_key(ds), rows=1_200)
    _run(generator_defs, f"generate_{ds}", year, instance, gen_config)

    # Every big table is a catalog table, one schema per store, partitioned by financial year;
    # none of them was written as a folder partition.
    for store in (RAW, METADATA_SENSITIVE, METADATA_RELEASED, ARTIFICIAL):
        name = f"spark_catalog.artificial_data_{store}.{ds}"
        assert [r[0] for r in spark.sql(f"SHOW PARTITIONS {name}").collect()] == [
            f"{PARTITION_COLUMN}={year}"
        ], name
        assert not (home / store / ds).exists(), store
        assert (home / store / TABLES_FOLDER / ds / f"{PARTITION_COLUMN}={year}").is_dir()

    generator = ScopedStores.for_location("generator", load_settings().store_roots)
    assert isinstance(generator.tables, CatalogTables)
    artificial = generator.tables.read(ARTIFICIAL, ds, year)
    table = artificial.arrow()
    assert table.num_rows == 1_200
    assert table.schema.names == arrow_schema(spec).names
    provenance = json.loads(artificial.attachments["_generation.json"])
    assert provenance["sign_off"]["demo"] is True

    # The released metadata carries its header and both signed statements in the same rows.
    released = read_metadata(generator, METADATA_RELEASED, ds, year)
    assert provenance["metadata_content_hash"] == released.content_hash
    assert {"header.json", "signoff/reviewer.json.sig", "signoff/approver.json.sig"} <= set(
        released.attachments
    )
    # The raw partition is labelled simulated.
    scraper = ScopedStores.for_location("scraper", load_settings().store_roots, simulated_raw=True)
    marker = json.loads(scraper.tables.read(RAW, ds, year).attachments["_SIMULATED"])
    assert marker["simulated"] is True and marker["rows"] == 3_000

    # QA passed and the zip was published (small objects stay files in the store roots).
    qa = json.loads(
        (generator.partition_path(ARTIFICIAL, f"qa/{ds}", year) / "qa.json").read_text()
    )
    assert qa["passed"] is True
    (archive,) = sorted((home / "published" / ds).glob("*/*.zip"))
    with zipfile.ZipFile(archive) as z:
        assert any(n.endswith(f"artificial_hes_op_{year}.csv") for n in z.namelist())

    # The generator's store object refuses the raw and sensitive tables by name.
    for store in (RAW, METADATA_SENSITIVE):
        with pytest.raises(ScopeViolation, match=f"'generator' may not read store '{store}'"):
            generator.tables.read(store, ds, year)
