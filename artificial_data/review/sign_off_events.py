"""The sign-off of a dataset-year as Dagster events on ``<dataset>/sign_off`` (issue 15).

Statements are submitted in the UI (``sign_off_job``) or by the CLI, outside Dagster, so the
state lives in the admin store; these events make it readable in the lineage:

- an ``AssetObservation`` whenever the state changes: never scraped, waiting for review pack,
  waiting for sign-off (pending), signed, rejected (refused), with the hashes, who signed and
  a Launchpad link that pre-fills ``sign_off_job``;
- an ``AssetCheckEvaluation`` of the blocking check ``approved``: passed when a verified
  approved pair exists for the current hashes, failed with severity WARN while pending and
  ERROR when refused;
- an ``AssetMaterialization`` once per verified approved pair (metadata ``sign_off_pair``):
  this is the update that the release's automation condition waits for.

They are logged by a run (``sign_off_job``, or ``sign_off_status_job`` started by the
sign-off sensor). Whether a change is new is decided from the instance's own event log (the
latest observation and materialization of the partition), not from a sensor cursor, so the UI
job and the sensor together record each change once, and a reset cursor records nothing twice.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetMaterialization,
    AssetObservation,
    AssetRecordsFilter,
    DagsterInstance,
    MetadataValue,
)

# The pointer from a check result to the materialisation it judges (not exported by dagster).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from artificial_data.common.signoff_statement import VerifiedPair
from artificial_data.common.stores import REVIEW
from artificial_data.orchestration.keys import sign_off_key
from artificial_data.review.signoff import NEVER_SCRAPED, REJECTED, SIGNED, SignOffStatus

#: The blocking asset check on ``<dataset>/sign_off``.
APPROVED_CHECK = "approved"
#: The UI job that records one pasted signed statement.
SIGN_OFF_JOB = "sign_off_job"
#: The metadata keys whose values, together, are one sign-off state.
STATE_KEYS = (
    "sign_off_status",
    "sign_off_detail",
    "content_hash",
    "review_pack_hash",
    "signed_by",
)

SignOffEvent = AssetObservation | AssetMaterialization | AssetCheckEvaluation


def launchpad_config(status: SignOffStatus) -> str:
    """Run config for ``sign_off_job`` naming the partition and its hashes (as comments: the
    statement itself carries them, signed), with the two fields to paste."""
    return (
        f"# Sign off {status.dataset} {status.financial_year}: one run per person.\n"
        f"#   content_hash:     {status.content_hash}\n"
        f"#   review_pack_hash: {status.review_pack_hash}\n"
        "# Sign these hashes on your own machine (`artificial-data sign-off sign ...`, see the\n"
        "# review pack), then paste the statement line and the signature below.\n"
        "ops:\n"
        "  record_signed_statement_op:\n"
        "    config:\n"
        "      statement: 'PASTE THE STATEMENT JSON HERE'\n"
        "      signature: |\n"
        "        PASTE THE SIGNATURE HERE (-----BEGIN SSH SIGNATURE----- ... -----END ...-----)\n"
    )


def launchpad_url(status: SignOffStatus) -> str:
    """The UI's Launchpad for ``sign_off_job`` with :func:`launchpad_config` filled in.

    The UI reads ``config`` from the query string of ``.../playground/setup`` and opens a new
    Launchpad tab with it; the path is relative to the webserver's root.
    """
    return (
        f"/locations/{REVIEW}/jobs/{SIGN_OFF_JOB}/playground/setup"
        f"?config={quote(launchpad_config(status), safe='')}"
    )


def _signed_by(status: SignOffStatus) -> str:
    return ", ".join(f"{role} {who}" for role, who in sorted(status.signed_by.items())) or "-"


def state_metadata(status: SignOffStatus) -> dict[str, Any]:
    """The observation's metadata: the state, its hashes, who signed, where to sign."""
    metadata: dict[str, Any] = {
        "sign_off_status": status.state,
        "sign_off_detail": status.detail or "-",
        "content_hash": status.content_hash or "-",
        "review_pack_hash": status.review_pack_hash or "-",
        "signed_by": _signed_by(status),
    }
    if status.review_pack_hash and status.state != SIGNED:
        metadata["sign_off_launchpad"] = MetadataValue.url(launchpad_url(status))
    if status.pair is not None:
        metadata["sign_off_pair"] = status.pair.digest
    return metadata


def _materialization(status: SignOffStatus, pair: VerifiedPair) -> AssetMaterialization:
    return AssetMaterialization(
        asset_key=sign_off_key(status.dataset),
        partition=status.financial_year,
        description=f"Signed off by {pair.label()}",
        metadata={
            "sign_off_pair": pair.digest,
            "sign_off": pair.label(),
            "reviewer": f"{pair.reviewer.statement.signer} ({pair.reviewer.fingerprint})",
            "approver": f"{pair.approver.statement.signer} ({pair.approver.fingerprint})",
            "demo_sign_off": pair.demo,
            "content_hash": pair.content_hash,
            "review_pack_hash": pair.reviewer.statement.review_pack_hash,
            "checklist_version": pair.reviewer.statement.checklist_version,
        },
    )


def check_evaluation(
    status: SignOffStatus, target: AssetCheckEvaluationTargetMaterializationData | None = None
) -> AssetCheckEvaluation:
    """``approved``: passed when signed; WARN while pending; ERROR when refused. ``target`` is
    the sign-off materialisation it judges (Dagster counts a partition's check result only
    while it targets the partition's latest materialisation)."""
    refused = status.state == REJECTED
    return AssetCheckEvaluation(
        target_materialization_data=target,
        asset_key=sign_off_key(status.dataset),
        check_name=APPROVED_CHECK,
        passed=status.state == SIGNED,
        partition=status.financial_year,
        severity=AssetCheckSeverity.ERROR if refused else AssetCheckSeverity.WARN,
        description=("refused: " if refused else "") + status.line(),
        metadata={k: v for k, v in state_metadata(status).items() if k in STATE_KEYS},
    )


def aimed_at_latest(
    instance: DagsterInstance, evaluation: AssetCheckEvaluation
) -> AssetCheckEvaluation:
    """``evaluation`` pointing at the latest materialisation of its partition, as logged so
    far (call it after logging the materialisation it follows)."""
    partition = AssetRecordsFilter(
        asset_key=evaluation.asset_key, asset_partitions=[evaluation.partition]
    )
    records = instance.fetch_materializations(partition, limit=1).records
    if not records:
        return evaluation
    latest = records[0]
    target = AssetCheckEvaluationTargetMaterializationData(
        storage_id=latest.storage_id, run_id=latest.run_id, timestamp=latest.timestamp
    )
    return AssetCheckEvaluation(
        asset_key=evaluation.asset_key,
        check_name=evaluation.check_name,
        passed=evaluation.passed,
        partition=evaluation.partition,
        severity=evaluation.severity,
        description=evaluation.description,
        metadata=evaluation.metadata,
        target_materialization_data=target,
    )


def _latest_metadata(records) -> dict[str, Any] | None:
    for record in records:
        event = record.event_log_entry.asset_materialization or (
            record.event_log_entry.asset_observation
        )
        if event is not None:
            return {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    return None


def sign_off_events(instance: DagsterInstance, status: SignOffStatus) -> list[SignOffEvent]:
    """The events that bring the instance up to date with ``status`` (none if it is)."""
    key = sign_off_key(status.dataset)
    partition = AssetRecordsFilter(asset_key=key, asset_partitions=[status.financial_year])
    events: list[SignOffEvent] = []
    if status.pair is not None:
        latest = _latest_metadata(instance.fetch_materializations(partition, limit=1).records)
        if latest is None or latest.get("sign_off_pair") != status.pair.digest:
            events.append(_materialization(status, status.pair))
    observed = _latest_metadata(instance.fetch_observations(partition, limit=1).records)
    metadata = state_metadata(status)
    unchanged = observed is not None and all(observed.get(k) == metadata[k] for k in STATE_KEYS)
    first_and_empty = observed is None and status.state == NEVER_SCRAPED
    if not (unchanged or first_and_empty):
        events.append(
            AssetObservation(asset_key=key, partition=status.financial_year, metadata=metadata)
        )
        if status.state != NEVER_SCRAPED:
            events.append(check_evaluation(status))
    return events
