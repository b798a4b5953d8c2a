"""Review assets, per dataset: the review pack, the sign-off and the released metadata.

``<dataset>/sign_off`` is an external asset: nothing in Dagster computes a signature. Its events
are reported from the admin store (``review/sign_off_events.py``) and its blocking check
``approved`` says whether a verified approved pair exists for the current hashes. The release
asks Dagster's declarative automation for a run once per sign-off materialisation.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.disclosure_checks import blocking_findings, review_metadata
from artificial_data.common.metadata_store import read_metadata
from artificial_data.common.references import reference_key
from artificial_data.common.stores import ADMIN, METADATA_RELEASED, METADATA_SENSITIVE
from artificial_data.orchestration.keys import (
    review_report_key,
    reviewed_key,
    sign_off_key,
    suppressed_key,
)
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.policy import code_version
from artificial_data.orchestration.resources import ReviewStores
from artificial_data.review.changes import describe_changes
from artificial_data.review.release import ReleaseRefused, release
from artificial_data.review.review_pack import build_review_pack
from artificial_data.review.sign_off_events import (
    APPROVED_CHECK,
    check_evaluation,
    launchpad_url,
)
from artificial_data.review.signoff import review_pack_object, sign_off_status

#: Version of this module's steps (with the spec version: each asset's ``code_version``).
CODE_VERSION = 1


def build_review_report_asset(spec: DatasetSpec) -> AssetsDefinition:
    @asset(
        key=review_report_key(spec.dataset),
        deps=[suppressed_key(spec.dataset)],
        description=(
            f"Review pack for {spec.dataset}: every field's values and weights, automated "
            "findings, policy and changes since the last release. Read it, then sign off."
        ),
        partitions_def=financial_year_partitions(spec),
        metadata={"scope": "admin"},
        kinds={"html", "markdown"},
        code_version=code_version(spec, CODE_VERSION),
        # Rebuilt when the scraper location materialises new suppressed metadata.
        automation_condition=AutomationCondition.eager(),
    )
    def _report(context: AssetExecutionContext, stores: ReviewStores) -> MaterializeResult:
        year = context.partition_key
        scoped = stores.stores()
        current = read_metadata(scoped, METADATA_SENSITIVE, spec.dataset, year)
        findings = review_metadata(current.rows, spec, reference_key(scoped))
        changes = None
        if scoped.tables.has_partition(METADATA_RELEASED, spec.dataset, year):
            released = read_metadata(scoped, METADATA_RELEASED, spec.dataset, year)
            changes = describe_changes(released.rows, current.rows)
        pack = build_review_pack(spec, year, current, findings, changes)
        folder = scoped.write_json_partition(
            ADMIN, review_pack_object(spec.dataset), year, pack.files()
        )
        blocking = blocking_findings(findings)
        # The status of the metadata this pack describes, read and hash-checked above.
        status = sign_off_status(scoped, spec, year, current=current)
        return MaterializeResult(
            metadata={
                "content_hash": current.content_hash,
                "review_pack_hash": pack.review_pack_hash,
                "blocking_findings": len(blocking),
                **status_metadata(status),
                # Values stay in the admin store: the UI gets the whole pack without them, and
                # where to read them (the admin store's folder, the `sign-off show` command).
                "review_pack": MetadataValue.md(pack.public_markdown),
                "values_in": MetadataValue.text(f"{folder}/review_pack.html (admin scope)"),
            }
        )

    return _report


def status_metadata(status) -> dict:
    """How a dataset-year stands, with the exact commands that sign it (asset metadata)."""
    commands = status.sign_commands()
    show = (
        f"artificial-data sign-off show --dataset {status.dataset} --year {status.financial_year}"
    )
    steps = [f"    {show}", *(f"    {c}" for c in commands)]
    paste = "Or paste a signed statement and its signature into `sign_off_job`"
    if commands:
        steps.append(
            "    artificial-data sign-off submit --statement FILE.json --signature FILE.json.sig"
        )
        paste += f" ([open it in the Launchpad]({launchpad_url(status)}), hashes filled in)"
    metadata = {
        "sign_off_status": status.state,
        "sign_off_detail": status.detail or "-",
        "sign_off_commands": MetadataValue.md(
            f"**{status.line()}**\n\n" + "\n".join(steps) + "\n\n" + paste + "."
        ),
    }
    if commands:
        metadata["sign_off_launchpad"] = MetadataValue.url(launchpad_url(status))
    return metadata


def build_sign_off_spec(spec: DatasetSpec) -> AssetSpec:
    """``<dataset>/sign_off``: reported, never computed (two people sign outside Dagster)."""
    return AssetSpec(
        key=sign_off_key(spec.dataset),
        deps=[review_report_key(spec.dataset)],
        description=(
            f"Sign-off of {spec.dataset}: materialised once per verified approved pair of "
            "signed statements (reviewer and approver) for the current metadata and review "
            "pack hashes; observed as never scraped, waiting (pending), signed or rejected "
            "(refused). Check `approved` fails while pending (WARN) or refused (ERROR)."
        ),
        partitions_def=financial_year_partitions(spec),
        metadata={"scope": "admin"},
        kinds={"ssh", "json"},
        code_version=code_version(spec, CODE_VERSION),
    )


def build_approved_check(spec: DatasetSpec) -> AssetChecksDefinition:
    """The blocking check ``approved`` on ``<dataset>/sign_off``; the sign-off sensor reports
    it, and executing it re-evaluates the partition from the admin store."""

    @asset_check(
        asset=sign_off_key(spec.dataset),
        name=APPROVED_CHECK,
        blocking=True,
        partitions_def=financial_year_partitions(spec),
        description=(
            "Passes when a reviewer and an approver signed the current hashes, approved, and "
            "the pair verifies; fails with WARN while pending and ERROR when refused."
        ),
    )
    def _approved(context: AssetCheckExecutionContext, stores: ReviewStores) -> AssetCheckResult:
        evaluation = check_evaluation(sign_off_status(stores.stores(), spec, context.partition_key))
        return AssetCheckResult(
            passed=evaluation.passed,
            severity=evaluation.severity,
            description=evaluation.description,
            metadata=evaluation.metadata,
        )

    return _approved


def release_condition(spec: DatasetSpec) -> AutomationCondition:
    """Request the release once per new sign-off materialisation whose check passed.

    The trigger is an edge (the partition became missing, or ``sign_off`` was materialised);
    ``since`` a request or a materialisation of the release itself it stays true, so a check
    reported a moment later still gets its run, and a failed release is not retried.
    """
    sign_off = AssetSelection.assets(sign_off_key(spec.dataset))
    trigger = AutomationCondition.newly_missing() | AutomationCondition.any_deps_updated().allow(
        sign_off
    )
    handled = AutomationCondition.newly_requested() | AutomationCondition.newly_updated()
    return (
        trigger.since(handled)
        & ~AutomationCondition.any_deps_missing().allow(sign_off)
        & AutomationCondition.all_deps_blocking_checks_passed().allow(sign_off)
        & ~AutomationCondition.in_progress()
    ).with_label("once per approved sign-off")


def build_reviewed_asset(spec: DatasetSpec) -> AssetsDefinition:
    @asset(
        key=reviewed_key(spec.dataset),
        deps=[suppressed_key(spec.dataset), sign_off_key(spec.dataset)],
        description=(
            f"Released metadata of {spec.dataset}: exactly the content a reviewer and an "
            "approver signed with their own keys (hash-bound), with their signed statements. "
            "The only input the generator may read."
        ),
        partitions_def=financial_year_partitions(spec),
        metadata={"scope": "released"},
        kinds={"parquet"},
        code_version=code_version(spec, CODE_VERSION),
        output_required=False,
        automation_condition=release_condition(spec),
    )
    def _reviewed(context: AssetExecutionContext, stores: ReviewStores):
        try:
            result = release(stores.stores(), spec, context.partition_key)
        except ReleaseRefused as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc
        if result.already_released:
            # A replayed pair is a no-op: no second materialisation, no second generation.
            context.log.info(result.message())
            return
        pair = result.pair
        yield MaterializeResult(
            metadata={
                "content_hash": result.content_hash,
                "sign_off": pair.label(),
                "sign_off_pair": pair.digest,
                "reviewer": f"{pair.reviewer.statement.signer} ({pair.reviewer.fingerprint})",
                "approver": f"{pair.approver.statement.signer} ({pair.approver.fingerprint})",
                "demo_sign_off": pair.demo,
                "checklist_version": pair.reviewer.statement.checklist_version,
                "path": MetadataValue.path(str(result.path)),
            }
        )

    return _reviewed
