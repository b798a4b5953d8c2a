"""Sign-off from the UI (paste a signed statement), sign-off status, and the sign-off sensor.

Each records the sign-off events of ``review/sign_off_events.py`` on ``<dataset>/sign_off``;
the release itself is requested by the automation condition of ``<dataset>/reviewed_metadata``
(``review/assets.py``), evaluated by the ``review_automation`` sensor.
"""

import hashlib
import json

from dagster import (
    AssetCheckEvaluation,
    Config,
    DefaultSensorStatus,
    Failure,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    job,
    op,
    sensor,
)
from pydantic import Field

from artificial_data.common.dataset_spec import load_all_specs, load_spec
from artificial_data.common.signing import SigningError, load_allowed_signers
from artificial_data.orchestration.resources import ReviewStores
from artificial_data.review.sign_off_events import aimed_at_latest, sign_off_events
from artificial_data.review.signoff import (
    SignOffRefused,
    released_pair_digests,
    sign_off_status,
    statuses,
    submit_statement,
)


class SignOffConfig(Config):
    """One person's signed statement, as `artificial-data sign-off sign` printed it."""

    statement: str = Field(
        description="The statement JSON exactly as signed (one line, in single quotes in YAML)."
    )
    signature: str = Field(
        description="The armored signature, -----BEGIN SSH SIGNATURE----- to -----END ...-----."
    )


def _record(context: OpExecutionContext, status) -> None:
    """Log the events that bring ``<dataset>/sign_off`` up to date with ``status``."""
    for event in sign_off_events(context.instance, status):
        if isinstance(event, AssetCheckEvaluation):
            event = aimed_at_latest(context.instance, event)
        context.log_event(event)


@op(description="Verify one signed statement (reviewer or approver) and record it.")
def record_signed_statement_op(
    context: OpExecutionContext, config: SignOffConfig, stores: ReviewStores
) -> None:
    try:
        result = submit_statement(stores.stores(), config.statement, config.signature)
    except SignOffRefused as exc:
        raise Failure(description=f"sign-off refused: {exc}", allow_retries=False) from None
    context.log.info(result.message())
    _record(context, result.status)


@job(description="Sign off from the UI: paste one signed statement and its signature.")
def sign_off_job() -> None:
    record_signed_statement_op()


@op(description="Show per dataset-year: never scraped, waiting for sign-off, or signed.")
def sign_off_status_op(context: OpExecutionContext, stores: ReviewStores) -> None:
    lines = ["| dataset | year | status | detail |", "|---|---|---|---|"]
    for status in statuses(stores.stores(), load_all_specs()):
        _record(context, status)
        lines.append(
            f"| {status.dataset} | {status.financial_year} | {status.state} | "
            f"{status.detail or '-'} |"
        )
    context.log.info("\n".join(lines))


@job(description="Record the sign-off status of every dataset-year on its sign_off asset, now.")
def sign_off_status_job() -> None:
    sign_off_status_op()


def _change_key(events) -> str:
    """One run key per set of unrecorded changes: the same change is never recorded twice,
    even while the run recording it is still queued."""
    changes = sorted(
        json.dumps(
            [
                event.asset_key.to_user_string(),
                event.partition,
                type(event).__name__,
                *sorted(f"{k}={getattr(v, 'value', v)}" for k, v in event.metadata.items()),
            ],
        )
        for event in events
    )
    return hashlib.sha256("\n".join(changes).encode()).hexdigest()


def build_sign_off_sensor(datasets: list[str]):
    """Start ``sign_off_status_job`` when a dataset-year's sign-off changed and the instance
    does not show it yet.

    Statements submitted by the CLI never pass through Dagster, so the admin store is read on
    every tick; what is new is decided against the instance's event log (not a cursor), so a
    change already recorded by ``sign_off_job`` is not recorded again. The events are recorded
    by a run, not reported by the sensor: Dagster 1.13 stores a run-less evaluation of a
    partitioned asset check once per partition only (a unique index on check, run id and
    partition), so the ``approved`` check could not change state from a sensor.
    """

    @sensor(
        name="sign_off_status_sensor",
        jobs=[sign_off_status_job],
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Records each change of a sign-off (pending, signed, refused) on the sign_off "
            "assets, by a sign_off_status_job run; a new approved pair is a sign_off "
            "materialisation, which the release's automation condition acts on."
        ),
    )
    def _sensor(context: SensorEvaluationContext, stores: ReviewStores) -> SensorResult:
        try:
            signers = load_allowed_signers()
        except SigningError:
            signers = None  # each status then says why nothing can be verified
        scoped = stores.stores()
        events = []
        for dataset in datasets:
            spec = load_spec(dataset)
            released = released_pair_digests(scoped, dataset)
            for year in spec.financial_years:
                status = sign_off_status(scoped, spec, year, signers, released)
                events += sign_off_events(context.instance, status)
        if not events:
            return SensorResult(skip_reason="every sign-off is recorded as it stands")
        return SensorResult(
            run_requests=[
                RunRequest(run_key=_change_key(events), job_name=sign_off_status_job.name)
            ]
        )

    return _sensor
