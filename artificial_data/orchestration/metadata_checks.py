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
from artificial_data.common.disclosure_checks import CHECKS
from artificial_data.common.metadata_store import read_metadata
from artificial_data.common.stores import METADATA_SENSITIVE
from artificial_data.orchestration.keys import suppressed_key
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.resources import ScopedStoreResource

_DESCRIPTIONS = {
    "weights": "Every weight meets the suppression threshold and the rounding base.",
    "fields": "No forbidden identifier, derived or unknown field; identifiers only as "
    "RELATIONSHIP rows.",
    "value_scans": "No NHS number (modulus 11), e-mail address, postcode outside org-code "
    "fields, or UK phone number in any published value.",
    "identifier_like": "No field whose values each stand for about one record.",
}


def build_disclosure_checks(spec: DatasetSpec) -> list[AssetChecksDefinition]:
    """One blocking check per automated review rule on ``metadata/suppressed/<dataset>``,
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
        current = read_metadata(
            stores.stores(), METADATA_SENSITIVE, spec.dataset, context.partition_key
        )
        for name, rule in CHECKS.items():
            findings = rule(current.rows, spec)
            yield AssetCheckResult(
                check_name=f"disclosure_{name}",
                asset_key=suppressed_key(spec.dataset),
                passed=not findings,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "findings": len(findings),
                    "content_hash": current.content_hash,
                    "details": "\n".join(
                        f"{f.field} = {f.value!r}: {f.reason}" for f in findings[:50]
                    )
                    or "none",
                },
            )

    return [_checks]
