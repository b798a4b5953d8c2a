"""The chain sign-off -> release -> artificial tables, on a real Dagster instance: the release
asked for exactly once per sign-off (automation condition) and exactly one generation run per
release (sensor)."""

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, build_sensor_context, evaluate_automation_conditions

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.metadata_store import write_metadata
from artificial_data.common.stores import ADMIN, ARTIFICIAL, METADATA_SENSITIVE, ScopedStores
from artificial_data.orchestration.keys import artificial_key, reviewed_key, sign_off_key
from artificial_data.orchestration.resources import GeneratorStores, ReviewStores
from artificial_data_tests.metadata_factory import header, small_metadata

SPEC = load_spec("hes_op")
YEAR = "2122"


def _tick(defs, sensor_name, instance, cursor, resources=None):
    sensor_def = defs.resolve_sensor_def(sensor_name)
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, definitions=defs
    )
    data = sensor_def.evaluate_tick(context)
    return data.run_requests, data.cursor


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


@pytest.mark.spark
def test_one_release_and_one_generation_per_sign_off(home, spark, signers):
    from artificial_data.generator.definitions import build_definitions as generator_definitions
    from artificial_data.review.definitions import build_definitions as review_definitions

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
    import json

    pack_hash = json.loads(pack)["review_pack_hash"]

    sign_off_sensor = (review_defs, "sign_off_status_sensor")
    regenerate_sensor = (generator_defs, "regenerate_after_release")
    resources = {"stores": ReviewStores()}
    gen_resources = {"stores": GeneratorStores()}
    # The sign-off sensor records the pending state (one run), then nothing more.
    requests, _ = _tick(*sign_off_sensor, instance, None, resources)
    assert [r.job_name for r in requests] == ["sign_off_status_job"]
    review_defs.resolve_job_def("sign_off_status_job").execute_in_process(instance=instance)
    assert _tick(*sign_off_sensor, instance, None, resources)[0] == []
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
    assert _tick(*sign_off_sensor, instance, None, resources)[0] == []  # already recorded
    automation = evaluate_automation_conditions(
        defs=review_defs, instance=instance, cursor=automation.cursor
    )
    assert automation.get_requested_partitions(released) == {YEAR}
    again = evaluate_automation_conditions(
        defs=review_defs, instance=instance, cursor=automation.cursor
    )
    assert again.get_requested_partitions(released) == set()  # no duplicate

    _, generator_cursor = _tick(*regenerate_sensor, instance, None, gen_resources)
    review_defs.resolve_job_def("release_hes_op").execute_in_process(
        partition_key=YEAR, instance=instance
    )
    # Launching the same release again is a no-op: no second materialisation.
    again = review_defs.resolve_job_def("release_hes_op").execute_in_process(
        partition_key=YEAR, instance=instance
    )
    assert again.success and again.get_asset_materialization_events() == []
    requests, generator_cursor = _tick(
        *regenerate_sensor, instance, generator_cursor, gen_resources
    )
    assert len(requests) == 1
    assert requests[0].partition_key == YEAR and requests[0].job_name == "generate_hes_op"
    # exactly one generation run per release
    assert _tick(*regenerate_sensor, instance, generator_cursor, gen_resources)[0] == []

    generator_defs.resolve_job_def("generate_hes_op").execute_in_process(
        partition_key=YEAR,
        instance=instance,
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

    # A fresh daemon (no cursors, e.g. `make dev` after `make demo`) starts nothing again:
    # the sign-off is already released and the artificial table already generated from it.
    fresh = evaluate_automation_conditions(defs=review_defs, instance=instance)
    assert fresh.get_requested_partitions(released) == set()
    assert _tick(*regenerate_sensor, instance, None, gen_resources)[0] == []
