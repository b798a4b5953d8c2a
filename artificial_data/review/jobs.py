"""The sign-off job (sign off from the UI) and the sensor that releases after a sign-off."""

import json

from dagster import (
    Config,
    DefaultSensorStatus,
    JobDefinition,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    job,
    op,
    sensor,
)
from pydantic import Field

from artificial_data.common.dataset_spec import load_spec
from artificial_data.orchestration.resources import ReviewStores
from artificial_data.review.release import released_sign_off_ids
from artificial_data.review.signoff import SignOff, record_sign_off, sign_offs


class SignOffConfig(Config):
    """One reviewer's and one approver's decision on one exact metadata version."""

    dataset: str = Field(description="e.g. hes_apc")
    financial_year: str = Field(description="e.g. 2223")
    content_hash: str = Field(description="The metadata content hash shown in the review pack.")
    review_pack_hash: str = Field(description="The review pack hash shown in the review pack.")
    reviewer: str
    reviewer_role: str = "Disclosure reviewer"
    approver: str
    approver_role: str = "Information asset owner"
    decision: str = Field(default="approved", description="approved or rejected")
    notes: str = ""


@op(description="Record a hash-bound sign-off (append-only). Refused if the hash is stale.")
def record_sign_off_op(
    context: OpExecutionContext, config: SignOffConfig, stores: ReviewStores
) -> None:
    load_spec(config.dataset)  # a clear error for an unknown dataset
    recorded = record_sign_off(
        stores.stores(),
        SignOff(
            dataset=config.dataset,
            financial_year=config.financial_year,
            content_hash=config.content_hash,
            review_pack_hash=config.review_pack_hash,
            reviewer=config.reviewer,
            reviewer_role=config.reviewer_role,
            approver=config.approver,
            approver_role=config.approver_role,
            decision=config.decision,
            notes=config.notes,
        ),
    )
    context.log.info(f"recorded sign-off {recorded.sign_off_id} for {config.dataset}")


@job(description="Sign off one dataset-year from the UI (fill in the config).")
def sign_off_job() -> None:
    record_sign_off_op()


def build_release_sensor(datasets: list[str], release_jobs: dict[str, JobDefinition]):
    """Turn each new approved sign-off into exactly one release run (run_key = sign-off id)."""

    @sensor(
        name="release_after_sign_off",
        jobs=list(release_jobs.values()),
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Starts a release run for every newly recorded approved sign-off.",
    )
    def _sensor(context: SensorEvaluationContext, stores: ReviewStores) -> SensorResult:
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        requests = []
        scoped = stores.stores()
        for dataset in datasets:
            released = released_sign_off_ids(scoped, dataset)
            for so in sign_offs(scoped, dataset):
                if so.sign_off_id in seen:
                    continue
                seen.add(so.sign_off_id)
                # Rejections release nothing; a sign-off already released (e.g. by `make demo`
                # or a manual run) is not released again.
                if so.decision != "approved" or so.sign_off_id in released:
                    continue
                requests.append(
                    RunRequest(
                        run_key=so.sign_off_id,
                        job_name=release_jobs[dataset].name,
                        partition_key=so.financial_year,
                        tags={"sign_off_id": so.sign_off_id, "content_hash": so.content_hash},
                    )
                )
        return SensorResult(run_requests=requests, cursor=json.dumps(sorted(seen)))

    return _sensor
