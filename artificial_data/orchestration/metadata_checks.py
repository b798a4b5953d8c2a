"""Blocking asset checks on suppressed metadata (DESIGN §7), built per dataset.

They live with the asset they check (in the scraper location) so they run with every scrape
and a failure stops downstream steps in the same run; the release step re-runs the same
Dagster-free checks, so promotion is blocked even in a separate run.
"""

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    multi_asset_check,
)

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.disclosure_checks import CHECKS, review_metadata
from artificial_data.common.metadata_store import read_metadata
from artificial_data.common.references import reference_key
from artificial_data.common.stores import METADATA_SENSITIVE
from artificial_data.orchestration.keys import suppressed_key
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.resources import ScopedStoreResource

_DESCRIPTIONS = {
    "weights": "Every weight meets the suppression threshold and the rounding base.",
    "fields": "No forbidden identifier, derived or unknown field; identifiers only as "
    "RELATIONSHIP rows.",
    "domains": "Every published value lies inside its field's declared value domain (the "
    "allowlist in the dataset spec), and each row fills only the columns its type uses.",
    "value_scans": "No NHS number (modulus 11), e-mail address, postcode outside org-code "
    "fields, or UK phone number in any published value of any type (text, numbers, arrays).",
    "identifier_like": "No field whose released values mostly sit just above the threshold, "
    "or stand on average for barely more than the threshold.",
}


def build_disclosure_checks(spec: DatasetSpec) -> list[AssetChecksDefinition]:
    """One blocking check per automated review rule on ``<dataset>/suppressed_metadata``,
    evaluated together so the metadata is read and hash-checked once per partition."""
    partitions = financial_year_partitions(spec)

    @multi_asset_check(
        name=f"disclosure_checks_{spec.dataset}",
        specs=[
            AssetCheckSpec(
                f"disclosure_{name}",
                asset=suppressed_key(spec.dataset),
                description=_DESCRIPTIONS[name],
                blocking=True,
                partitions_def=partitions,
            )
            for name in CHECKS
        ],
    )
    def _checks(context, stores: ScopedStoreResource):
        scoped = stores.stores()
        current = read_metadata(scoped, METADATA_SENSITIVE, spec.dataset, context.partition_key)
        results = review_metadata(current.rows, spec, reference_key(scoped))
        for name in CHECKS:
            findings = results[name]
            # Run history is shared by every location and UI user: findings are named by
            # field, check and opaque reference; the values are in the review pack only.
            yield AssetCheckResult(
                check_name=f"disclosure_{name}",
                asset_key=suppressed_key(spec.dataset),
                passed=not findings,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "findings": len(findings),
                    "content_hash": current.content_hash,
                    "details": "\n".join(f.public_line() for f in findings[:50]) or "none",
                    "where_to_look": "the review pack of this partition (admin store) lists "
                    "each reference with its value",
                },
            )

    return [_checks]
