"""Real OpenSSH keys and an operator-owned allowed-signers list for tests (ssh-keygen, fast)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from artificial_data.common import signing
from artificial_data.common.signing import ALLOWED_SIGNERS_ENV, generate_key, namespace, sign_file
from artificial_data.common.signoff_statement import SignedStatement, Statement

#: A uid that is not this process's, to own the operator's files (``nobody``).
OPERATOR_UID = 65534

#: Who may sign what in the standard test deployment.
DEFAULT_GRANTS = {
    "ada@example.org": ("reviewer",),
    "grace@example.org": ("approver",),
    "alan@example.org": ("reviewer", "approver"),  # may hold either role, never both at once
}


def give_to_operator(path: Path, mode: int, monkeypatch) -> None:
    """Make ``path`` look like the operator's: another user's, not writable by this process.

    As root the file really is handed to another user. Otherwise (an unprivileged CI user) the
    check is told this process is another user, which is what the deployment would be.
    """
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, OPERATOR_UID, OPERATOR_UID)
    else:  # pragma: no cover - CI runs unprivileged, this machine as root
        me = os.geteuid()
        monkeypatch.setattr(signing, "_process_uid", lambda: me + 100_000)


@dataclass
class Signers:
    folder: Path
    monkeypatch: object
    keys: dict[str, Path] = field(default_factory=dict)
    grants: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def allowed_signers(self) -> Path:
        return self.folder / "operator" / "allowed_signers"

    def key(self, identity: str) -> Path:
        if identity not in self.keys:
            keys = self.folder / "keys"
            keys.mkdir(exist_ok=True)
            self.keys[identity] = generate_key(keys / identity.replace("@", "_"), identity)
        return self.keys[identity]

    def public(self, identity: str) -> str:
        return Path(f"{self.key(identity)}.pub").read_text().split(" ")[0:2]

    def write(self, grants: dict[str, tuple[str, ...]], demo: bool = False) -> Path:
        """(Re)write the operator's list: each identity's key for the namespaces of its roles."""
        self.grants = dict(grants)
        lines = []
        for identity, roles in grants.items():
            names = ",".join(namespace(r, demo=demo) for r in roles)
            lines.append(f'{identity} namespaces="{names}" {" ".join(self.public(identity))}')
        folder = self.allowed_signers.parent
        folder.mkdir(parents=True, exist_ok=True)
        if self.allowed_signers.exists():
            os.chmod(self.allowed_signers, 0o644)
        self.allowed_signers.write_text("\n".join(lines) + "\n")
        give_to_operator(self.allowed_signers, 0o444, self.monkeypatch)
        give_to_operator(folder, 0o755, self.monkeypatch)
        self.monkeypatch.setenv(ALLOWED_SIGNERS_ENV, str(self.allowed_signers))
        return self.allowed_signers

    def sign(
        self,
        role: str,
        identity: str,
        *,
        dataset: str,
        year: str,
        content_hash: str,
        review_pack_hash: str,
        decision: str = "approved",
        demo: bool = False,
        key_of: str | None = None,
        checklist_version: str | None = None,
    ) -> SignedStatement:
        """A statement by ``identity`` signed with the key of ``key_of`` (default: theirs)."""
        from artificial_data.common.disclosure_checks import CHECKLIST_VERSION

        statement = Statement.new(
            dataset=dataset,
            financial_year=year,
            content_hash=content_hash,
            review_pack_hash=review_pack_hash,
            checklist_version=checklist_version or CHECKLIST_VERSION,
            role=role,
            signer=identity,
            decision=decision,
            demo=demo,
        )
        return self.sign_bytes(statement.to_bytes(), key_of or identity, statement.namespace)

    def sign_bytes(self, data: bytes, identity: str, ns: str) -> SignedStatement:
        folder = self.folder / "signed"
        folder.mkdir(exist_ok=True)
        path = folder / f"statement-{len(list(folder.glob('*.json')))}.json"
        path.write_bytes(data)
        signature = sign_file(path, self.key(identity), ns)
        return SignedStatement(Statement.from_bytes(data), signature)
