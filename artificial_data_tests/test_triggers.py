"""Declarative automation of the generator, through Dagster: the real Definitions, a real
instance, and ticks of the ``generator_automation`` sensor evaluated as the daemon does.

One generation run per release, none on the next tick, none after a manual run; and a failed
blocking QA check stops ``<ds>/published`` within the run and on every later tick.
"""

import json

import pyarrow as pa
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    build_sensor_context,
    evaluate_automation_conditions,
)

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.metadata_store import write_metadata
from artificial_data.common.stores import ARTIFICIAL, METADATA_SENSITIVE, ScopedStores
from artificial_data.generator.qa import CHECK_NAMES
from artificial_data.generator.triggers import SENSOR_NAME
from artificial_data.orchestration.keys import (
    artificial_key,
    published_key,
    qa_key,
    reviewed_key,
    sign_off_key,
)
from artificial_data_tests.metadata_factory import header
from artificial_data_tests.qa_tables import clean_table, hand_made_metadata, write_as_generated

SPEC = load_spec("hes_op")
YEAR = "2122"
CHAIN = {artificial_key("hes_op"), qa_key("hes_op"), published_key("hes_op")}


@pytest.fixture
def generator(home):
    from artificial_data.generator.definitions import build_definitions

    return build_definitions()


def tick(defs, instance, cursor):
    """One evaluation of the automation sensor: (run requests, cursor for the next tick)."""
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    data = sensor.evaluate_tick(
        build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    )
    return data.run_requests, data.cursor


def materialised(instance, key: AssetKey, year: str = YEAR, **metadata) -> None:
    """A materialisation of one year of ``key``, recorded in the instance without a run: how
    the generator location sees a release (made by the review location's run) or a run made
    outside the automation."""
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=key, partition=year, metadata=metadata)
    )


def released(instance, dataset: str = "hes_op", year: str = YEAR, content_hash: str = "a"):
    materialised(instance, reviewed_key(dataset), year, content_hash=content_hash)


def test_the_sensor_is_dagsters_own_and_runs_by_default(generator):
    from dagster import AutomationConditionSensorDefinition, DefaultSensorStatus

    sensor = generator.resolve_sensor_def(SENSOR_NAME)
    assert isinstance(sensor, AutomationConditionSensorDefinition)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    # It covers every asset with a condition, so Dagster adds no (stopped) default sensor.
    assert [s.name for s in generator.sensors] == [SENSOR_NAME]
    graph = generator.resolve_asset_graph()
    for ds in ("hes_apc", "hes_op", "hes_ae"):
        for key in (artificial_key(ds), qa_key(ds), published_key(ds)):
            assert graph.get(key).automation_condition is not None, key
        # The release is an external asset here, partitioned like the generator's assets.
        released_node = graph.get(reviewed_key(ds))
        assert not released_node.is_executable
        assert released_node.partitions_def == graph.get(artificial_key(ds)).partitions_def


def test_one_generation_run_per_release_and_none_after_a_manual_run(generator):
    instance = DagsterInstance.ephemeral()
    requests, cursor = tick(generator, instance, None)
    assert requests == []

    released(instance, content_hash="a")
    requests, cursor = tick(generator, instance, cursor)
    (request,) = requests
    # One run for the released year only: generation, QA with its checks, publication.
    assert request.partition_key == YEAR
    assert set(request.asset_selection) == CHAIN
    assert set(request.asset_check_keys) == {
        AssetCheckKey(qa_key("hes_op"), name) for name in CHECK_NAMES
    }
    assert request.tags["dagster/sensor_name"] == SENSOR_NAME
    # Requested once: the next tick asks for nothing, though the run has not happened.
    requests, cursor = tick(generator, instance, cursor)
    assert requests == []

    released(instance, content_hash="b")  # a second release of the same year
    requests, cursor = tick(generator, instance, cursor)
    assert [(r.partition_key, set(r.asset_selection)) for r in requests] == [(YEAR, CHAIN)]
    requests, cursor = tick(generator, instance, cursor)
    assert requests == []

    # A release followed by a manual generation (`make demo`, the Launchpad) before the tick:
    # already handled, nothing is requested.
    released(instance, content_hash="c")
    for key in (artificial_key("hes_op"), qa_key("hes_op"), published_key("hes_op")):
        materialised(instance, key)
    requests, cursor = tick(generator, instance, cursor)
    assert requests == []

    # A fresh sensor state (no cursor) catches up on a release never generated, once, and
    # leaves alone a year already generated (hes_op 2122).
    released(instance, dataset="hes_ae", year="2021")
    requests, cursor = tick(generator, instance, None)
    assert [(r.partition_key, {k.path[0] for k in r.asset_selection}) for r in requests] == [
        ("2021", {"hes_ae"})
    ]
    requests, cursor = tick(generator, instance, cursor)
    assert requests == []


def _release_hand_made(home, signers) -> str:
    """hes_op 2122 signed off by two people and released (hand-made metadata that a clean
    table passes QA against); returns the released content hash."""
    from artificial_data.review.release import release
    from artificial_data_tests.test_review import _sign_off, _write_pack

    scraper = ScopedStores.for_location("scraper", home)
    metadata = hand_made_metadata(SPEC)
    write_metadata(scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, metadata, header(SPEC))
    review = ScopedStores.for_location("review", home)
    _write_pack(review)
    _sign_off(review, signers)
    return release(review, SPEC, YEAR).content_hash


def _plant_artificial(instance, home, content_hash: str, *, duplicate_key: bool) -> None:
    """An artificial table for the release, written as the generator writes it (table plus
    provenance) and recorded as materialised; ``duplicate_key`` plants one repeated record
    key, which QA's blocking ``primary_key`` check must catch."""
    from artificial_data.common.metadata_store import read_metadata
    from artificial_data.common.stores import METADATA_RELEASED

    scoped = ScopedStores.for_location("generator", home)
    rows = read_metadata(scoped, METADATA_RELEASED, SPEC.dataset, YEAR).rows
    table = clean_table(SPEC, rows, 200, seed=7)
    if duplicate_key:
        keys = table.column(SPEC.primary_key).to_pylist()
        keys[5] = keys[4]
        i = table.schema.get_field_index(SPEC.primary_key)
        table = table.set_column(
            i, table.schema.field(i), pa.array(keys, table.schema.field(i).type)
        )
    write_as_generated(scoped, SPEC, YEAR, table, content_hash, planted_defect=duplicate_key)
    materialised(instance, artificial_key("hes_op"), planted=True)


def _execute(defs, instance, request):
    """Launch ``request`` as the daemon would: the location's asset job, its selection and tags."""
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        asset_selection=list(request.asset_selection),
        tags=request.tags,
        raise_on_error=False,
    )


def _published_count(instance) -> int:
    return len(instance.fetch_materializations(published_key("hes_op"), limit=100).records)


def _run_qa_alone(defs, instance):
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        partition_key=YEAR,
        asset_selection=[qa_key("hes_op")],
        raise_on_error=False,
    )


def test_a_failed_blocking_check_stops_publication(generator, home, signers):
    instance = DagsterInstance.ephemeral()
    _, cursor = tick(generator, instance, None)
    content_hash = _release_hand_made(home, signers)
    released(instance, content_hash=content_hash)

    # Generated outside the automation (planted, clean): QA and publication follow, one run.
    _plant_artificial(instance, home, content_hash, duplicate_key=False)
    requests, cursor = tick(generator, instance, cursor)
    (request,) = requests
    assert set(request.asset_selection) == {qa_key("hes_op"), published_key("hes_op")}
    result = _execute(generator, instance, request)
    assert result.success
    assert _published_count(instance) == 1
    requests, cursor = tick(generator, instance, cursor)
    assert requests == []

    # The same with a repeated record key: QA's blocking check fails, and Dagster skips the
    # publication step in the same run.
    _plant_artificial(instance, home, content_hash, duplicate_key=True)
    requests, cursor = tick(generator, instance, cursor)
    (request,) = requests
    assert set(request.asset_selection) == {qa_key("hes_op"), published_key("hes_op")}
    result = _execute(generator, instance, request)
    assert not result.success
    evaluations = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert [name for name, passed in evaluations.items() if not passed] == ["primary_key"]
    assert result.asset_materializations_for_node("hes_op__qa")  # QA recorded its verdict
    started = [e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_START]
    assert started == ["hes_op__qa"]  # the publication step never started
    (failure,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert "blocking asset check failed" in failure.step_failure_data.error.message
    assert _published_count(instance) == 1
    # Nothing is requested again after the failed run.
    requests, cursor = tick(generator, instance, cursor)
    assert requests == []

    # Across ticks: QA run by hand on the bad table does not bring publication ...
    assert not _run_qa_alone(generator, instance).success
    requests, cursor = tick(generator, instance, cursor)
    assert requests == []
    # ... while QA run by hand on a clean table does, for publication alone.
    _plant_artificial(instance, home, content_hash, duplicate_key=False)
    assert _run_qa_alone(generator, instance).success
    requests, cursor = tick(generator, instance, cursor)
    assert [(r.partition_key, set(r.asset_selection)) for r in requests] == [
        (YEAR, {published_key("hes_op")})
    ]


@pytest.mark.slow
def test_in_the_workspace_the_release_is_the_review_locations_asset(home, tmp_path):
    """The generator's external declaration of ``<ds>/reviewed_metadata`` joins the review
    location's asset in the workspace (one node, materialisable, owned by review) instead of
    shadowing it, and the workspace holds the generator's sensor."""
    from pathlib import Path

    from dagster import instance_for_test
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    with (
        instance_for_test() as instance,
        WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as process,
    ):
        request = process.create_request_context()
        entries = request.get_code_location_entries()
        assert sorted(entries) == ["generator", "review", "scraper"]
        assert all(entry.load_error is None for entry in entries.values())
        node = request.asset_graph.get(reviewed_key("hes_op"))
        assert node.is_materializable and list(node.owners) == ["team:disclosure-review"]
        assert artificial_key("hes_op") in node.child_keys
        generator = entries["generator"].code_location
        (repository,) = generator.get_repositories().values()
        assert [s.name for s in repository.get_sensors()] == [SENSOR_NAME]


def _launch_sign_off(review_defs, instance, signed):
    """Sign off through the UI path: `sign_off_job` with the statement pasted as config."""
    return review_defs.resolve_job_def("sign_off_job").execute_in_process(
        instance=instance,
        run_config={
            "ops": {
                "record_signed_statement_op": {
                    "config": {
                        "statement": signed.statement.to_bytes().decode() + "\n",
                        "signature": signed.signature,
                    }
                }
            }
        },
        raise_on_error=False,
    )


def _sensor_tick(defs, sensor_name, instance, cursor, resources=None):
    sensor_def = defs.resolve_sensor_def(sensor_name)
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, definitions=defs
    )
    data = sensor_def.evaluate_tick(context)
    return data.run_requests, data.cursor


@pytest.mark.spark
def test_one_release_per_sign_off_and_one_generation_run_per_release(home, spark, signers):
    """The whole chain on one instance: review pack, two sign-offs through the UI path, the
    review location's automation asking for the release, its release run (a real materialisation of
    ``hes_op/reviewed_metadata``), then the generator's automation and its run."""
    import pyarrow.parquet as pq

    from artificial_data.common.metadata_store import write_metadata
    from artificial_data.common.stores import ADMIN
    from artificial_data.generator.definitions import build_definitions as generator_definitions
    from artificial_data.orchestration.resources import ReviewStores
    from artificial_data.review.definitions import build_definitions as review_definitions
    from artificial_data_tests.metadata_factory import small_metadata

    instance = DagsterInstance.ephemeral()
    scraper = ScopedStores.for_location("scraper", home, simulated_raw=True)
    stored = write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC, YEAR)
    )
    review_defs, generator_defs = review_definitions(), generator_definitions()
    packed = review_defs.resolve_job_def("review_pack_hes_op").execute_in_process(
        partition_key=YEAR, instance=instance
    )
    shown = packed.get_asset_materialization_events()[0].materialization.metadata
    assert shown["sign_off_status"].value == "waiting for sign-off"
    assert "artificial-data sign-off sign --dataset hes_op --year 2122 --role reviewer" in (
        shown["sign_off_commands"].value
    )
    review = ScopedStores.for_location("review", home)
    pack = (review.partition_path(ADMIN, "review_packs/hes_op", YEAR) / "pack.json").read_text()
    pack_hash = json.loads(pack)["review_pack_hash"]

    sign_off_sensor = (review_defs, "sign_off_status_sensor")
    resources = {"stores": ReviewStores()}
    # The sign-off sensor records the pending state (one run), then nothing more.
    requests, _ = _sensor_tick(*sign_off_sensor, instance, None, resources)
    assert [r.job_name for r in requests] == ["sign_off_status_job"]
    review_defs.resolve_job_def("sign_off_status_job").execute_in_process(instance=instance)
    assert _sensor_tick(*sign_off_sensor, instance, None, resources)[0] == []
    released = reviewed_key("hes_op")
    automation = evaluate_automation_conditions(defs=review_defs, instance=instance)
    assert automation.get_requested_partitions(released) == set()

    sign = dict(
        dataset="hes_op", year=YEAR, content_hash=stored.content_hash, review_pack_hash=pack_hash
    )
    # One person typing both names is not possible any more: alan may hold either role, but
    # the approver statement he signs after his reviewer statement is refused.
    assert _launch_sign_off(
        review_defs, instance, signers.sign("reviewer", "alan@example.org", **sign)
    ).success
    refused = _launch_sign_off(
        review_defs, instance, signers.sign("approver", "alan@example.org", **sign)
    )
    assert not refused.success
    failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
    assert "two different people" in failure.step_failure_data.user_failure_data.description
    automation = evaluate_automation_conditions(
        defs=review_defs, instance=instance, cursor=automation.cursor
    )
    assert automation.get_requested_partitions(released) == set()  # waiting for the approver

    approved = _launch_sign_off(
        review_defs, instance, signers.sign("approver", "grace@example.org", **sign)
    )
    assert approved.success
    # The status is shown on the review report asset.
    observation = next(
        e for e in approved.all_events if e.event_type_value == "ASSET_OBSERVATION"
    ).event_specific_data.asset_observation
    assert observation.metadata["sign_off_status"].value == "signed"
    assert observation.asset_key == sign_off_key("hes_op")
    assert _sensor_tick(*sign_off_sensor, instance, None, resources)[0] == []  # already recorded
    automation = evaluate_automation_conditions(
        defs=review_defs, instance=instance, cursor=automation.cursor
    )
    assert automation.get_requested_partitions(released) == {YEAR}
    again = evaluate_automation_conditions(
        defs=review_defs, instance=instance, cursor=automation.cursor
    )
    assert again.get_requested_partitions(released) == set()  # no duplicate

    generator_requests, generator_cursor = tick(generator_defs, instance, None)
    assert generator_requests == []  # nothing released yet
    review_defs.resolve_job_def("release_hes_op").execute_in_process(
        partition_key=YEAR, instance=instance
    )
    # Launching the same release again is a no-op: no second materialisation.
    again = review_defs.resolve_job_def("release_hes_op").execute_in_process(
        partition_key=YEAR, instance=instance
    )
    assert again.success and again.get_asset_materialization_events() == []
    generator_requests, generator_cursor = tick(generator_defs, instance, generator_cursor)
    (request,) = generator_requests
    assert request.partition_key == YEAR and set(request.asset_selection) == CHAIN
    # exactly one generation run per release
    none, generator_cursor = tick(generator_defs, instance, generator_cursor)
    assert none == []

    # The requested run, as the daemon launches it (500 rows instead of the default sample).
    generator_defs.resolve_implicit_global_asset_job_def().execute_in_process(
        partition_key=YEAR,
        instance=instance,
        asset_selection=list(request.asset_selection),
        tags=request.tags,
        run_config={"ops": {"hes_op__artificial": {"config": {"rows": 500}}}},
        raise_on_error=False,
    )
    generator = ScopedStores.for_location("generator", home)
    table = pq.read_table(generator.partition_path(ARTIFICIAL, "hes_op", YEAR))
    assert table.num_rows == 500
    assert table.schema.names == SPEC.field_names
    # Dagster's own table metadata: the row count and the HES column schema.
    event = instance.get_latest_materialization_event(artificial_key("hes_op"))
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == 500
    schema = metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == SPEC.field_names
    # After the run, whatever QA said, nothing is requested again.
    none, generator_cursor = tick(generator_defs, instance, generator_cursor)
    assert none == []

    # A fresh daemon (no cursors, e.g. `make dev` after `make demo`) starts nothing again:
    # the sign-off is already released and the artificial table already generated from it.
    fresh = evaluate_automation_conditions(defs=review_defs, instance=instance)
    assert fresh.get_requested_partitions(released) == set()
    assert tick(generator_defs, instance, None)[0] == []
