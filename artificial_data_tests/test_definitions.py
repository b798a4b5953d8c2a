"""The three code locations load, validate, and cannot be widened by run config."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey

from artificial_data.common.settings import ENVIRONMENT_ENV
from artificial_data.orchestration.resources import GeneratorStores, ScraperStores

ROOT = Path(__file__).resolve().parents[1]


def test_workspace_validates_with_the_dagster_cli(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), ENVIRONMENT_ENV: "local"}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for location in ("scraper", "review", "generator"):
        assert location in done.stdout + done.stderr


def _asset_keys(defs):
    return {k for k in defs.resolve_asset_graph().get_all_asset_keys()}


def test_each_location_owns_its_assets_and_lineage_is_joined_by_key(home):
    from artificial_data.generator.definitions import build_definitions as generator
    from artificial_data.review.definitions import build_definitions as review
    from artificial_data.scraper.definitions import build_definitions as scraper

    scraper_defs, review_defs, generator_defs = scraper(), review(), generator()
    for ds in ("hes_apc", "hes_op", "hes_ae"):
        assert AssetKey(["raw", ds]) in _asset_keys(scraper_defs)
        assert AssetKey(["metadata", "suppressed", ds]) in _asset_keys(scraper_defs)
        reviewed = review_defs.resolve_assets_def(AssetKey(["metadata", "reviewed", ds]))
        assert AssetKey(["metadata", "suppressed", ds]) in reviewed.dependency_keys
        artificial = generator_defs.resolve_assets_def(AssetKey(["artificial", ds]))
        assert AssetKey(["metadata", "reviewed", ds]) in artificial.dependency_keys
        assert artificial.partitions_def.get_partition_keys() == ["2021", "2122", "2223"]


def test_generator_location_holds_no_sensitive_store_resource(home):
    from artificial_data.generator.definitions import build_definitions

    resources = build_definitions().resources
    stores = [r for r in resources.values() if hasattr(r, "stores")]
    assert stores and all(isinstance(r, GeneratorStores) for r in stores)
    grants = stores[0].stores().grants
    assert not {"raw", "metadata_sensitive", "admin"} & (grants.read | grants.write)


def test_production_scraper_has_external_raw_and_no_raw_write(home, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_ENV, "production")
    from artificial_data.scraper.definitions import build_definitions

    defs = build_definitions()
    raw = defs.resolve_assets_def(AssetKey(["raw", "hes_apc"]))
    assert not raw.is_executable
    assert "raw" not in ScraperStores().stores().grants.write


def test_run_config_cannot_point_the_generator_at_raw(home):
    from artificial_data.generator.definitions import build_definitions

    job = build_definitions().resolve_job_def("generate_hes_apc")
    result = job.execute_in_process(
        partition_key="2122",
        run_config={"resources": {"stores": {"config": {"read": ["raw", "metadata_released"]}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert any(e.is_run_failure for e in result.all_events)
    text = str(result.all_events)
    assert "scope violation" in text and "'generator'" in text and "'raw'" in text
    assert not result.get_asset_materialization_events()


def test_run_config_with_unknown_resource_field_is_rejected(home):
    from dagster import DagsterInvalidConfigError

    from artificial_data.generator.definitions import build_definitions

    job = build_definitions().resolve_job_def("generate_hes_apc")
    with pytest.raises(DagsterInvalidConfigError):
        job.execute_in_process(
            partition_key="2122",
            run_config={"resources": {"stores": {"config": {"home": "/", "location": "scraper"}}}},
        )


def test_local_spark_workers_use_this_interpreter(monkeypatch):
    from artificial_data.common.spark import spark_config

    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    conf = spark_config("local[2]")
    assert conf["spark.pyspark.python"] == sys.executable
    assert "spark.pyspark.python" not in spark_config("spark://cluster:7077")


def test_code_locations_point_local_spark_workers_at_this_interpreter(monkeypatch, home):
    import importlib

    import artificial_data.generator.definitions as generator

    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    importlib.reload(generator)
    assert os.environ["PYSPARK_PYTHON"] == sys.executable


def test_run_config_cannot_point_the_spark_resource_at_another_cluster(home):
    """The master URL comes from the location's environment (ARTIFICIAL_DATA_SPARK_MASTER):
    a Launchpad edit of the ``spark`` resource's ``spark_config`` is refused before any step
    starts Spark, so it cannot send a scrape's raw rows to another cluster."""
    from dagster import DagsterResourceFunctionError

    from artificial_data.common.spark import spark_config
    from artificial_data.orchestration.keys import suppressed_key
    from artificial_data.scraper.definitions import build_definitions

    job = build_definitions().resolve_job_def("scrape_hes_op")
    conf = spark_config("local[2]", "artificial_data_scraper")
    conf["spark.master"] = "spark://elsewhere:7077"
    with pytest.raises(DagsterResourceFunctionError) as refused:
        job.execute_in_process(
            partition_key="2122",
            asset_selection=[suppressed_key("hes_op")],
            run_config={"resources": {"spark": {"config": {"spark_config": conf}}}},
        )
    assert "refused settings: spark.master" in str(refused.value.__cause__)
