"""Release: copy exactly the signed-off metadata into the released store (DESIGN §7).

Release refuses unless the latest sign-off for the partition approves the *current* content
hash and the automated checks find nothing blocking. When it refuses it says what changed
since the sign-off, using the snapshot saved when the sign-off was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.disclosure_checks import blocking_findings, review_metadata
from artificial_data.common.metadata_store import (
    MetadataTampered,
    StoredMetadata,
    read_metadata,
    write_metadata,
)
from artificial_data.common.references import reference_key
from artificial_data.common.stores import (
    ADMIN,
    METADATA_RELEASED,
    METADATA_SENSITIVE,
    ScopedStores,
)
from artificial_data.review.changes import describe_changes
from artificial_data.review.signoff import SignOff, latest_sign_off, signed_snapshot_object


class ReleaseRefused(RuntimeError):
    """The partition may not be released. The message says why and what to do."""


@dataclass(frozen=True)
class ReleaseResult:
    dataset: str
    financial_year: str
    content_hash: str
    sign_off: SignOff
    path: Path


def release_log(dataset: str) -> str:
    return f"releases/{dataset}"


def released_sign_off_ids(stores: ScopedStores, dataset: str) -> set[str]:
    """The sign-offs that have already been carried through to a release."""
    return {r["sign_off_id"] for r in stores.read_records(ADMIN, release_log(dataset))}


def _what_changed(stores: ScopedStores, sign_off: SignOff, current: StoredMetadata) -> str:
    snapshot = signed_snapshot_object(sign_off.dataset)
    partition = sign_off.sign_off_id
    if not stores.has_partition(ADMIN, snapshot, partition):
        return "no snapshot of the signed metadata is on file"
    signed = read_metadata(stores, ADMIN, snapshot, partition)
    lines = describe_changes(signed.rows, current.rows)
    if signed.header.hashed_part() != current.header.hashed_part():
        lines.insert(0, "header (policy, spec version or source row count) changed")
    return "; ".join(lines) or "the rows are equal but the header differs"


def release(stores: ScopedStores, spec: DatasetSpec, financial_year: str) -> ReleaseResult:
    """Release the current suppressed metadata of one partition, if its sign-off allows."""
    dataset = spec.dataset
    try:
        current = read_metadata(stores, METADATA_SENSITIVE, dataset, financial_year)
    except MetadataTampered as exc:
        raise ReleaseRefused(f"refusing to release {dataset} {financial_year}: {exc}") from exc

    sign_off = latest_sign_off(stores, dataset, financial_year)
    if sign_off is None:
        raise ReleaseRefused(
            f"{dataset} {financial_year} has no sign-off: a named reviewer and approver must "
            "sign off the current content hash first (`artificial-data sign-off ...`)"
        )
    if sign_off.decision != "approved":
        raise ReleaseRefused(
            f"{dataset} {financial_year}: the latest sign-off ({sign_off.sign_off_id}, by "
            f"{sign_off.reviewer}) decided '{sign_off.decision}'"
        )
    if sign_off.content_hash != current.content_hash:
        raise ReleaseRefused(
            f"{dataset} {financial_year}: the metadata changed after sign-off "
            f"(signed {sign_off.content_hash[:12]}, current {current.content_hash[:12]}): "
            f"{_what_changed(stores, sign_off, current)}. A new review and sign-off is needed."
        )
    blocking = blocking_findings(review_metadata(current.rows, spec, reference_key(stores)))
    if blocking:
        # The refusal reaches Dagster's shared run history: references, never values.
        listed = "; ".join(f.public_line() for f in blocking[:10])
        raise ReleaseRefused(
            f"{dataset} {financial_year}: {len(blocking)} blocking disclosure finding(s), "
            f"listed with their values in the review pack: {listed}"
        )
    released = write_metadata(
        stores, METADATA_RELEASED, dataset, financial_year, current.rows, current.header
    )
    if released.content_hash != sign_off.content_hash:  # pragma: no cover - defensive
        raise ReleaseRefused("released content does not hash to the signed hash")
    stores.append_record(
        ADMIN,
        release_log(dataset),
        {
            "dataset": dataset,
            "financial_year": financial_year,
            "content_hash": released.content_hash,
            "sign_off_id": sign_off.sign_off_id,
            "released_at": datetime.now(UTC).isoformat(),
        },
    )
    return ReleaseResult(dataset, financial_year, released.content_hash, sign_off, released.path)
