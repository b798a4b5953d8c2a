"""Release: copy exactly the signed-off metadata into the released store (DESIGN §7).

Release looks for the latest reviewer's and approver's signed statements that name the
*current* content hash and review-pack hash, verifies the pair (``verify_pair``: signatures
against the operator's allowed signers, roles, two distinct people and keys, agreement,
decision, demo only for simulated data), runs the automated disclosure checks again, then
writes the metadata *and* the two signed statements into one released partition, so the
generator can verify them again before it reads a row.

A pair already released is a no-op with an "already released" result; a statement already
used by another release is refused (each release needs two fresh signatures). When it refuses
because the metadata changed, it says what changed, from the snapshot kept at signing time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.disclosure_checks import blocking_findings, review_metadata
from artificial_data.common.metadata_store import StoredMetadata, read_metadata, write_metadata
from artificial_data.common.references import reference_key
from artificial_data.common.released import statement_files
from artificial_data.common.signing import AllowedSigners
from artificial_data.common.signoff_statement import VerifiedPair
from artificial_data.common.stores import ADMIN, METADATA_RELEASED, ScopedStores
from artificial_data.review.changes import describe_changes
from artificial_data.review.signoff import (
    SignOffRefused,
    allowed_signers,
    current_metadata,
    current_review_pack,
    find_pair,
    release_log,
    release_records,
    signed_snapshot_object,
)


class ReleaseRefused(RuntimeError):
    """The partition may not be released. The message says why and what to do."""


@dataclass(frozen=True)
class ReleaseResult:
    dataset: str
    financial_year: str
    content_hash: str
    pair: VerifiedPair
    path: Path | str
    already_released: bool = False

    def message(self) -> str:
        if self.already_released:
            return (
                f"{self.dataset} {self.financial_year}: already released (sign-off pair "
                f"{self.pair.digest[:12]}, content {self.content_hash[:12]}); nothing done"
            )
        return (
            f"{self.dataset} {self.financial_year}: released content {self.content_hash[:12]} "
            f"signed off by {self.pair.label()}"
        )


def _what_changed(stores: ScopedStores, dataset: str, signed_hash: str, current) -> str:
    snapshot = signed_snapshot_object(dataset)
    if not stores.has_partition(ADMIN, snapshot, signed_hash):
        return "no snapshot of the signed metadata is on file"
    signed = read_metadata(stores, ADMIN, snapshot, signed_hash)
    lines = describe_changes(signed.rows, current.rows)
    if signed.header.hashed_part() != current.header.hashed_part():
        lines.insert(0, "header (policy, spec version or source row count) changed")
    return "; ".join(lines) or "the rows are equal but the header differs"


def _no_pair(stores, spec, year, current: StoredMetadata, pack_hash: str, search) -> str:
    dataset = spec.dataset
    where = f"{dataset} {year}"
    latest = search.latest
    if search.reviewer is None and search.approver is None and latest is not None:
        s = latest.statement
        if s.content_hash != current.content_hash:
            return (
                f"{where}: the metadata changed after sign-off (signed "
                f"{s.content_hash[:12]}, current {current.content_hash[:12]}): "
                f"{_what_changed(stores, dataset, s.content_hash, current)}. A new review and "
                "sign-off is needed."
            )
        return (
            f"{where}: the review pack changed after sign-off (signed "
            f"{s.review_pack_hash[:12]}, current {pack_hash[:12]}): read the current pack "
            "and sign its hashes."
        )
    if search.reviewer is None and search.approver is None:
        broken = f" ({'; '.join(search.broken[:3])})" if search.broken else ""
        return (
            f"{where} has no sign-off: a reviewer and an approver must each sign the current "
            f"hashes with their own key (`artificial-data sign-off show --dataset {dataset} "
            f"--year {year}`){broken}"
        )
    return f"{where}: {search.reason}"


def release(
    stores: ScopedStores,
    spec: DatasetSpec,
    financial_year: str,
    signers: AllowedSigners | None = None,
) -> ReleaseResult:
    """Release the current suppressed metadata of one partition, if a signed pair allows."""
    dataset = spec.dataset
    try:
        current = current_metadata(stores, dataset, financial_year)
        pack = current_review_pack(stores, dataset, financial_year)
        signers = signers or allowed_signers()
    except SignOffRefused as exc:
        raise ReleaseRefused(f"refusing to release: {exc}") from exc

    search = find_pair(stores, spec, financial_year, current, pack.review_pack_hash, signers)
    stale_pack = bool(pack.content_hash) and pack.content_hash != current.content_hash
    if search.pair is None or stale_pack:
        why = _no_pair(stores, spec, financial_year, current, pack.review_pack_hash, search)
        if stale_pack:
            why += (
                f" The review pack on file describes metadata {pack.content_hash[:12]}, not the "
                f"current {current.content_hash[:12]}: rebuild {dataset}/review_pack."
            )
        raise ReleaseRefused(why)
    pair = search.pair

    records = release_records(stores, dataset)
    if any(r["pair_digest"] == pair.digest for r in records):
        path = stores.tables.read(METADATA_RELEASED, dataset, financial_year).location
        return ReleaseResult(
            dataset, financial_year, current.content_hash, pair, path, already_released=True
        )
    used = {r["reviewer_statement"]: r for r in records} | {
        r["approver_statement"]: r for r in records
    }
    for verified in (pair.reviewer, pair.approver):
        earlier = used.get(verified.statement.digest)
        if earlier is not None:
            raise ReleaseRefused(
                f"{dataset} {financial_year}: the {verified.statement.describe()} statement "
                f"was already used by the release of {earlier['released_at']}; each release "
                "needs fresh statements from both people"
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
        stores,
        METADATA_RELEASED,
        dataset,
        financial_year,
        current.rows,
        current.header,
        extra_files=statement_files(pair.reviewer.signed, pair.approver.signed),
        # Validated and hash-checked when read above: not again for the copy.
        validated_hash=current.content_hash,
    )
    if released.content_hash != pair.content_hash:  # pragma: no cover - defensive
        raise ReleaseRefused("released content does not hash to the signed hash")
    stores.append_record(
        ADMIN,
        release_log(dataset),
        {
            "dataset": dataset,
            "financial_year": financial_year,
            **pair.summary(),
            "released_at": datetime.now(UTC).isoformat(),
        },
    )
    return ReleaseResult(dataset, financial_year, released.content_hash, pair, released.path)
