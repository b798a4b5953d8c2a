"""Released metadata travels with its signed statements; readers re-verify both (DESIGN §7).

The release writes the reviewer's and the approver's statements and signatures into the
released partition itself (``signoff/``), so the metadata and the sign-off that allowed it are
swapped in together. :func:`verify_release` is what the generator runs before it uses a row:

1. the rows and header hash to the hash recorded with them (an edit on disk is caught);
2. both signatures verify against the operator's allowed signers, by two distinct people with
   two distinct keys in their roles' namespaces, and both statements sign *that* hash (an edit
   on disk that was re-hashed is caught here);
3. the disclosure policy in the header is no looser than the HES floor or the dataset spec, and
   every weight it is about to use meets it;
4. every field the spec scrapes (and the patient key) is present, or recorded in the header as
   fully suppressed.

Every refusal is one line naming dataset, year and what failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from artificial_data.common.dataset_spec import DatasetSpec, DisclosurePolicy
from artificial_data.common.disclosure import meets_policy
from artificial_data.common.metadata_contract import MetadataContractError, MetadataHeader
from artificial_data.common.metadata_store import (
    MetadataTampered,
    StoredMetadata,
    read_metadata,
)
from artificial_data.common.signing import AllowedSigners, SigningError, load_allowed_signers
from artificial_data.common.signoff_statement import (
    SignedStatement,
    StatementInvalid,
    VerifiedPair,
    verify_pair,
)
from artificial_data.common.stores import METADATA_RELEASED, PartitionMissing, ScopedStores

SIGNOFF_FOLDER = "signoff"


class ReleaseUnverified(ValueError):
    """Released metadata failed re-verification. The message is one line."""


@dataclass(frozen=True)
class VerifiedRelease:
    metadata: StoredMetadata
    pair: VerifiedPair


def statement_files(reviewer: SignedStatement, approver: SignedStatement) -> dict[str, bytes]:
    """The files a release puts next to the metadata (relative to the partition)."""
    files = {}
    for role, signed in (("reviewer", reviewer), ("approver", approver)):
        files[f"{SIGNOFF_FOLDER}/{role}.json"] = signed.statement.to_bytes()
        files[f"{SIGNOFF_FOLDER}/{role}.json.sig"] = signed.signature.encode()
    return files


def read_statements(attachments: Mapping[str, bytes]) -> tuple[SignedStatement, SignedStatement]:
    """The signed statements stored in a released partition (its attachments)."""
    pair = []
    for role in ("reviewer", "approver"):
        base = f"{SIGNOFF_FOLDER}/{role}.json"
        statement, sig = attachments.get(base), attachments.get(f"{base}.sig")
        if statement is None or sig is None:
            raise StatementInvalid(f"the {role}'s signed statement is not in the release")
        pair.append(SignedStatement.parse(statement, sig.decode()))
    return pair[0], pair[1]


def policy_problems(rows: pd.DataFrame, header: MetadataHeader, spec: DatasetSpec) -> list[str]:
    """How the header's policy, or a weight under it, falls short (empty when all is well)."""
    try:
        policy = DisclosurePolicy(
            min_count=int(header.policy["min_count"]),
            rounding_base=int(header.policy["rounding_base"]),
            name=str(header.policy.get("name", "")),
        )
    except (KeyError, TypeError, ValueError):
        return ["the header holds no usable disclosure policy (min_count, rounding_base)"]
    problems = [f"policy {b}" for b in policy.floor_breaches()]
    floor = spec.disclosure
    if policy.min_count < floor.min_count or policy.rounding_base % floor.rounding_base:
        problems.append(
            f"policy (min_count {policy.min_count}, rounding_base {policy.rounding_base}) is "
            f"looser than the spec's (min_count {floor.min_count}, rounding_base "
            f"{floor.rounding_base})"
        )
    if problems:
        return problems
    weights = rows["WEIGHT"].to_numpy(dtype=float)
    bad = ~meets_policy(weights, policy) | ~np.isfinite(weights)
    if bad.any():
        first = rows.loc[bad].iloc[0]
        problems.append(
            f"{int(bad.sum())} weight(s) break the policy (min_count {policy.min_count}, "
            f"rounding_base {policy.rounding_base}), first in field {first['FIELD_NAME']}"
        )
    return problems


def field_problems(rows: pd.DataFrame, header: MetadataHeader, spec: DatasetSpec) -> list[str]:
    """Fields the spec scrapes that are neither present nor recorded as fully suppressed."""
    expected = [f.name for f in spec.scraped_fields]
    if spec.patient_key not in expected:
        expected.append(spec.patient_key)
    present = set(rows["FIELD_NAME"])
    suppressed = set(header.suppressed_fields)
    problems = []
    missing = [n for n in expected if n not in present and n not in suppressed]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        problems.append(
            f"{len(missing)} field(s) of the spec are missing and not recorded as fully "
            f"suppressed: {shown}"
        )
    both = sorted(suppressed & present)
    if both:
        problems.append(f"fields recorded as fully suppressed but present: {', '.join(both)}")
    unknown = sorted(suppressed - set(expected))
    if unknown:
        problems.append(f"fields recorded as suppressed that the spec does not scrape: {unknown}")
    return problems


def verify_release(
    stores: ScopedStores,
    spec: DatasetSpec,
    financial_year: str,
    signers: AllowedSigners | None = None,
    hint: str = "",
) -> VerifiedRelease:
    """Read one released partition and re-verify it (module docstring) before any use."""
    dataset = spec.dataset

    def refuse(what: str) -> ReleaseUnverified:
        line = " ".join(what.split())
        return ReleaseUnverified(f"{dataset} {financial_year}: released metadata refused: {line}")

    try:
        released = read_metadata(stores, METADATA_RELEASED, dataset, financial_year, hint=hint)
    except PartitionMissing:
        raise
    except (MetadataTampered, MetadataContractError, OSError, ValueError, KeyError) as exc:
        raise refuse(str(exc)) from None
    header = released.header
    if (header.dataset, header.financial_year) != (dataset, financial_year):
        raise refuse(f"the header is for {header.dataset} {header.financial_year}")
    try:
        signers = signers or load_allowed_signers()
        reviewer, approver = read_statements(released.attachments)
        pair = verify_pair(
            reviewer,
            approver,
            signers,
            dataset=dataset,
            financial_year=financial_year,
            content_hash=released.content_hash,
            simulated_source=bool(header.simulated_source),
        )
    except (SigningError, StatementInvalid, OSError) as exc:
        raise refuse(f"sign-off: {exc}") from None
    problems = policy_problems(released.rows, header, spec)
    problems += field_problems(released.rows, header, spec)
    if problems:
        raise refuse("; ".join(problems))
    return VerifiedRelease(metadata=released, pair=pair)
