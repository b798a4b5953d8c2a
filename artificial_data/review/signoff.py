"""Signed sign-offs (DESIGN §7): submit a signed statement, find the pair that allows a release.

A reviewer and an approver each sign a statement (``common.signoff_statement``) with their own
OpenSSH key. Submitting one checks its signature against the operator's allowed signers and
that it names the *current* metadata content hash and review-pack hash, then appends it
(statement bytes and signature, nothing else that could be trusted) to an append-only log in
the admin store. Everything later is re-derived from those bytes and re-verified: a record
edited in place no longer verifies and is ignored, with the reason reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from artificial_data.common.dataset_spec import DatasetSpec, load_spec
from artificial_data.common.metadata_contract import MetadataContractError
from artificial_data.common.metadata_store import (
    MetadataTampered,
    StoredMetadata,
    read_metadata,
    write_metadata,
)
from artificial_data.common.signing import (
    AllowedSigners,
    SigningError,
    load_allowed_signers,
)
from artificial_data.common.signoff_statement import (
    SignedStatement,
    StatementInvalid,
    VerifiedPair,
    VerifiedStatement,
    verify_pair,
    verify_statement,
)
from artificial_data.common.stores import ADMIN, METADATA_SENSITIVE, PartitionMissing, ScopedStores

NEVER_SCRAPED = "never scraped"
WAITING_FOR_PACK = "waiting for review pack"
WAITING = "waiting for sign-off"
REJECTED = "rejected"
SIGNED = "signed"


class SignOffRefused(ValueError):
    """A statement cannot be recorded, or a sign-off cannot be used. One line: why."""


def statement_log(dataset: str) -> str:
    """The append-only log of submitted signed statements of ``dataset``."""
    return f"statements/{dataset}"


def review_pack_object(dataset: str) -> str:
    return f"review_packs/{dataset}"


def signed_snapshot_object(dataset: str) -> str:
    """Where the exact signed metadata is kept (one partition per content hash), so that a
    refused release can say what changed since."""
    return f"signed/{dataset}"


# ------------------------------------------------------------------------------ current state


@dataclass(frozen=True)
class ReviewPackInfo:
    review_pack_hash: str
    content_hash: str
    checklist_version: str
    summary: dict


def current_review_pack(stores: ScopedStores, dataset: str, financial_year: str) -> ReviewPackInfo:
    if not stores.has_partition(ADMIN, review_pack_object(dataset), financial_year):
        raise SignOffRefused(
            f"{dataset} {financial_year}: there is no review pack yet; materialise "
            f"{dataset}/review_pack for {financial_year} and read it before signing"
        )
    path = stores.partition_path(ADMIN, review_pack_object(dataset), financial_year)
    pack = json.loads((path / "pack.json").read_text())
    return ReviewPackInfo(
        review_pack_hash=pack["review_pack_hash"],
        content_hash=pack.get("content_hash", ""),
        checklist_version=pack.get("checklist_version", ""),
        summary=pack,
    )


def current_review_pack_hash(stores: ScopedStores, dataset: str, financial_year: str) -> str:
    """The hash of the review pack currently on file for this partition."""
    return current_review_pack(stores, dataset, financial_year).review_pack_hash


def current_metadata(stores: ScopedStores, dataset: str, financial_year: str) -> StoredMetadata:
    try:
        return read_metadata(stores, METADATA_SENSITIVE, dataset, financial_year)
    except PartitionMissing:
        raise SignOffRefused(f"{dataset} {financial_year} was never scraped") from None
    except (MetadataTampered, MetadataContractError) as exc:
        raise SignOffRefused(" ".join(f"{dataset} {financial_year}: {exc}".split())) from None


def current_hashes(
    stores: ScopedStores, dataset: str, financial_year: str
) -> tuple[StoredMetadata, ReviewPackInfo]:
    """The current metadata and its review pack; refused if the pack was built for other
    metadata (a sign-off must bind the content to the pack that describes it)."""
    current = current_metadata(stores, dataset, financial_year)
    pack = current_review_pack(stores, dataset, financial_year)
    if pack.content_hash and pack.content_hash != current.content_hash:
        raise SignOffRefused(
            f"{dataset} {financial_year}: the review pack on file describes metadata "
            f"{pack.content_hash[:12]}, not the current {current.content_hash[:12]}; rebuild "
            f"{dataset}/review_pack for {financial_year} and read it"
        )
    return current, pack


def allowed_signers() -> AllowedSigners:
    try:
        return load_allowed_signers()
    except SigningError as exc:
        raise SignOffRefused(str(exc)) from None


# ------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class RecordedStatements:
    """The statements recorded for one partition, oldest first, after re-verification."""

    valid: list[VerifiedStatement]
    broken: list[str]  # why each unusable record was ignored

    def for_hashes(self, content_hash: str, review_pack_hash: str) -> list[VerifiedStatement]:
        return [
            v
            for v in self.valid
            if (v.statement.content_hash, v.statement.review_pack_hash)
            == (content_hash, review_pack_hash)
        ]


def _records(stores: ScopedStores, dataset: str) -> list[dict]:
    return stores.read_records(ADMIN, statement_log(dataset))


def recorded_statements(
    stores: ScopedStores, dataset: str, financial_year: str, signers: AllowedSigners
) -> RecordedStatements:
    valid, broken = [], []
    for number, record in enumerate(_records(stores, dataset), start=1):
        try:
            signed = SignedStatement.parse(record["statement"], record["signature"])
        except (KeyError, TypeError, StatementInvalid) as exc:
            broken.append(f"record {number}: {exc}")
            continue
        if signed.statement.financial_year != financial_year:
            continue
        try:
            valid.append(verify_statement(signed, signers))
        except StatementInvalid as exc:
            broken.append(f"record {number} ({signed.statement.describe()}): {exc}")
    return RecordedStatements(valid, broken)


def release_log(dataset: str) -> str:
    return f"releases/{dataset}"


def release_records(stores: ScopedStores, dataset: str) -> list[dict]:
    """Records of signed releases (older, unsigned-era records are skipped)."""
    return [r for r in stores.read_records(ADMIN, release_log(dataset)) if "pair_digest" in r]


def released_pair_digests(stores: ScopedStores, dataset: str) -> set[str]:
    """The statement pairs that have already been released."""
    return {r["pair_digest"] for r in release_records(stores, dataset)}


def recorded_digests(stores: ScopedStores, dataset: str) -> set[str]:
    digests = set()
    for record in _records(stores, dataset):
        try:
            digests.add(SignedStatement.parse(record["statement"], record["signature"]).digest)
        except (KeyError, TypeError, StatementInvalid):
            continue
    return digests


# ------------------------------------------------------------------------------------- submit


@dataclass(frozen=True)
class SubmitResult:
    statement: VerifiedStatement
    recorded: bool  # False: the very same statement was already on file (a no-op)
    status: SignOffStatus

    def message(self) -> str:
        s = self.statement.statement
        what = "recorded" if self.recorded else "already recorded (nothing changed):"
        return (
            f"{what} {s.describe()} for {s.dataset} {s.financial_year}, statement "
            f"{s.digest[:12]}; status: {self.status.line()}"
        )


def submit_statement(
    stores: ScopedStores,
    statement: bytes | str,
    signature: str,
    signers: AllowedSigners | None = None,
) -> SubmitResult:
    """Verify one signed statement against the current partition and record it."""
    try:
        signed = SignedStatement.parse(statement, signature)
    except StatementInvalid as exc:
        raise SignOffRefused(str(exc)) from None
    s = signed.statement
    try:
        spec = load_spec(s.dataset)
    except Exception:  # the spec loader's own error types vary; the message is what matters
        raise SignOffRefused(f"statement names an unknown dataset {s.dataset!r}") from None
    where = f"{s.dataset} {s.financial_year}"
    if s.financial_year not in spec.financial_years:
        raise SignOffRefused(f"{where}: {s.financial_year} is not a financial year of the spec")
    signers = signers or allowed_signers()
    try:
        verified = verify_statement(signed, signers)
    except StatementInvalid as exc:
        raise SignOffRefused(f"{where}: {exc}") from None

    current, pack = current_hashes(stores, s.dataset, s.financial_year)
    if s.content_hash != current.content_hash:
        raise SignOffRefused(
            f"{where}: the statement signs metadata hash {s.content_hash[:12]}, but the current "
            f"suppressed metadata has hash {current.content_hash[:12]} (scraped "
            f"{current.header.scraped_at}); read the current review pack and sign its hashes"
        )
    if s.review_pack_hash != pack.review_pack_hash:
        raise SignOffRefused(
            f"{where}: the statement signs review pack {s.review_pack_hash[:12]}, but the "
            f"current pack is {pack.review_pack_hash[:12]}"
        )
    if pack.checklist_version and s.checklist_version != pack.checklist_version:
        raise SignOffRefused(
            f"{where}: the statement names checklist {s.checklist_version}, the pack was built "
            f"with checklist {pack.checklist_version}"
        )
    if s.demo and not current.header.simulated_source:
        raise SignOffRefused(
            f"{where}: a DEMO statement can sign off only metadata whose header says "
            "simulated_source: true"
        )

    existing = recorded_statements(stores, s.dataset, s.financial_year, signers)
    if any(v.statement.digest == s.digest for v in existing.valid):
        status = sign_off_status(stores, spec, s.financial_year, signers, current=current)
        return SubmitResult(verified, False, status)
    for other in existing.for_hashes(s.content_hash, s.review_pack_hash):
        o = other.statement
        if o.role != s.role and (
            o.signer.lower() == s.signer.lower() or other.fingerprint == verified.fingerprint
        ):
            raise SignOffRefused(
                f"{where}: {s.signer} cannot sign as {s.role}: {o.signer} already signed as "
                f"{o.role} with {'that identity' if o.signer == s.signer else 'the same key'}; "
                "two different people must sign"
            )

    snapshot = signed_snapshot_object(s.dataset)
    if not stores.has_partition(ADMIN, snapshot, current.content_hash):
        write_metadata(
            stores,
            ADMIN,
            snapshot,
            current.content_hash,
            current.rows,
            current.header,
            validated_hash=current.content_hash,  # read and hash-checked above
        )
    stores.append_record(
        ADMIN,
        statement_log(s.dataset),
        {
            # The statement and signature are the record; the rest is for people reading it.
            "statement": s.to_bytes().decode("ascii"),
            "signature": signed.signature,
            "statement_sha256": s.digest,
            "summary": s.describe(),
            "key": verified.fingerprint,
            "recorded_at": datetime.now(UTC).isoformat(),
        },
    )
    status = sign_off_status(stores, spec, s.financial_year, signers, current=current)
    return SubmitResult(verified, True, status)


# --------------------------------------------------------------------------------------- pair


@dataclass(frozen=True)
class PairSearch:
    """The latest reviewer and approver statements for the current hashes, and the verdict."""

    pair: VerifiedPair | None
    reason: str  # why there is no usable pair ("" when there is one)
    reviewer: VerifiedStatement | None = None
    approver: VerifiedStatement | None = None
    broken: list[str] = field(default_factory=list)
    latest: VerifiedStatement | None = None  # the latest valid statement for any hashes


def find_pair(
    stores: ScopedStores,
    spec: DatasetSpec,
    financial_year: str,
    current: StoredMetadata,
    review_pack_hash: str,
    signers: AllowedSigners,
) -> PairSearch:
    recorded = recorded_statements(stores, spec.dataset, financial_year, signers)
    matching = recorded.for_hashes(current.content_hash, review_pack_hash)
    latest = recorded.valid[-1] if recorded.valid else None
    reviewer = next((v for v in reversed(matching) if v.statement.role == "reviewer"), None)
    approver = next((v for v in reversed(matching) if v.statement.role == "approver"), None)
    search = {"reviewer": reviewer, "approver": approver, "broken": recorded.broken}
    if reviewer is None or approver is None:
        missing = " and ".join(
            role for role, v in (("reviewer", reviewer), ("approver", approver)) if v is None
        )
        reason = f"no valid signed statement of the {missing} for the current hashes"
        if recorded.broken:
            reason += f"; {len(recorded.broken)} recorded statement(s) do not verify"
        return PairSearch(None, reason, latest=latest, **search)
    try:
        pair = verify_pair(
            reviewer.signed,
            approver.signed,
            signers,
            dataset=spec.dataset,
            financial_year=financial_year,
            content_hash=current.content_hash,
            review_pack_hash=review_pack_hash,
            simulated_source=bool(current.header.simulated_source),
        )
    except StatementInvalid as exc:
        return PairSearch(None, str(exc), latest=latest, **search)
    return PairSearch(pair, "", latest=latest, **search)


# ------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class SignOffStatus:
    dataset: str
    financial_year: str
    state: str
    detail: str = ""
    content_hash: str = ""
    review_pack_hash: str = ""
    checklist_version: str = ""
    signed_by: dict[str, str] = field(default_factory=dict)  # role -> identity, current hashes
    pair: VerifiedPair | None = None  # the verified approved pair, when signed

    def line(self) -> str:
        return f"{self.state}" + (f" ({self.detail})" if self.detail else "")

    def sign_commands(self) -> list[str]:
        if not self.review_pack_hash:
            return []
        return [
            (
                f"artificial-data sign-off sign --dataset {self.dataset} --year "
                f"{self.financial_year} --role {role} --identity YOU@EXAMPLE.ORG --key "
                f"~/.ssh/id_ed25519 --decision approved --content-hash {self.content_hash} "
                f"--review-pack-hash {self.review_pack_hash}"
            )
            for role in ("reviewer", "approver")
            if role not in self.signed_by
        ]


def sign_off_status(
    stores: ScopedStores,
    spec: DatasetSpec,
    financial_year: str,
    signers: AllowedSigners | None = None,
    released_pairs: set[str] | None = None,
    current: StoredMetadata | None = None,
) -> SignOffStatus:
    """Where one dataset-year stands: never scraped, waiting for sign-off, signed, ...

    ``current`` is the suppressed metadata the calling step has already read and verified
    (``current_metadata``), so that one step reads, validates and hashes it once; without it
    the metadata is read here.
    """
    dataset = spec.dataset
    base = {"dataset": dataset, "financial_year": financial_year}
    if current is None:
        if not stores.tables.has_partition(METADATA_SENSITIVE, dataset, financial_year):
            return SignOffStatus(state=NEVER_SCRAPED, **base)
        try:
            current = current_metadata(stores, dataset, financial_year)
        except SignOffRefused as exc:
            return SignOffStatus(state=WAITING_FOR_PACK, detail=str(exc), **base)
    base["content_hash"] = current.content_hash
    try:
        pack = current_review_pack(stores, dataset, financial_year)
    except SignOffRefused:
        return SignOffStatus(state=WAITING_FOR_PACK, detail="no review pack yet", **base)
    if pack.content_hash and pack.content_hash != current.content_hash:
        return SignOffStatus(
            state=WAITING_FOR_PACK,
            detail="the review pack is older than the metadata: rebuild it",
            **base,
        )
    base["review_pack_hash"] = pack.review_pack_hash
    base["checklist_version"] = pack.checklist_version
    try:
        signers = signers or load_allowed_signers()
    except SigningError as exc:
        return SignOffStatus(state=WAITING, detail=str(exc), **base)
    search = find_pair(stores, spec, financial_year, current, pack.review_pack_hash, signers)
    signed_by = {
        v.statement.role: v.statement.signer for v in (search.reviewer, search.approver) if v
    }
    if search.pair is not None:
        if released_pairs is None:
            released_pairs = released_pair_digests(stores, dataset)
        released = search.pair.digest in released_pairs
        detail = search.pair.label() + ("; released" if released else "; not released yet")
        return SignOffStatus(
            state=SIGNED, detail=detail, signed_by=signed_by, pair=search.pair, **base
        )
    decisions = {v.statement.decision for v in (search.reviewer, search.approver) if v}
    if decisions == {"rejected"}:
        return SignOffStatus(state=REJECTED, detail=search.reason, signed_by=signed_by, **base)
    detail = ", ".join(f"{role} {who} signed" for role, who in signed_by.items())
    detail = "; ".join(d for d in (detail, search.reason) if d)
    return SignOffStatus(state=WAITING, detail=detail, signed_by=signed_by, **base)


def statuses(
    stores: ScopedStores, specs: list[DatasetSpec], signers: AllowedSigners | None = None
) -> list[SignOffStatus]:
    """The status of every dataset-year of ``specs``."""
    try:
        signers = signers or load_allowed_signers()
    except SigningError:
        signers = None
    return [sign_off_status(stores, s, y, signers) for s in specs for y in s.financial_years]
