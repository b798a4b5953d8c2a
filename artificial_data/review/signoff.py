"""Hash-bound sign-off records (DESIGN §7).

A sign-off says: *this* reviewer and *this* approver looked at the metadata whose content hash
is H (and the review pack whose hash is P) and decided to release it. Records are append-only
files in the admin store; each names the exact hashes, so a sign-off can never be stretched to
cover metadata that changed afterwards, and a replayed record (same id) is refused.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from artificial_data.common.disclosure_checks import CHECKLIST_VERSION
from artificial_data.common.metadata_store import read_metadata, write_metadata
from artificial_data.common.stores import ADMIN, METADATA_SENSITIVE, ScopedStores

DECISIONS = ("approved", "rejected")
DEMO_REVIEWER = "Demo Reviewer (DEMO ONLY - not a real disclosure review)"
DEMO_APPROVER = "Demo Approver (DEMO ONLY - not a real disclosure review)"


class SignOffRefused(ValueError):
    """A sign-off cannot be recorded or used. The message says why and what to do."""


def sign_off_log(dataset: str) -> str:
    return f"signoffs/{dataset}"


def review_pack_object(dataset: str) -> str:
    return f"review_packs/{dataset}"


def signed_snapshot_object(dataset: str) -> str:
    """Where the exact signed-off metadata is kept (one partition per sign-off id), so that a
    refused release can say what changed since."""
    return f"signed/{dataset}"


@dataclass(frozen=True)
class SignOff:
    dataset: str
    financial_year: str
    content_hash: str
    review_pack_hash: str
    reviewer: str
    reviewer_role: str
    approver: str
    approver_role: str
    decision: str
    checklist_version: str = CHECKLIST_VERSION
    notes: str = ""
    demo: bool = False
    reviewed_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    approved_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    sign_off_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    recorded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignOff:
        return cls(**data)


def current_review_pack_hash(stores: ScopedStores, dataset: str, financial_year: str) -> str:
    """The hash of the review pack currently on file for this partition."""
    if not stores.has_partition(ADMIN, review_pack_object(dataset), financial_year):
        raise SignOffRefused(
            f"{dataset} {financial_year}: there is no review pack yet; materialise "
            f"review/report/{dataset} for {financial_year} and read it before signing off"
        )
    path = stores.partition_path(ADMIN, review_pack_object(dataset), financial_year)
    return json.loads((path / "pack.json").read_text())["review_pack_hash"]


def record_sign_off(stores: ScopedStores, sign_off: SignOff) -> SignOff:
    """Check ``sign_off`` against the current metadata and review pack, then append it."""
    if sign_off.decision not in DECISIONS:
        raise SignOffRefused(f"decision must be one of {DECISIONS}, not {sign_off.decision!r}")
    for who, name in (("reviewer", sign_off.reviewer), ("approver", sign_off.approver)):
        if not name.strip():
            raise SignOffRefused(f"a sign-off needs a named {who}")
    if sign_off.reviewer.strip().lower() == sign_off.approver.strip().lower():
        raise SignOffRefused("the reviewer and the approver must be two different people")

    current = read_metadata(stores, METADATA_SENSITIVE, sign_off.dataset, sign_off.financial_year)
    if sign_off.content_hash != current.content_hash:
        raise SignOffRefused(
            f"{sign_off.dataset} {sign_off.financial_year}: the sign-off is for metadata hash "
            f"{sign_off.content_hash[:12]}, but the current suppressed metadata has hash "
            f"{current.content_hash[:12]} (scraped {current.header.scraped_at}). Review the "
            "current review pack and sign off its hash."
        )
    pack_hash = current_review_pack_hash(stores, sign_off.dataset, sign_off.financial_year)
    if sign_off.review_pack_hash != pack_hash:
        raise SignOffRefused(
            f"{sign_off.dataset} {sign_off.financial_year}: the sign-off names review pack "
            f"{sign_off.review_pack_hash[:12]}, but the current pack is {pack_hash[:12]}"
        )
    if any(
        r["sign_off_id"] == sign_off.sign_off_id
        for r in stores.read_records(ADMIN, sign_off_log(sign_off.dataset))
    ):
        raise SignOffRefused(f"sign-off {sign_off.sign_off_id} is already recorded (replay)")
    write_metadata(
        stores,
        ADMIN,
        signed_snapshot_object(sign_off.dataset),
        sign_off.sign_off_id,
        current.rows,
        current.header,
    )
    stores.append_record(ADMIN, sign_off_log(sign_off.dataset), sign_off.as_dict())
    return sign_off


def sign_offs(
    stores: ScopedStores, dataset: str, financial_year: str | None = None
) -> list[SignOff]:
    """Recorded sign-offs, oldest first."""
    records = [SignOff.from_dict(r) for r in stores.read_records(ADMIN, sign_off_log(dataset))]
    return [r for r in records if financial_year is None or r.financial_year == financial_year]


def latest_sign_off(stores: ScopedStores, dataset: str, financial_year: str) -> SignOff | None:
    records = sign_offs(stores, dataset, financial_year)
    return records[-1] if records else None
