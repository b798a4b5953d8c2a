"""Sign-off from the UI (paste a signed statement), sign-off status, and the release sensor."""

import json

from dagster import (
    AssetObservation,
    Config,
    DefaultSensorStatus,
    Failure,
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

from artificial_data.common.dataset_spec import load_all_specs, load_spec
from artificial_data.common.signing import SigningError, load_allowed_signers
from artificial_data.common.stores import METADATA_SENSITIVE
from artificial_data.orchestration.keys import review_report_key
from artificial_data.orchestration.resources import ReviewStores
from artificial_data.review.assets import status_metadata
from artificial_data.review.signoff import (
    SignOffRefused,
    current_hashes,
    find_pair,
    release_records,
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


def _observe(status) -> AssetObservation:
    return AssetObservation(
        asset_key=review_report_key(status.dataset),
        partition=status.financial_year,
        metadata=status_metadata(status),
    )


@op(description="Verify one signed statement (reviewer or approver) and record it.")
def record_signed_statement_op(
    context: OpExecutionContext, config: SignOffConfig, stores: ReviewStores
) -> None:
    try:
        result = submit_statement(stores.stores(), config.statement, config.signature)
    except SignOffRefused as exc:
        raise Failure(description=f"sign-off refused: {exc}", allow_retries=False) from None
    context.log.info(result.message())
    context.log_event(_observe(result.status))


@job(description="Sign off from the UI: paste one signed statement and its signature.")
def sign_off_job() -> None:
    record_signed_statement_op()


@op(description="Show per dataset-year: never scraped, waiting for sign-off, or signed.")
def sign_off_status_op(context: OpExecutionContext, stores: ReviewStores) -> None:
    lines = ["| dataset | year | status | detail |", "|---|---|---|---|"]
    for status in statuses(stores.stores(), load_all_specs()):
        context.log_event(_observe(status))
        lines.append(
            f"| {status.dataset} | {status.financial_year} | {status.state} | "
            f"{status.detail or '-'} |"
        )
    context.log.info("\n".join(lines))


@job(description="Record the sign-off status of every dataset-year on the review_pack assets.")
def sign_off_status_job() -> None:
    sign_off_status_op()


def build_release_sensor(datasets: list[str], release_jobs: dict[str, JobDefinition]):
    """Turn each new verified, approved pair of statements for the current hashes into exactly
    one release run (run_key = the pair's digest)."""

    @sensor(
        name="release_after_sign_off",
        jobs=list(release_jobs.values()),
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Starts a release run for every new approved, verified sign-off pair.",
    )
    def _sensor(context: SensorEvaluationContext, stores: ReviewStores) -> SensorResult:
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        try:
            signers = load_allowed_signers()
        except SigningError as exc:
            return SensorResult(skip_reason=str(exc), cursor=context.cursor)
        requests = []
        scoped = stores.stores()
        for dataset in datasets:
            spec = load_spec(dataset)
            records = release_records(scoped, dataset)
            released = {r["pair_digest"] for r in records}
            used = {r[f"{role}_statement"] for r in records for role in ("reviewer", "approver")}
            for year in spec.financial_years:
                if not scoped.tables.has_partition(METADATA_SENSITIVE, dataset, year):
                    continue
                try:
                    current, pack = current_hashes(scoped, dataset, year)
                except (SignOffRefused, ValueError) as exc:
                    context.log.debug(f"{dataset} {year}: {exc}")
                    continue
                search = find_pair(scoped, spec, year, current, pack.review_pack_hash, signers)
                pair = search.pair
                # No pair, one already released (e.g. by `make demo` or a manual run), one
                # holding a statement another release used, or one already asked for: nothing.
                if pair is None or pair.digest in released or pair.digest in seen:
                    continue
                statements = {pair.reviewer.statement.digest, pair.approver.statement.digest}
                if statements & used:
                    continue
                seen.add(pair.digest)
                requests.append(
                    RunRequest(
                        run_key=pair.digest,
                        job_name=release_jobs[dataset].name,
                        partition_key=year,
                        tags={"sign_off_pair": pair.digest, "content_hash": pair.content_hash},
                    )
                )
        return SensorResult(run_requests=requests, cursor=json.dumps(sorted(seen)))

    return _sensor
