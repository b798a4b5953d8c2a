"""Sign-off statements: the one place that builds, parses and checks them (DESIGN §7).

A statement is what one person signs: *I, <signer>, as <role>, decided <decision> for the
metadata of <dataset> <financial year> whose content hash is H, having read the review pack
whose hash is P under checklist version C, at <time>.* Its bytes are canonical JSON (sorted
keys, fixed separators, ASCII, no trailing newline), so the same statement always has the same
bytes and the same SHA-256 digest; parsing refuses any other spelling of it, so a statement
cannot be re-spelt into a "new" one that slips past replay detection.

A **pair** is a reviewer's and an approver's statement that agree on everything but role,
signer and time. :func:`verify_pair` is the whole rule, used by release (review location) and
again by the generator before it reads a row:

- both signatures verify against the allowed signers, each in its role's namespace, so a key
  the operator granted only the reviewer role cannot sign as approver;
- two distinct identities *and* two distinct keys;
- both name the expected content hash (and review-pack hash, where the caller knows it);
- both decided ``approved``;
- demo statements (signed in the demo namespaces) count only for metadata whose own header
  says ``simulated_source: true``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from artificial_data.common.signing import (
    ROLES,
    AllowedSigners,
    SigningError,
    namespace,
    verify,
)

KIND = "artificial-data-sign-off"
FORMAT_VERSION = 1
DECISIONS = ("approved", "rejected")
APPROVED = "approved"
DEMO_IDENTITIES = {
    "reviewer": "demo-reviewer@artificial-data.invalid",
    "approver": "demo-approver@artificial-data.invalid",
}

_HASH = re.compile(r"^[0-9a-f]{64}$")
_IDENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}$")
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class StatementInvalid(ValueError):
    """A statement (or a pair of them) is malformed, does not verify or does not apply."""


@dataclass(frozen=True)
class Statement:
    dataset: str
    financial_year: str
    content_hash: str
    review_pack_hash: str
    checklist_version: str
    decision: str
    role: str
    signer: str
    signed_at: str
    demo: bool = False
    kind: str = KIND
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        problems = []
        if self.kind != KIND or self.version != FORMAT_VERSION:
            problems.append(f"not a version-{FORMAT_VERSION} {KIND} statement")
        for name in ("dataset", "financial_year"):
            if not isinstance(getattr(self, name), str) or not _NAME.match(getattr(self, name)):
                problems.append(f"bad {name}")
        for name in ("content_hash", "review_pack_hash"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _HASH.match(value):
                problems.append(f"{name} must be 64 lowercase hex digits")
        if not isinstance(self.checklist_version, str) or not self.checklist_version.strip():
            problems.append("no checklist_version")
        if self.decision not in DECISIONS:
            problems.append(f"decision must be one of {DECISIONS}")
        if self.role not in ROLES:
            problems.append(f"role must be one of {ROLES}")
        if not isinstance(self.signer, str) or not _IDENTITY.match(self.signer):
            problems.append("signer must be an identity such as alice@example.org")
        if not isinstance(self.signed_at, str) or not _TIME.match(self.signed_at):
            problems.append("signed_at must be an ISO 8601 time with its offset")
        if not isinstance(self.demo, bool):
            problems.append("demo must be true or false")
        if problems:
            raise StatementInvalid("statement: " + "; ".join(problems))

    @classmethod
    def new(
        cls,
        *,
        dataset: str,
        financial_year: str,
        content_hash: str,
        review_pack_hash: str,
        checklist_version: str,
        role: str,
        signer: str,
        decision: str = APPROVED,
        demo: bool = False,
    ) -> Statement:
        return cls(
            dataset=dataset,
            financial_year=financial_year,
            content_hash=content_hash,
            review_pack_hash=review_pack_hash,
            checklist_version=checklist_version,
            decision=decision,
            role=role,
            signer=signer,
            signed_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            demo=demo,
        )

    def to_bytes(self) -> bytes:
        """The canonical bytes: what is signed and what the digest is taken of."""
        return json.dumps(
            asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        ).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Statement:
        """Parse canonical statement bytes; anything else (extra keys, other spacing) fails.

        Surrounding whitespace is ignored (text pasted into a form often gains a newline): it
        is never part of the canonical bytes.
        """
        raw = data.encode() if isinstance(data, str) else bytes(data)
        raw = raw.strip()
        try:
            parsed = json.loads(raw.decode("ascii"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise StatementInvalid("statement: not ASCII JSON") from None
        names = {f.name for f in fields(cls)}
        if not isinstance(parsed, dict) or set(parsed) != names:
            raise StatementInvalid(f"statement: expected exactly the keys {sorted(names)}")
        statement = cls(**parsed)
        if statement.to_bytes() != raw:
            raise StatementInvalid(
                "statement: not in canonical form (sorted keys, no spaces); sign the bytes "
                "`artificial-data sign-off sign` writes, unchanged"
            )
        return statement

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @property
    def namespace(self) -> str:
        return namespace(self.role, self.demo)

    def subject(self) -> tuple:
        """What the two statements of a pair must agree on."""
        return (
            self.dataset,
            self.financial_year,
            self.content_hash,
            self.review_pack_hash,
            self.checklist_version,
            self.decision,
            self.demo,
        )

    def describe(self) -> str:
        demo = " DEMO" if self.demo else ""
        return f"{self.role}{demo} {self.signer} ({self.decision}, {self.signed_at})"


@dataclass(frozen=True)
class SignedStatement:
    """A statement's canonical bytes with its armored SSH signature."""

    statement: Statement
    signature: str

    @classmethod
    def parse(cls, statement: bytes | str, signature: str) -> SignedStatement:
        return cls(Statement.from_bytes(statement), signature.strip() + "\n")

    @property
    def digest(self) -> str:
        return self.statement.digest


@dataclass(frozen=True)
class VerifiedStatement:
    signed: SignedStatement
    fingerprint: str

    @property
    def statement(self) -> Statement:
        return self.signed.statement


def verify_statement(signed: SignedStatement, signers: AllowedSigners) -> VerifiedStatement:
    """Check one signature (its signer, its role's namespace, an allowed key)."""
    s = signed.statement
    try:
        fingerprint = verify(s.to_bytes(), signed.signature, signers, s.signer, s.namespace)
    except SigningError as exc:
        raise StatementInvalid(str(exc)) from None
    return VerifiedStatement(signed, fingerprint)


def pair_digest(reviewer: Statement, approver: Statement) -> str:
    """The identity of a pair: what replay detection keys on."""
    return hashlib.sha256(f"{reviewer.digest}:{approver.digest}".encode()).hexdigest()


@dataclass(frozen=True)
class VerifiedPair:
    reviewer: VerifiedStatement
    approver: VerifiedStatement

    @property
    def digest(self) -> str:
        return pair_digest(self.reviewer.statement, self.approver.statement)

    @property
    def demo(self) -> bool:
        return self.reviewer.statement.demo

    @property
    def content_hash(self) -> str:
        return self.reviewer.statement.content_hash

    @property
    def review_pack_hash(self) -> str:
        return self.reviewer.statement.review_pack_hash

    def summary(self) -> dict[str, object]:
        r, a = self.reviewer, self.approver
        return {
            "pair_digest": self.digest,
            "demo": self.demo,
            "reviewer": r.statement.signer,
            "reviewer_key": r.fingerprint,
            "reviewer_statement": r.statement.digest,
            "reviewer_signed_at": r.statement.signed_at,
            "approver": a.statement.signer,
            "approver_key": a.fingerprint,
            "approver_statement": a.statement.digest,
            "approver_signed_at": a.statement.signed_at,
            "checklist_version": r.statement.checklist_version,
            "content_hash": self.content_hash,
            "review_pack_hash": self.review_pack_hash,
        }

    def label(self) -> str:
        demo = "DEMO sign-off (demo keys, not a disclosure review): " if self.demo else ""
        return (
            f"{demo}reviewer {self.reviewer.statement.signer}, approver "
            f"{self.approver.statement.signer}"
        )


def verify_pair(
    reviewer: SignedStatement,
    approver: SignedStatement,
    signers: AllowedSigners,
    *,
    dataset: str,
    financial_year: str,
    content_hash: str,
    simulated_source: bool,
    review_pack_hash: str | None = None,
) -> VerifiedPair:
    """Apply the whole sign-off rule (module docstring). Raises :class:`StatementInvalid`."""
    r, a = reviewer.statement, approver.statement
    if r.role != "reviewer" or a.role != "approver":
        raise StatementInvalid(
            f"the pair holds a {r.role} and an {a.role} statement, not a reviewer and an approver"
        )
    for s in (r, a):
        if (s.dataset, s.financial_year) != (dataset, financial_year):
            raise StatementInvalid(
                f"the {s.role} statement is for {s.dataset} {s.financial_year}, not {dataset} "
                f"{financial_year}"
            )
    if r.subject() != a.subject():
        differs = [
            name
            for name, x, y in zip(
                (
                    "dataset",
                    "financial_year",
                    "content_hash",
                    "review_pack_hash",
                    "checklist_version",
                    "decision",
                    "demo",
                ),
                r.subject(),
                a.subject(),
                strict=True,
            )
            if x != y
        ]
        raise StatementInvalid(
            f"the reviewer's and the approver's statements disagree on {', '.join(differs)}"
        )
    if r.signer.lower() == a.signer.lower():
        raise StatementInvalid(
            f"{r.signer} signed as both reviewer and approver: two different people must sign"
        )
    if r.content_hash != content_hash:
        raise StatementInvalid(
            f"the statements sign content hash {r.content_hash[:12]}, but the metadata hashes "
            f"to {content_hash[:12]}"
        )
    if review_pack_hash is not None and r.review_pack_hash != review_pack_hash:
        raise StatementInvalid(
            f"the statements sign review pack {r.review_pack_hash[:12]}, but the current pack "
            f"is {review_pack_hash[:12]}"
        )
    if r.demo and not simulated_source:
        raise StatementInvalid(
            "a DEMO sign-off (demo keys) can approve only metadata whose header says "
            "simulated_source: true; this metadata is not from simulated data"
        )
    if r.decision != APPROVED:
        raise StatementInvalid(f"the sign-off decided '{r.decision}'")
    verified_r = verify_statement(reviewer, signers)
    verified_a = verify_statement(approver, signers)
    if verified_r.fingerprint == verified_a.fingerprint:
        raise StatementInvalid(
            f"the reviewer ({r.signer}) and the approver ({a.signer}) signed with the same key "
            f"{verified_r.fingerprint}: two different people must sign"
        )
    return VerifiedPair(verified_r, verified_a)
