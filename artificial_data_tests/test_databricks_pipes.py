"""Issue 14, items 3 and 4: the Spark steps run as Databricks job runs through Dagster Pipes,
tested against a fake workspace on loopback (``fake_databricks.py``) that runs each submitted
task here, in a subprocess, with only what Pipes and the location put into the task.

The assets are the location's own (``build_artificial_asset``, ``build_qa_asset``,
``build_suppressed_asset``) with the location's own resources; only the process environment
says ``ARTIFICIAL_DATA_ENGINE=databricks``. Costs: one task starts Spark (generate, 200 rows of
one dataset-year); QA reads with pyarrow; the failing and cancelled runs start no Spark.
"""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from artificial_data.common.credentials import FIELDS, UNSCOPED, credential_env
from artificial_data.common.metadata_store import write_metadata
from artificial_data.common.settings import (
    BACKEND_ENV,
    CATALOG_ENV,
    CATALOG_FORMAT_ENV,
    ENVIRONMENT_ENV,
    HOME_ENV,
    SCHEMA_PREFIX_ENV,
    CatalogSettings,
    store_root_env,
)
from artificial_data.common.stores import (
    GENERATOR,
    LOCATIONS,
    METADATA_SENSITIVE,
    SCRAPER,
    STORE_NAMES,
    ScopedStores,
    maximum_grants,
)
from artificial_data.orchestration import compute
from artificial_data.orchestration.resources import spark_resource
from artificial_data_tests.fake_databricks import FakeWorkspace, wait_for
from artificial_data_tests.metadata_factory import header, small_metadata

SCRAPER_TOKEN = "dapi-scraper-location-token"
GENERATOR_TOKEN = "dapi-generator-location-token"
NEW_CLUSTER = {"new_cluster": {"spark_version": "16.4.x-scala2.12", "num_workers": 1}}


@pytest.fixture
def fake(tmp_path):
    with FakeWorkspace(tmp_path / "dbfs") as workspace:
        yield workspace


def _clear_credentials(monkeypatch):
    for name in (*UNSCOPED, "DATABRICKS_HOST", "DATABRICKS_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    for location in LOCATIONS:
        for field in FIELDS:
            monkeypatch.delenv(credential_env(location, field), raising=False)


def _location_env(monkeypatch, location, home, fake, token, cluster):
    """The process environment of one code location: its own stores, engine and credential
    (its own ``ARTIFICIAL_DATA_<LOCATION>_DATABRICKS_*``, and no other location's)."""
    monkeypatch.delenv(HOME_ENV, raising=False)
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    for store in STORE_NAMES:
        monkeypatch.delenv(store_root_env(store), raising=False)
    grants = maximum_grants(location, simulated_raw=False)
    for store in sorted(grants.read | grants.write):
        monkeypatch.setenv(store_root_env(store), str(home / store))
    monkeypatch.setenv(ENVIRONMENT_ENV, "test")
    monkeypatch.setenv(compute.ENGINE_ENV, "databricks")
    monkeypatch.setenv(compute.CLUSTER_ENV, json.dumps(cluster))
    monkeypatch.setenv(compute.WHEEL_ENV, "dbfs:/libraries/artificial_data-0.1.0-py3-none-any.whl")
    monkeypatch.setenv(compute.POLL_ENV, "0.2")
    _clear_credentials(monkeypatch)
    monkeypatch.setenv(credential_env(location, "HOST"), fake.url)
    monkeypatch.setenv(credential_env(location, "TOKEN"), token)


@pytest.fixture
def released(tmp_path, signers):
    """hes_op 2122 signed off and released: the generator's only input."""
    from artificial_data.review.release import release
    from artificial_data_tests.test_review import SPEC, YEAR, _sign_off, _write_pack

    home = tmp_path / "stores"
    scraper = ScopedStores.for_location("scraper", home)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    review = ScopedStores.for_location("review", home)
    _write_pack(review)
    _sign_off(review, signers)
    release(review, SPEC, YEAR)
    return home, SPEC, YEAR


def _generator_assets(spec):
    from artificial_data.generator.assets import build_artificial_asset
    from artificial_data.generator.qa_assets import build_qa_asset
    from artificial_data.orchestration.resources import GeneratorStores

    assets = [build_artificial_asset(spec), build_qa_asset(spec)]
    return assets, {"stores": GeneratorStores(), "spark": spark_resource("unused")}


def _sensitive_names(home) -> list[str]:
    """What would name the raw or sensitive stores: their roots, variables, or a home."""
    return [
        str(home / "raw"),
        str(home / "metadata_sensitive"),
        "metadata_sensitive",
        store_root_env("raw"),
        store_root_env("metadata_sensitive"),
        HOME_ENV,
    ]


def _submitted(fake) -> list[dict]:
    return [r.body for r in fake.calls("POST", "/api/2.2/jobs/runs/submit")]


def test_engine_defaults_to_local_spark_and_refuses_unknown(monkeypatch):
    monkeypatch.delenv(compute.ENGINE_ENV, raising=False)
    assert spark_resource("x").databricks() is None
    monkeypatch.setenv(compute.ENGINE_ENV, "databricks")
    monkeypatch.delenv(compute.CLUSTER_ENV, raising=False)
    with pytest.raises(compute.ComputeNotConfigured, match=compute.CLUSTER_ENV):
        spark_resource("x").databricks()
    monkeypatch.setenv(compute.CLUSTER_ENV, '{"existing_cluster_id": "a", "new_cluster": {}}')
    with pytest.raises(compute.ComputeNotConfigured, match="exactly one"):
        spark_resource("x").databricks()
    monkeypatch.setenv(compute.ENGINE_ENV, "emr")
    with pytest.raises(compute.ComputeNotConfigured, match="emr"):
        spark_resource("x").databricks()


def test_a_cluster_spec_naming_another_locations_store_is_refused(tmp_path, monkeypatch):
    from dagster import Failure

    cluster = {"new_cluster": {"spark_env_vars": {store_root_env("raw"): "/Volumes/x/raw"}}}
    monkeypatch.setenv(compute.CLUSTER_ENV, json.dumps(cluster))
    runner = compute.DatabricksCompute(compute.load_databricks_settings())
    generator = ScopedStores.for_location(GENERATOR, tmp_path)
    with pytest.raises(Failure, match="ARTIFICIAL_DATA_STORE_RAW"):
        runner.submit_task(compute.GENERATE, generator)
    # Without such a spec the task is told exactly the generator's three stores.
    monkeypatch.setenv(compute.CLUSTER_ENV, json.dumps(NEW_CLUSTER))
    runner = compute.DatabricksCompute(compute.load_databricks_settings())
    parameters = runner.submit_task(compute.GENERATE, generator).python_wheel_task.parameters
    stores = {p.split("=")[0] for p in parameters if p.startswith("ARTIFICIAL_DATA_STORE_")}
    assert stores == {
        store_root_env(s) for s in ("metadata_released", "artificial", "published")
    } | {BACKEND_ENV}
    assert f"{BACKEND_ENV}=folders" in parameters
    # Nor may a cluster spec set the store backend, or carry any credential to the task.
    for name in (BACKEND_ENV, SCHEMA_PREFIX_ENV, credential_env(GENERATOR, "TOKEN"), UNSCOPED[0]):
        cluster = {"new_cluster": {"spark_env_vars": {name: "x"}}}
        monkeypatch.setenv(compute.CLUSTER_ENV, json.dumps(cluster))
        runner = compute.DatabricksCompute(compute.load_databricks_settings())
        with pytest.raises(Failure, match=name):
            runner.submit_task(compute.GENERATE, generator)


def test_the_task_is_told_its_catalog_backend_and_derives_only_its_own_schemas(
    tmp_path, monkeypatch
):
    """With the catalog backend on, the generator's task is told catalog, format and schema
    prefix, never a schema name; the stores it builds from them know the generator's three
    schemas only. A credential offered as a setting is refused."""
    from artificial_data.compute import pipes_task
    from artificial_data.orchestration.resources import GeneratorStores

    monkeypatch.setenv(compute.CLUSTER_ENV, json.dumps(NEW_CLUSTER))
    runner = compute.DatabricksCompute(compute.load_databricks_settings())
    catalog = CatalogSettings(catalog="hes", table_format="delta", schema_prefix="ad_")
    generator = ScopedStores.for_location(GENERATOR, tmp_path, catalog=catalog)
    parameters = runner.submit_task(compute.GENERATE, generator).python_wheel_task.parameters
    settings = [p for p in parameters if p.startswith("ARTIFICIAL_DATA_")]
    told = dict(s.split("=", 1) for s in settings)
    assert {told[n] for n in (BACKEND_ENV, CATALOG_ENV, CATALOG_FORMAT_ENV, SCHEMA_PREFIX_ENV)} == {
        "catalog",
        "hes",
        "delta",
        "ad_",
    }
    assert not [s for s in settings if "raw" in s or "sensitive" in s]

    # The task side, in a process environment holding only what it was told.
    monkeypatch.delenv(HOME_ENV, raising=False)
    for store in STORE_NAMES:
        monkeypatch.delenv(store_root_env(store), raising=False)
    for name in told:
        monkeypatch.setenv(name, "placeholder")  # restored after the test
    pipes_task.apply_settings(settings)
    tables = GeneratorStores().stores().tables
    assert tables.settings == catalog
    assert tables.schemas == {
        "metadata_released": "ad_metadata_released",
        "artificial": "ad_artificial",
        "published": "ad_published",
    }
    with pytest.raises(pipes_task.TaskRefused, match="credential"):
        pipes_task.apply_settings([f"{credential_env(GENERATOR, 'TOKEN')}=dapi-x"])


@pytest.mark.parametrize(
    "visible", [credential_env(SCRAPER, "TOKEN"), "DATABRICKS_TOKEN"], ids=["scraper", "shared"]
)
def test_the_generator_refuses_databricks_when_it_sees_a_foreign_credential(
    tmp_path, fake, monkeypatch, visible
):
    """Its own credential set, plus another location's token or the SDK's shared one: the step
    fails before a single request reaches the workspace, naming the variable, not its value."""
    from artificial_data.common.dataset_spec import load_spec

    spec = load_spec("hes_op")
    _location_env(monkeypatch, GENERATOR, tmp_path / "stores", fake, GENERATOR_TOKEN, NEW_CLUSTER)
    monkeypatch.setenv(visible, SCRAPER_TOKEN)
    assets, resources = _generator_assets(spec)
    result = materialize(
        assets[:1], partition_key="2122", resources=resources, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert visible in description and SCRAPER_TOKEN not in description
    assert not fake.requests


def test_generate_and_qa_round_trip_through_pipes(released, fake, monkeypatch):
    home, spec, year = released
    _location_env(monkeypatch, GENERATOR, home, fake, GENERATOR_TOKEN, NEW_CLUSTER)
    assets, resources = _generator_assets(spec)
    instance = DagsterInstance.ephemeral()
    result = materialize(
        assets,
        partition_key=year,
        resources=resources,
        instance=instance,
        run_config={"ops": {"hes_op__artificial": {"config": {"rows": 200, "base_seed": 3}}}},
        raise_on_error=False,
    )
    # The metadata is made up (not scraped), so QA may refuse its 200 rows: the round trip is
    # what is tested here. Any failure must be QA's own verdict, reported through Pipes.
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert all(e.step_key == "hes_op__qa" for e in failures)
    assert all("blocking asset check" in e.step_failure_data.error.message for e in failures), [
        e.step_failure_data.error.message for e in failures
    ]

    # Materialisation metadata came back from the task, plus the run the client adds.
    (generated,) = [
        m
        for m in result.asset_materializations_for_node("hes_op__artificial")
        if m.asset_key == AssetKey(["hes_op", "artificial"])
    ]
    assert generated.metadata["rows"].value == 200
    assert generated.metadata["sign_off"].value
    path = generated.metadata["path"].value
    assert path.startswith(str(home / "artificial")) and os.listdir(path)
    assert "Databricks Job Run ID" in generated.metadata

    # QA's check results came back through Pipes, as asset check evaluations.
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    from artificial_data.generator.qa import CHECK_NAMES

    assert {c.check_name for c in checks} == set(CHECK_NAMES)
    (qa,) = result.asset_materializations_for_node("hes_op__qa")
    assert qa.metadata["passed"].value == all(
        c.passed for c in checks if c.severity.value == "ERROR"
    )

    # The task's own log lines reached the Dagster run.
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(f"generate hes_op {year} on Databricks" in m for m in messages)
    assert any(f"qa hes_op {year} done" in m for m in messages)

    # Every call carried the generator's credential; the calls are the ones documented.
    assert fake.requests and {r.token for r in fake.requests} == {GENERATOR_TOKEN}
    assert fake.endpoints() <= {
        ("POST", "/api/2.0/dbfs/mkdirs"),
        ("POST", "/api/2.0/dbfs/put"),
        ("GET", "/api/2.0/dbfs/get-status"),
        ("GET", "/api/2.0/dbfs/read"),
        ("POST", "/api/2.0/dbfs/delete"),
        ("POST", "/api/2.2/jobs/runs/submit"),
        ("GET", "/api/2.2/jobs/runs/get"),
    }
    # Two one-time runs, each the project's entry point with the wheel as its library, told
    # only the generator's stores; no token and no raw or sensitive store in task or context.
    submitted = _submitted(fake)
    assert len(submitted) == 2
    for body in submitted:
        (task,) = body["tasks"]
        assert task["python_wheel_task"]["entry_point"] == "artificial-data"
        assert task["libraries"] == [{"whl": os.environ[compute.WHEEL_ENV]}]
        text = json.dumps(body)
        assert GENERATOR_TOKEN not in text and SCRAPER_TOKEN not in text
        assert "_DATABRICKS_TOKEN" not in text and "_DATABRICKS_HOST" not in text
        assert not [name for name in _sensitive_names(home) if name in text]
    contexts = [d for p, d in fake.dbfs_writes.items() if p.endswith("context.json")]
    assert len(contexts) == 2
    for data in contexts:
        text = data.decode()  # the context as the task reads it
        context = json.loads(text)
        assert context["partition_key"] == year
        assert context["extras"]["step"] in {"generate", "qa"}
        assert GENERATOR_TOKEN not in text
        assert not [name for name in _sensitive_names(home) if name in text]


def test_a_failing_task_fails_the_step_with_the_tasks_error(tmp_path, fake, monkeypatch):
    """No release for the year: the task (on an existing cluster, Pipes bootstrap as task
    parameters) raises before starting Spark, and the step fails with that error."""
    from artificial_data.common.dataset_spec import load_spec

    spec = load_spec("hes_op")
    cluster = {"existing_cluster_id": "0101-fake-cluster"}
    _location_env(monkeypatch, GENERATOR, tmp_path / "stores", fake, GENERATOR_TOKEN, cluster)
    assets, resources = _generator_assets(spec)
    result = materialize(
        assets[:1], partition_key="2021", resources=resources, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("Databricks run ")
    assert "has no partition '2021' of 'hes_op'" in description  # the task's own error
    assert not result.get_asset_materialization_events()
    (body,) = _submitted(fake)
    (task,) = body["tasks"]
    assert task["existing_cluster_id"] == "0101-fake-cluster"
    assert "--dagster-pipes-context" in task["python_wheel_task"]["parameters"]
    assert ("GET", "/api/2.2/jobs/runs/get-output") in fake.endpoints()
    assert {r.token for r in fake.requests} == {GENERATOR_TOKEN}


def test_terminating_the_dagster_run_cancels_the_databricks_run(tmp_path, monkeypatch):
    """The scraper's step, on a cluster that never finishes starting: Dagster's termination
    (the interrupt a run worker gets) cancels the job run, with the scraper's credential."""
    from artificial_data.common.dataset_spec import load_spec
    from artificial_data.orchestration.resources import ScraperStores
    from artificial_data.scraper.assets import build_suppressed_asset

    spec = load_spec("hes_op")
    with FakeWorkspace(tmp_path / "dbfs", hold_runs=True) as fake:
        _location_env(monkeypatch, SCRAPER, tmp_path / "stores", fake, SCRAPER_TOKEN, NEW_CLUSTER)

        def terminate() -> None:
            fake.submitted.wait(60)
            wait_for(lambda: len(fake.calls("GET", "/api/2.2/jobs/runs/get")) >= 1)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=terminate, daemon=True).start()
        result = materialize(
            [build_suppressed_asset(spec)],
            partition_key="2122",
            resources={"stores": ScraperStores(), "spark": spark_resource("unused")},
            raise_on_error=False,
        )
        assert not result.success
        assert not result.get_asset_materialization_events()
        (cancel,) = fake.calls("POST", "/api/2.2/jobs/runs/cancel")
        (run,) = fake.runs.values()
        assert cancel.body["run_id"] == run.run_id and run.result == "CANCELED"
        assert run.process is None  # held PENDING: no task ever started
        assert {r.token for r in fake.requests} == {SCRAPER_TOKEN}
        (body,) = _submitted(fake)
        parameters = body["tasks"][0]["python_wheel_task"]["parameters"]
        assert parameters[:2] == ["pipes-task", "scrape"]
        told = {p.split("=")[0] for p in parameters if p.startswith("ARTIFICIAL_DATA_STORE_")}
        assert told - {BACKEND_ENV} == {store_root_env("raw"), store_root_env("metadata_sensitive")}
        assert f"{BACKEND_ENV}=folders" in parameters
