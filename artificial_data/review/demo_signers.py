"""The demo's own signing keys: `make demo` is its own operator (DESIGN §7).

The demo makes two key pairs (a DEMO reviewer and a DEMO approver) the first time it runs and
keeps the private keys in the admin store. It writes its own allowed-signers list, outside the
stores, granting those keys only the *demo* namespaces. A statement signed in a demo namespace
approves nothing but metadata whose own header says ``simulated_source: true`` (checked at
submission, at release and again by the generator), and everything downstream of it says DEMO.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from artificial_data.common.disclosure_checks import CHECKLIST_VERSION
from artificial_data.common.signing import (
    ROLES,
    generate_key,
    load_allowed_signers,
    namespace,
    public_key_of,
    sign_file,
)
from artificial_data.common.signoff_statement import DEMO_IDENTITIES, Statement
from artificial_data.common.stores import ADMIN, ScopedStores
from artificial_data.review.signoff import (
    SignOffRefused,
    current_hashes,
    current_metadata,
    submit_statement,
)

DEMO_SIGNERS_FOLDER = "demo_signers"


def demo_home(stores: ScopedStores) -> Path:
    """The single-user home the demo runs in: the folder holding the admin store."""
    return stores.roots[ADMIN].parent


def demo_allowed_signers_path(home: Path) -> Path:
    return Path(home) / DEMO_SIGNERS_FOLDER / "allowed_signers"


def _demo_key(stores: ScopedStores, role: str, folder: Path) -> Path:
    """The DEMO private key of ``role`` (kept in the admin store, created once), copied into
    ``folder`` with mode 0600 for ssh-keygen, which refuses a key others could read."""

    def create() -> bytes:
        with tempfile.TemporaryDirectory() as scratch:
            key = generate_key(Path(scratch) / role, f"artificial-data DEMO {role}")
            return key.read_bytes()

    key = stores.secret(ADMIN, f"demo_keys/{role}", create)
    path = Path(folder) / f"demo_{role}_key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return path


def ensure_demo_signers(stores: ScopedStores) -> Path:
    """The demo keys (created once) and the demo's allowed-signers list; returns its path."""
    lines = ["# Written by `artificial-data demo`: DEMO keys, demo namespaces only."]
    for role in ROLES:
        with tempfile.TemporaryDirectory(prefix="artificial-data-demo-key-") as folder:
            public = public_key_of(_demo_key(stores, role, Path(folder)))
        ns = namespace(role, demo=True)
        lines.append(f'{DEMO_IDENTITIES[role]} namespaces="{ns}" {public}')
    path = demo_allowed_signers_path(demo_home(stores))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:
        staging = path.with_name(f".{path.name}.tmp")
        staging.write_text(text)
        os.replace(staging, path)
    return path


def demo_sign_off(stores: ScopedStores, dataset: str, financial_year: str) -> list[str]:
    """Sign the current metadata and review pack with both DEMO keys and submit both
    statements. Refused (by the header, not the environment) unless the metadata is simulated.
    Returns the digests of the two statements."""
    current = current_metadata(stores, dataset, financial_year)
    if not current.header.simulated_source:
        raise SignOffRefused(
            f"{dataset} {financial_year}: DEMO sign-offs are only for metadata whose header says "
            "simulated_source: true"
        )
    _, pack = current_hashes(stores, dataset, financial_year)
    signers = load_allowed_signers(ensure_demo_signers(stores))
    digests = []
    with tempfile.TemporaryDirectory(prefix="artificial-data-demo-sign-") as folder:
        for role in ROLES:
            statement = Statement.new(
                dataset=dataset,
                financial_year=financial_year,
                content_hash=current.content_hash,
                review_pack_hash=pack.review_pack_hash,
                checklist_version=pack.checklist_version or CHECKLIST_VERSION,
                role=role,
                signer=DEMO_IDENTITIES[role],
                demo=True,
            )
            path = Path(folder) / f"{role}.json"
            path.write_bytes(statement.to_bytes())
            key = _demo_key(stores, role, Path(folder))
            signature = sign_file(path, key, statement.namespace)
            submit_statement(stores, statement.to_bytes(), signature, signers=signers)
            digests.append(statement.digest)
    return digests
