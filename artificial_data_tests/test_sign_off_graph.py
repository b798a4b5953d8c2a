"""The sign-off in the lineage (issue 15): ``<dataset>/sign_off`` on a real Dagster instance.

A dataset-year's sign-off is readable from the instance as never scraped (no events), pending,
signed or refused, whoever submitted the statements (the CLI outside Dagster, or the UI job);
each change is recorded once; the release's automation condition asks for the release of a
signed partition exactly once and never for a pending or refused one.
"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetRecordsFilter,
    DagsterInstance,
    build_sensor_context,
    evaluate_automation_conditions,
)
from dagster._core.event_api import PartitionKeyFilter

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.metadata_store import write_metadata
from artificial_data.common.stores import (
    ADMIN,
    METADATA_RELEASED,
    METADATA_SENSITIVE,
    ScopedStores,
)
from artificial_data.orchestration.keys import review_report_key, reviewed_key, sign_off_key
from artificial_data.orchestration.resources import ReviewStores
from artificial_data.review.signoff import submit_statement
from artificial_data_tests.metadata_factory import header, small_metadata

SPEC = load_spec("hes_op")
YEAR = "2122"
SIGN_OFF = sign_off_key(SPEC.dataset)
APPROVED = AssetCheckKey(SIGN_OFF, "approved")
SENSOR = "sign_off_status_sensor"


@pytest.fixture
def review(home, signers):
    """Suppressed metadata of hes_op 2122 on file (the scraper's store), the review
    location's definitions and a fresh instance."""
    from artificial_data.review.definitions import build_definitions

    scraper = ScopedStores.for_location("scraper", home, simulated_raw=True)
    stored = write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC, YEAR)
    )
    return {
        "defs": build_definitions(),
        "instance": DagsterInstance.ephemeral(),
        "stores": ScopedStores.for_location("review", home),
        "content_hash": stored.content_hash,
    }


def _tick(review) -> list:
    """One evaluation of the sign-off sensor, then the run it asks for (as the daemon would
    launch it). Returns the events that run recorded."""
    defs, instance = review["defs"], review["instance"]
    context = build_sensor_context(
        instance=instance, resources={"stores": ReviewStores()}, definitions=defs
    )
    data = defs.resolve_sensor_def(SENSOR).evaluate_tick(context)
    events = []
    for request in data.run_requests:
        assert request.job_name == "sign_off_status_job"
        run = defs.resolve_job_def(request.job_name).execute_in_process(instance=instance)
        events += [
            e
            for e in run.all_events
            if e.event_type_value
            in ("ASSET_OBSERVATION", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION")
        ]
    return events


def _build_pack(review) -> str:
    review["defs"].resolve_job_def("review_pack_hes_op").execute_in_process(
        partition_key=YEAR, instance=review["instance"]
    )
    pack = review["stores"].partition_path(ADMIN, "review_packs/hes_op", YEAR) / "pack.json"
    return json.loads(pack.read_text())["review_pack_hash"]


def _sign(review, signers, role, who, pack_hash, decision="approved"):
    return signers.sign(
        role,
        who,
        dataset=SPEC.dataset,
        year=YEAR,
        content_hash=review["content_hash"],
        review_pack_hash=pack_hash,
        decision=decision,
    )


def _submit_by_cli(review, signed) -> None:
    """What `artificial-data sign-off submit` does: straight to the admin store."""
    submit_statement(review["stores"], signed.statement.to_bytes(), signed.signature)


def _observed(review, partition=YEAR) -> dict:
    records = (
        review["instance"]
        .fetch_observations(
            AssetRecordsFilter(asset_key=SIGN_OFF, asset_partitions=[partition]), limit=1
        )
        .records
    )
    if not records:
        return {}
    metadata = records[0].event_log_entry.asset_observation.metadata
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def _materialized(review) -> list:
    records = (
        review["instance"]
        .fetch_materializations(
            AssetRecordsFilter(asset_key=SIGN_OFF, asset_partitions=[YEAR]), limit=10
        )
        .records
    )
    return [r.event_log_entry.asset_materialization for r in records]


def _check(review):
    latest = review["instance"].event_log_storage.get_latest_asset_check_execution_by_key(
        [APPROVED], partition_filter=PartitionKeyFilter(key=YEAR)
    )
    record = latest.get(APPROVED)
    return record.event.dagster_event.event_specific_data if record else None


def _requested(review, cursor=None):
    result = evaluate_automation_conditions(
        defs=review["defs"], instance=review["instance"], cursor=cursor
    )
    return result.get_requested_partitions(reviewed_key(SPEC.dataset)), result.cursor


def test_never_scraped_pending_signed_each_readable_and_reported_once(review, signers):
    _tick(review)
    # Other years were never scraped: no event at all, as before anything happened.
    assert _observed(review, "2021") == {} and _observed(review, "2223") == {}
    assert _observed(review)["sign_off_status"] == "waiting for review pack"

    pack_hash = _build_pack(review)
    events = _tick(review)
    pending = _observed(review)
    assert pending["sign_off_status"] == "waiting for sign-off"
    assert pending["content_hash"] == review["content_hash"]
    assert pending["review_pack_hash"] == pack_hash
    check = _check(review)
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert _materialized(review) == []
    assert _tick(review) == []  # nothing changed: nothing reported
    assert len(events) == 2  # one observation and one check evaluation

    # The reviewer signs by CLI (outside Dagster): the sensor sees it.
    _submit_by_cli(review, _sign(review, signers, "reviewer", "ada@example.org", pack_hash))
    _tick(review)
    assert _observed(review)["signed_by"] == "reviewer ada@example.org"
    assert _observed(review)["sign_off_status"] == "waiting for sign-off"

    _submit_by_cli(review, _sign(review, signers, "approver", "grace@example.org", pack_hash))
    _tick(review)
    signed = _observed(review)
    assert signed["sign_off_status"] == "signed"
    assert signed["signed_by"] == "approver grace@example.org, reviewer ada@example.org"
    (materialization,) = _materialized(review)
    metadata = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    assert metadata["sign_off_pair"] == signed["sign_off_pair"]
    assert metadata["reviewer"].startswith("ada@example.org (SHA256:")
    assert metadata["approver"].startswith("grace@example.org (SHA256:")
    assert metadata["content_hash"] == review["content_hash"]
    assert metadata["review_pack_hash"] == pack_hash
    assert metadata["demo_sign_off"] is False
    assert _check(review).passed
    assert _tick(review) == []
    # A new sensor (lost cursor, restarted daemon) reports nothing twice: the instance knows.
    assert _tick(review) == []


def test_refusal_is_its_own_state_and_fails_the_blocking_check(review, signers):
    pack_hash = _build_pack(review)
    for role, who in (("reviewer", "ada@example.org"), ("approver", "grace@example.org")):
        _submit_by_cli(review, _sign(review, signers, role, who, pack_hash, "rejected"))
    _tick(review)
    assert _observed(review)["sign_off_status"] == "rejected"
    check = _check(review)
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert check.description.startswith("refused: rejected")
    assert _materialized(review) == []
    requested, cursor = _requested(review)
    assert YEAR not in requested
    assert _requested(review, cursor)[0] == set()


def test_automation_releases_a_signed_partition_exactly_once(review, signers):
    pack_hash = _build_pack(review)
    _tick(review)
    requested, cursor = _requested(review)
    assert requested == set()  # pending: no release
    _submit_by_cli(review, _sign(review, signers, "reviewer", "ada@example.org", pack_hash))
    _tick(review)
    requested, cursor = _requested(review, cursor)
    assert requested == set()  # only the reviewer signed
    _submit_by_cli(review, _sign(review, signers, "approver", "grace@example.org", pack_hash))
    _tick(review)
    requested, cursor = _requested(review, cursor)
    assert requested == {YEAR}
    assert _requested(review, cursor)[0] == set()  # asked once, not on every tick

    # The run the automation asks for releases; once released, nothing is asked again.
    release = review["defs"].resolve_job_def("release_hes_op")
    assert release.execute_in_process(partition_key=YEAR, instance=review["instance"]).success
    assert review["instance"].get_latest_materialization_event(reviewed_key(SPEC.dataset))
    _tick(review)
    assert "; released" in _observed(review)["sign_off_detail"]
    requested, cursor = _requested(review, cursor)
    assert requested == set()
    assert _requested(review, cursor)[0] == set()


def test_ui_sign_off_records_the_events_at_once_and_the_sensor_adds_none(review, signers):
    pack_hash = _build_pack(review)
    job = review["defs"].resolve_job_def("sign_off_job")
    for role, who in (("reviewer", "ada@example.org"), ("approver", "grace@example.org")):
        signed = _sign(review, signers, role, who, pack_hash)
        config = {"statement": signed.statement.to_bytes().decode(), "signature": signed.signature}
        result = job.execute_in_process(
            instance=review["instance"],
            run_config={"ops": {"record_signed_statement_op": {"config": config}}},
        )
        assert result.success
    assert _observed(review)["sign_off_status"] == "signed"
    assert len(_materialized(review)) == 1 and _check(review).passed
    assert _tick(review) == []


def test_review_pack_links_to_a_prefilled_launchpad(review):
    _build_pack(review)
    event = review["instance"].get_latest_materialization_event(review_report_key(SPEC.dataset))
    metadata = event.asset_materialization.metadata
    url = urlsplit(metadata["sign_off_launchpad"].value)
    assert url.path == "/locations/review/jobs/sign_off_job/playground/setup"
    (config_text,) = parse_qs(url.query)["config"]
    pack = metadata["review_pack_hash"].value
    assert f"content_hash:     {review['content_hash']}" in config_text
    assert f"review_pack_hash: {pack}" in config_text
    config = yaml.safe_load(config_text)
    assert set(config["ops"]["record_signed_statement_op"]["config"]) == {"statement", "signature"}
    assert "open it in the Launchpad" in metadata["sign_off_commands"].value


def test_a_forged_sign_off_event_releases_nothing(review):
    """Anyone with the UI can report a materialisation of ``sign_off`` (it is an external asset)
    without any signature: the release is not asked for (no passed ``approved`` check), and a
    release launched by hand still refuses, since it verifies the statements itself."""
    from dagster import AssetMaterialization

    _build_pack(review)
    _tick(review)
    _, cursor = _requested(review)
    review["instance"].report_runless_asset_event(
        AssetMaterialization(
            asset_key=sign_off_key(SPEC.dataset),
            partition=YEAR,
            metadata={"sign_off_pair": "forged", "content_hash": review["content_hash"]},
        )
    )
    assert _requested(review, cursor)[0] == set()
    release = review["defs"].resolve_job_def("release_hes_op")
    result = release.execute_in_process(
        partition_key=YEAR, instance=review["instance"], raise_on_error=False
    )
    assert not result.success
    assert review["instance"].get_latest_materialization_event(reviewed_key(SPEC.dataset)) is None
    assert not review["stores"].tables.has_partition(METADATA_RELEASED, SPEC.dataset, YEAR)
