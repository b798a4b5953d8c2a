"""The three code locations load, validate, and cannot be widened by run config."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, EventRecordsFilter

from artificial_data.common.settings import ENVIRONMENT_ENV
from artificial_data.common.stores import maximum_grants
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
        assert AssetKey([ds, "raw"]) in _asset_keys(scraper_defs)
        assert AssetKey([ds, "suppressed_metadata"]) in _asset_keys(scraper_defs)
        reviewed = review_defs.resolve_assets_def(AssetKey([ds, "reviewed_metadata"]))
        assert AssetKey([ds, "suppressed_metadata"]) in reviewed.dependency_keys
        artificial = generator_defs.resolve_assets_def(AssetKey([ds, "artificial"]))
        assert AssetKey([ds, "reviewed_metadata"]) in artificial.dependency_keys
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
    raw = defs.resolve_assets_def(AssetKey(["hes_apc", "raw"]))
    assert not raw.is_executable
    assert "raw" not in ScraperStores().stores().grants.write


WIDENINGS = [
    ("generator", "generate_hes_apc", "read", "raw", "GeneratorMayRead"),
    ("generator", "generate_hes_apc", "read", "metadata_sensitive", "GeneratorMayRead"),
    ("generator", "generate_hes_apc", "write", "metadata_released", "GeneratorMayWrite"),
    ("review", "release_hes_apc", "write", "metadata_sensitive", "ReviewMayWrite"),
    ("scraper", "scrape_hes_apc", "read", "admin", "ScraperMayRead"),
    ("scraper", "scrape_hes_apc", "write", "metadata_released", "ScraperSimulatedMayWrite"),
]


def _location_defs(location):
    import importlib

    return importlib.import_module(f"artificial_data.{location}.definitions").build_definitions()


@pytest.mark.parametrize(("location", "job_name", "action", "store", "enum"), WIDENINGS)
def test_widened_run_config_is_refused_before_a_run_exists(
    home, location, job_name, action, store, enum
):
    """An attack run (a store grant widened in the Launchpad) is a config error: no run record,
    no failed step, and the last materialisation of the good data is untouched."""
    from dagster import AssetMaterialization, DagsterInstance, DagsterInvalidConfigError

    job = _location_defs(location).resolve_job_def(job_name)
    key = next(iter(job.asset_layer.executable_asset_keys))
    granted = sorted(getattr(maximum_grants(location, simulated_raw=True), action))
    assert store not in granted
    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            AssetMaterialization(asset_key=key, partition="2122", metadata={"good": True})
        )
        before = instance.get_latest_materialization_event(key)
        with pytest.raises(DagsterInvalidConfigError) as refused:
            job.execute_in_process(
                partition_key="2122",
                instance=instance,
                run_config={"resources": {"stores": {"config": {action: [granted[0], store]}}}},
            )
        assert instance.get_runs() == []
        after = instance.get_latest_materialization_event(key)
        assert after == before
        assert not instance.get_event_records(
            EventRecordsFilter(DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=key)
        )
    lines = [str(e.message) for e in refused.value.errors]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert f"{action}[1]" in lines[0] and f"not in enum type {enum} got {store}" in lines[0]


def test_widened_run_config_is_refused_by_the_launchpad_path(home, tmp_path):
    """The path the Launchpad takes: the webserver's ``launchPipelineExecution`` mutation against
    the generator's code server answers ``RunConfigValidationInvalid`` with one line, and the
    instance holds no run."""
    from dagster import instance_for_test
    from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION
    from dagster_graphql.test.utils import (
        define_out_of_process_context,
        execute_dagster_graphql,
        infer_job_selector,
    )

    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: artificial_data.generator.definitions\n"
        f"      working_directory: {ROOT}\n      location_name: generator\n"
    )
    wide = {"resources": {"stores": {"config": {"read": ["metadata_released", "raw"]}}}}
    with (
        instance_for_test() as instance,
        define_out_of_process_context(str(workspace), None, instance) as context,
    ):
        params = {
            "selector": infer_job_selector(context, "generate_hes_apc"),
            "runConfigData": wide,
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2122"}]},
        }
        answer = execute_dagster_graphql(
            context, LAUNCH_PIPELINE_EXECUTION_MUTATION, {"executionParams": params}
        ).data["launchPipelineExecution"]
        assert answer["__typename"] == "RunConfigValidationInvalid", answer
        [error] = answer["errors"]
        assert "\n" not in error["message"]
        assert "not in enum type GeneratorMayRead got raw" in error["message"]
        assert instance.get_runs() == []


def test_run_config_with_unknown_resource_field_is_rejected(home):
    from dagster import DagsterInvalidConfigError

    from artificial_data.generator.definitions import build_definitions

    job = build_definitions().resolve_job_def("generate_hes_apc")
    with pytest.raises(DagsterInvalidConfigError):
        job.execute_in_process(
            partition_key="2122",
            run_config={"resources": {"stores": {"config": {"home": "/", "location": "scraper"}}}},
        )


def _all_locations():
    from artificial_data.generator.definitions import build_definitions as generator
    from artificial_data.review.definitions import build_definitions as review
    from artificial_data.scraper.definitions import build_definitions as scraper

    return {"scraper": scraper(), "review": review(), "generator": generator()}


def _own_nodes(defs):
    """The assets a location defines: executable ones, and the external ``sign_off`` assets
    it declares (not the upstream assets of other locations it depends on)."""
    from artificial_data.orchestration.keys import SIGN_OFF_STAGE

    graph = defs.resolve_asset_graph()
    declared = {a.key for a in defs.assets if hasattr(a, "key") and not hasattr(a, "keys")}
    # The generator also declares the review location's ``reviewed_metadata`` (to give the
    # external dep its partitions); only ``sign_off`` is a location's own external asset.
    declared = {k for k in declared if k.path[-1] == SIGN_OFF_STAGE}
    return [
        graph.get(k)
        for k in graph.get_all_asset_keys()
        if graph.get(k).is_executable or k in declared
    ]


def test_every_asset_speaks_dagsters_vocabulary(home):
    """Description, owners, kinds, code_version and the dataset as group, on every asset."""
    from artificial_data.orchestration.policy import OWNERS, SCOPES

    for location, defs in _all_locations().items():
        nodes = _own_nodes(defs)
        assert nodes
        for node in nodes:
            name = node.key.to_user_string()
            assert node.description and len(node.description) > 40, name
            assert list(node.owners) == list(OWNERS[location]), name
            assert node.kinds, name
            assert node.code_version and node.code_version.startswith("spec1."), name
            assert node.group_name == node.key.path[0], name
            assert node.tags["scope"] == SCOPES[location], name


def test_lineage_node_labels_are_distinct_per_dataset(home):
    """The UI labels a node with its key's last part: every stage of a dataset has its own,
    and every key (the whole lineage across the three locations) is ``<dataset>/<stage>``."""
    from artificial_data.compute import STEP_ASSET_STAGE
    from artificial_data.orchestration.keys import STAGES

    keys = [n.key for defs in _all_locations().values() for n in _own_nodes(defs)]
    for ds in ("hes_apc", "hes_op", "hes_ae"):
        labels = [k.path[-1] for k in keys if k.path[0] == ds]
        assert sorted(labels) == sorted(STAGES) and len(set(labels)) == 8, labels
    assert all(len(k.path) == 2 for k in keys)
    assert set(STEP_ASSET_STAGE.values()) <= set(STAGES)


def test_spark_steps_are_in_the_spark_pool(home):
    from artificial_data.orchestration.policy import SPARK_POOL

    spark_stages = {"suppressed_metadata", "artificial"}
    for defs in _all_locations().values():
        for node in (n for n in _own_nodes(defs) if n.is_executable):
            pools = defs.resolve_assets_def(node.key).op.pools
            expected = {SPARK_POOL} if node.key.path[-1] in spark_stages else set()
            assert pools == expected, node.key.to_user_string()


def test_raw_and_artificial_tables_declare_their_column_schema(home):
    from artificial_data.common.dataset_spec import load_spec

    defs = _all_locations()
    for location, stage in (("scraper", "raw"), ("generator", "artificial")):
        for ds in ("hes_apc", "hes_op", "hes_ae"):
            node = defs[location].resolve_asset_graph().get(AssetKey([ds, stage]))
            schema = node.metadata["dagster/column_schema"].value
            assert [c.name for c in schema.columns] == load_spec(ds).field_names


def test_raw_materialisation_carries_row_count_and_column_schema(home):
    from dagster import materialize

    from artificial_data.common.dataset_spec import load_spec
    from artificial_data.orchestration.resources import scraper_stores
    from artificial_data.scraper.assets import build_raw_asset

    spec = load_spec("hes_op")
    result = materialize(
        [build_raw_asset(spec, simulated=True)],
        partition_key="2122",
        resources={"stores": scraper_stores(simulated_raw=True)},
        run_config={"ops": {"hes_op__raw": {"config": {"rows": 300}}}},
    )
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["dagster/row_count"].value == 300
    names = [c.name for c in metadata["dagster/column_schema"].value.columns]
    assert names == spec.field_names


def _isolated_deploy():
    import importlib.util

    spec = importlib.util.spec_from_file_location("isolated_deploy", ROOT / "deploy/isolated.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


@pytest.mark.parametrize("deployment", ["make", "isolated"])
def test_instance_runs_one_spark_run_at_a_time(home, tmp_path, deployment):
    """Both instance configs (``make dev``'s copy of deploy/dagster.yaml, and the isolated
    deployment's) limit the ``spark`` pool per run; a run of a Spark job records the pool, so
    the run queue holds it while another Spark run is in progress."""
    from dagster import DagsterInstance
    from dagster._core.instance.config import PoolGranularity

    if deployment == "make":
        assert "cp deploy/dagster.yaml" in (ROOT / "Makefile").read_text()
        text = (ROOT / "deploy/dagster.yaml").read_text()
    else:
        text = _isolated_deploy().instance_config(tmp_path / "history")
    (tmp_path / "dagster.yaml").write_text(text)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert pools.pool_granularity == PoolGranularity.RUN
        assert pools.default_pool_limit == 1
        defs = _all_locations()
        for location, job_name, expected in (
            ("generator", "generate_hes_apc", {"spark"}),
            ("scraper", "scrape_hes_apc", {"spark"}),
            ("review", "review_pack_hes_apc", set()),
        ):
            job = defs[location].resolve_job_def(job_name)
            run = instance.create_run_for_job(job, tags={"dagster/partition": "2122"})
            concurrency = run.run_op_concurrency
            assert set(concurrency.all_pools if concurrency else ()) == expected, job_name


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
