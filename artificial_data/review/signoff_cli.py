"""``artificial-data sign-off show | sign | submit | status``: the sign-off flow for people.

``show`` prints what is being signed; ``sign`` writes a statement and signs it with your own
OpenSSH key (``ssh-keygen -Y sign``); ``submit`` records a signed statement in the review
location's stores. Every refusal is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from artificial_data.common.dataset_spec import SpecError, load_all_specs, load_spec
from artificial_data.common.disclosure_checks import CHECKLIST_VERSION
from artificial_data.common.settings import load_settings
from artificial_data.common.signing import (
    ALLOWED_SIGNERS_ENV,
    ROLES,
    SigningError,
    load_allowed_signers,
    sign_file,
)
from artificial_data.common.signoff_statement import (
    DECISIONS,
    SignedStatement,
    Statement,
    StatementInvalid,
    verify_statement,
)
from artificial_data.common.stores import ADMIN, METADATA_SENSITIVE, REVIEW, ScopedStores
from artificial_data.review.review_pack import REVIEWER_CHECKLIST
from artificial_data.review.signoff import (
    SignOffRefused,
    current_hashes,
    current_metadata,
    current_review_pack,
    review_pack_object,
    sign_off_status,
    statuses,
    submit_statement,
)

REFUSALS = (SignOffRefused, SigningError, StatementInvalid, SpecError, OSError)


def _stores() -> ScopedStores:
    return ScopedStores.for_location(REVIEW, load_settings().store_roots)


def _refuse(message: str) -> int:
    print(f"sign-off refused: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


# ------------------------------------------------------------------------------------- show


def _show(args: argparse.Namespace) -> int:
    spec = load_spec(args.dataset)
    stores = _stores()
    status = sign_off_status(stores, spec, args.year)
    out = [f"{spec.dataset} {args.year}: {status.line()}"]
    if not stores.tables.has_partition(METADATA_SENSITIVE, spec.dataset, args.year):
        out.append(f"  scrape it first: materialise {spec.dataset}/suppressed_metadata")
        print("\n".join(out))
        return 0
    current = current_metadata(stores, spec.dataset, args.year)
    header = current.header
    out += [
        "",
        "What you sign:",
        f"  dataset             {spec.dataset} ({spec.title})",
        f"  financial year      {args.year}",
        f"  content hash        {current.content_hash}",
        f"  review pack hash    {status.review_pack_hash or '(no current review pack)'}",
        f"  checklist version   {status.checklist_version or CHECKLIST_VERSION}",
        "",
        "The metadata:",
        f"  source              "
        f"{'SIMULATED stand-in data' if header.simulated_source else 'raw HES extract'}",
        f"  source rows         {header.source_rows_rounded:,} (rounded)",
        f"  scraped at          {header.scraped_at}",
        f"  disclosure policy   min_count {header.policy.get('min_count')}, rounding_base "
        f"{header.policy.get('rounding_base')} ({header.policy.get('name', '')})",
        f"  metadata rows       {len(current.rows):,} over "
        f"{current.rows['FIELD_NAME'].nunique()} fields",
        f"  fully suppressed    {', '.join(header.suppressed_fields) or 'none'}",
    ]
    if status.review_pack_hash:
        pack = current_review_pack(stores, spec.dataset, args.year)
        findings = pack.summary.get("findings", {})
        blocking = sum(1 for fs in findings.values() for f in fs if f.get("blocking", True))
        out += ["", f"Automated findings ({blocking} blocking):"]
        for check, found in findings.items():
            out.append(f"  {check:20s} {len(found)}")
            # References only: the values are in the review pack itself.
            out += [
                f"    {f.get('reference', '')} {f.get('field', '')}: {f.get('reason', '')}"
                for f in found[:20]
            ]
        changes = pack.summary.get("changes")
        out += ["", "Changes since the last release:"]
        out += (
            ["  first release of this partition"]
            if changes is None
            else [f"  {c}" for c in changes] or ["  none"]
        )
        folder = stores.partition_path(ADMIN, review_pack_object(spec.dataset), args.year)
        out += ["", f"Read the review pack: {folder / 'review_pack.html'}"]
    out += ["", f"Checklist {status.checklist_version or CHECKLIST_VERSION}:"]
    out += [f"  [ ] {item}" for item in REVIEWER_CHECKLIST]
    if status.signed_by:
        out += ["", "Signed so far for these hashes:"]
        out += [f"  {role}: {who}" for role, who in status.signed_by.items()]
    commands = status.sign_commands()
    if commands:
        out += ["", "To sign (each person with their own key), then submit:"]
        out += [f"  {c}" for c in commands]
        out.append(
            "  artificial-data sign-off submit --statement FILE.json --signature FILE.json.sig"
        )
    print("\n".join(out))
    return 0


# ------------------------------------------------------------------------------------- sign


def _safe(identity: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]", "_", identity)


def _sign(args: argparse.Namespace) -> int:
    spec = load_spec(args.dataset)
    stores = _stores()
    content_hash, pack_hash = args.content_hash, args.review_pack_hash
    checklist = args.checklist_version
    scraped = stores.tables.has_partition(METADATA_SENSITIVE, spec.dataset, args.year)
    if scraped:
        current, pack = current_hashes(stores, spec.dataset, args.year)
        for name, given, actual in (
            ("content hash", content_hash, current.content_hash),
            ("review pack hash", pack_hash, pack.review_pack_hash),
        ):
            if given and given != actual:
                return _refuse(
                    f"{spec.dataset} {args.year}: the {name} {given[:12]} is not the current "
                    f"one ({actual[:12]}); run `artificial-data sign-off show` again"
                )
        content_hash = content_hash or current.content_hash
        pack_hash = pack_hash or pack.review_pack_hash
        checklist = checklist or pack.checklist_version
    elif not (content_hash and pack_hash):
        return _refuse(
            f"{spec.dataset} {args.year}: no metadata here to sign; give --content-hash and "
            "--review-pack-hash from the review pack to sign elsewhere"
        )
    statement = Statement.new(
        dataset=spec.dataset,
        financial_year=args.year,
        content_hash=content_hash,
        review_pack_hash=pack_hash,
        checklist_version=checklist or CHECKLIST_VERSION,
        role=args.role,
        signer=args.identity,
        decision=args.decision,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{spec.dataset}_{args.year}_{args.role}_{_safe(args.identity)}.json"
    path.write_bytes(statement.to_bytes())
    signature = sign_file(path, Path(args.key).expanduser(), statement.namespace)
    print(f"statement: {path}")
    print(statement.to_bytes().decode())
    print(f"signature: {path}.sig")
    print(signature, end="")
    print("\nSubmit it:")
    print(f"  artificial-data sign-off submit --statement {path} --signature {path}.sig")
    print("or paste it into sign_off_job (review location) as run config:")
    print("  ops:\n    record_signed_statement_op:\n      config:")
    print(f"        statement: '{statement.to_bytes().decode()}'")
    print("        signature: |")
    print("\n".join(f"          {line}" for line in signature.strip().splitlines()))
    if os.environ.get(ALLOWED_SIGNERS_ENV):
        try:
            verify_statement(SignedStatement(statement, signature), load_allowed_signers())
        except (SigningError, StatementInvalid) as exc:
            return _refuse(f"signed, but it would be refused: {exc}")
    return 0


# ----------------------------------------------------------------------------- submit, status


def _submit(args: argparse.Namespace) -> int:
    statement = Path(args.statement).read_bytes()
    signature = Path(args.signature).read_text()
    result = submit_statement(_stores(), statement, signature)
    print(result.message())
    return 0


def _status(args: argparse.Namespace) -> int:
    specs = [load_spec(d) for d in args.dataset] if args.dataset else load_all_specs()
    for status in statuses(_stores(), specs):
        print(f"{status.dataset:8s} {status.financial_year}  {status.line()}")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return args.sign_off_func(args)
    except REFUSALS as exc:
        return _refuse(str(exc))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sign_off_command", required=True)

    show = sub.add_parser("show", help="print what is being signed for one dataset-year")
    show.add_argument("--dataset", required=True)
    show.add_argument("--year", required=True)
    show.set_defaults(sign_off_func=_show)

    sign = sub.add_parser("sign", help="write a statement and sign it with your own key")
    sign.add_argument("--dataset", required=True)
    sign.add_argument("--year", required=True)
    sign.add_argument("--role", required=True, choices=ROLES)
    sign.add_argument("--identity", required=True, help="as in the allowed-signers list")
    sign.add_argument("--key", required=True, help="your private key, e.g. ~/.ssh/id_ed25519")
    sign.add_argument("--decision", choices=DECISIONS, default="approved")
    sign.add_argument("--content-hash", help="sign this hash (default: the current one)")
    sign.add_argument("--review-pack-hash", help="sign this pack (default: the current one)")
    sign.add_argument("--checklist-version", help="default: the pack's")
    sign.add_argument("--out", default=".", help="folder for the statement and signature")
    sign.set_defaults(sign_off_func=_sign)

    submit = sub.add_parser("submit", help="record a signed statement (review location)")
    submit.add_argument("--statement", required=True)
    submit.add_argument("--signature", required=True)
    submit.set_defaults(sign_off_func=_submit)

    status = sub.add_parser("status", help="sign-off status of every dataset-year")
    status.add_argument("--dataset", action="append")
    status.set_defaults(sign_off_func=_status)
