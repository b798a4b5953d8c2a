"""OpenSSH signatures for sign-off statements (DESIGN §7), the way git signs commits.

Nothing here is cryptography of our own: signing and verifying are ``ssh-keygen -Y sign`` and
``ssh-keygen -Y verify`` run as subprocesses. What this module adds is the policy around them:

- **Namespaces are roles.** Each role signs in its own namespace
  (``artificial-data-signoff-reviewer`` / ``-approver``; the demo keys in
  ``artificial-data-signoff-demo-reviewer`` / ``-demo-approver``). A signature made in one
  namespace never verifies in another, and an ``allowed_signers`` line's
  ``namespaces="..."`` option says which roles its key may sign for.
- **The allowed-signers list is deployment configuration**, owned by the operator and read from
  the path in ``ARTIFICIAL_DATA_ALLOWED_SIGNERS``. No pipeline process writes it, and it is
  refused when the current process could change it: owned by this process's user, group- or
  world-writable, or in a folder this process could replace it in. Every line must restrict its
  key to named namespaces. The single exception is a list that grants *only* demo namespaces:
  demo keys can approve nothing but metadata whose header says it came from simulated data, so
  the demo (which is its own operator) may write such a list for itself.
- The list is read once (the checks run on the opened file, so it cannot be swapped between
  check and use) and handed to ``ssh-keygen`` from a private copy.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ALLOWED_SIGNERS_ENV = "ARTIFICIAL_DATA_ALLOWED_SIGNERS"
NAMESPACE_PREFIX = "artificial-data-signoff"
ROLES = ("reviewer", "approver")

_KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


class SigningError(ValueError):
    """A signature cannot be made or checked, or the allowed-signers list is unusable."""


def namespace(role: str, demo: bool = False) -> str:
    """The signature namespace of ``role`` (demo keys sign in namespaces of their own)."""
    if role not in ROLES:
        raise SigningError(f"role must be one of {ROLES}, not {role!r}")
    return f"{NAMESPACE_PREFIX}-{'demo-' if demo else ''}{role}"


DEMO_NAMESPACES = frozenset(namespace(r, demo=True) for r in ROLES)
ALL_NAMESPACES = frozenset(namespace(r) for r in ROLES) | DEMO_NAMESPACES


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise SigningError("ssh-keygen (OpenSSH 8.2 or later) is not on PATH")
    return found


def _run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_ssh_keygen(), *args], input=stdin, capture_output=True, check=False, timeout=60
    )


def _last_line(output: bytes) -> str:
    lines = [line.strip() for line in output.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no message"


# ----------------------------------------------------------------------------- allowed signers


@dataclass(frozen=True)
class AllowedSigner:
    """One line of an allowed-signers file."""

    principals: str
    namespaces: frozenset[str] | None  # None: the line does not restrict them (refused)
    key: str  # "<type> <base64>"


@dataclass(frozen=True)
class AllowedSigners:
    """The checked content of an allowed-signers file."""

    path: Path
    text: str
    entries: tuple[AllowedSigner, ...]

    @property
    def demo_only(self) -> bool:
        return bool(self.entries) and all(
            e.namespaces is not None and e.namespaces <= DEMO_NAMESPACES for e in self.entries
        )


def _fields(line: str) -> list[str]:
    """Whitespace-separated fields; double quotes protect spaces (and keep their quotes)."""
    fields, current, quoted = [], [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch.isspace() and not quoted:
            if current:
                fields.append("".join(current))
                current = []
            continue
        current.append(ch)
    if quoted:
        raise SigningError("unbalanced quotes")
    if current:
        fields.append("".join(current))
    return fields


def _options(text: str) -> dict[str, str]:
    options, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            options.append("".join(current))
            current = []
            continue
        current.append(ch)
    options.append("".join(current))
    parsed = {}
    for option in options:
        name, _, value = option.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"')
    return parsed


def parse_allowed_signers(text: str, where: str = "allowed_signers") -> tuple[AllowedSigner, ...]:
    """Parse the lines of an allowed-signers file (``man ssh-keygen``, ALLOWED SIGNERS)."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = _fields(line)
        except SigningError as exc:
            raise SigningError(f"{where} line {number}: {exc}") from None
        if len(fields) < 3:
            raise SigningError(f"{where} line {number}: expected principals, options and a key")
        principals, rest = fields[0], fields[1:]
        options: dict[str, str] = {}
        if not rest[0].startswith(_KEY_TYPE_PREFIXES):
            options, rest = _options(rest[0]), rest[1:]
        if len(rest) < 2 or not rest[0].startswith(_KEY_TYPE_PREFIXES):
            raise SigningError(f"{where} line {number}: no public key")
        if "cert-authority" in options:
            raise SigningError(f"{where} line {number}: certificate authorities are not supported")
        names = options.get("namespaces")
        namespaces = frozenset(n.strip() for n in names.split(",") if n.strip()) if names else None
        entries.append(AllowedSigner(principals, namespaces, f"{rest[0]} {rest[1]}"))
    return tuple(entries)


def _writable_by_us(st: os.stat_result) -> str | None:
    """Why the current process could change a file or folder with this status (or None)."""
    if st.st_uid == _process_uid():
        return "it is owned by this process's user"
    if st.st_mode & stat.S_IWOTH and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
        return "it is world-writable"
    if st.st_mode & stat.S_IWGRP:
        return "it is group-writable"
    return None


def _process_uid() -> int:
    return os.geteuid()


def load_allowed_signers(path: str | os.PathLike | None = None) -> AllowedSigners:
    """Read and check the allowed-signers list (default: ``$ARTIFICIAL_DATA_ALLOWED_SIGNERS``)."""
    if path is None:
        path = os.environ.get(ALLOWED_SIGNERS_ENV, "").strip()
        if not path:
            raise SigningError(
                f"no allowed-signers list: set {ALLOWED_SIGNERS_ENV} to the operator's file "
                "(see docs/reviewer_guide.md)"
            )
    where = Path(path).expanduser()
    try:
        fd = os.open(where, os.O_RDONLY)
    except OSError as exc:
        raise SigningError(f"allowed-signers list {where}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SigningError(f"allowed-signers list {where} is not a regular file")
        text = fh.read().decode("utf-8", errors="strict")
    try:
        entries = parse_allowed_signers(text, str(where))
    except UnicodeDecodeError:  # pragma: no cover - decode above raises first
        raise SigningError(f"allowed-signers list {where} is not UTF-8") from None
    signers = AllowedSigners(path=where, text=text, entries=entries)
    if not entries:
        raise SigningError(f"allowed-signers list {where} lists no signer")
    if signers.demo_only:
        return signers  # demo keys only: they can approve simulated metadata and nothing else
    problems = []
    why = _writable_by_us(st)
    if why:
        problems.append(f"the file: {why}")
    why = _writable_by_us(os.stat(where.resolve().parent))
    if why:
        problems.append(f"its folder: {why}")
    if problems:
        raise SigningError(
            f"refusing allowed-signers list {where}: this process could change it "
            f"({'; '.join(problems)}). The operator owns it: another user, mode 0444 or 0644, "
            "in a folder this process cannot write"
        )
    for entry in entries:
        if entry.namespaces is None:
            raise SigningError(
                f"allowed-signers list {where}: the line for {entry.principals} does not say "
                'which roles its key signs for: add namespaces="artificial-data-signoff-reviewer"'
                " (or -approver)"
            )
    return signers


# ------------------------------------------------------------------------------------ signing


def sign_file(path: Path, key: Path, ns: str) -> str:
    """Sign the file at ``path`` with the private key ``key`` in namespace ``ns``.

    ``ssh-keygen`` asks for the key's passphrase on the terminal if it has one, and uses the
    agent when ``key`` is a public key whose private half the agent holds. Writes and returns
    the armored signature (``<path>.sig``).
    """
    signature = Path(f"{path}.sig")
    if signature.exists():
        signature.unlink()
    done = subprocess.run(
        [_ssh_keygen(), "-q", "-Y", "sign", "-n", ns, "-f", str(key), str(path)],
        capture_output=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0 or not signature.exists():
        raise SigningError(f"ssh-keygen could not sign with {key}: {_last_line(done.stderr)}")
    return signature.read_text()


def verify(data: bytes, signature: str, signers: AllowedSigners, identity: str, ns: str) -> str:
    """Check that ``signature`` is ``identity``'s signature of ``data`` in namespace ``ns``,
    with a key the allowed-signers list grants that namespace. Returns the key's fingerprint."""
    fingerprint = signature_fingerprint(signature)
    with tempfile.TemporaryDirectory(prefix="artificial-data-verify-") as folder:
        allowed = Path(folder) / "allowed_signers"
        allowed.write_text(signers.text)
        sig = Path(folder) / "statement.sig"
        sig.write_text(signature)
        done = _run(
            ["-Y", "verify", "-f", str(allowed), "-I", identity, "-n", ns, "-s", str(sig)],
            stdin=data,
        )
    if done.returncode != 0:
        reason = _last_line(done.stderr or done.stdout)
        raise SigningError(
            f"the signature of {identity} ({ns}) does not verify against the allowed signers "
            f"in {signers.path}: {reason}"
        )
    return fingerprint


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise SigningError("truncated signature")
    size = int.from_bytes(blob[offset : offset + 4], "big")
    end = offset + 4 + size
    if end > len(blob):
        raise SigningError("truncated signature")
    return blob[offset + 4 : end], end


def signature_fingerprint(signature: str) -> str:
    """The SHA256 fingerprint of the public key inside an armored SSH signature.

    Only the framing is read (PROTOCOL.sshsig: magic, version, public key); whether the
    signature is valid is for :func:`verify` (``ssh-keygen``) to say.
    """
    lines = [line.strip() for line in signature.strip().splitlines()]
    if (
        len(lines) < 3
        or lines[0] != "-----BEGIN SSH SIGNATURE-----"
        or (lines[-1] != "-----END SSH SIGNATURE-----")
    ):
        raise SigningError("not an armored SSH signature (-----BEGIN SSH SIGNATURE-----)")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError:
        raise SigningError("the SSH signature is not valid base64") from None
    if not blob.startswith(b"SSHSIG") or len(blob) < 10:
        raise SigningError("not an SSH signature (no SSHSIG magic)")
    public_key, _ = _read_string(blob, 10)
    digest = base64.b64encode(hashlib.sha256(public_key).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def public_key_of(private_key: Path) -> str:
    """``<type> <base64>`` of the public half of an OpenSSH private key."""
    done = _run(["-y", "-f", str(private_key)])
    if done.returncode != 0:
        raise SigningError(f"cannot read the key {private_key}: {_last_line(done.stderr)}")
    return " ".join(done.stdout.decode().split()[:2])


def generate_key(path: Path, comment: str) -> Path:
    """A new passphrase-less ed25519 key pair at ``path`` (demo and tests only)."""
    done = _run(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    if done.returncode != 0:
        raise SigningError(f"ssh-keygen could not make a key: {_last_line(done.stderr)}")
    return path
