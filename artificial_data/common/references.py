"""Opaque references to sensitive values (DESIGN §6: Dagster never sees the value).

A disclosure finding names a value that must not leave the sensitive and admin scopes, yet the
check result in Dagster's run history (readable by every code location and UI user) has to
point the reviewer at it. It does so with a reference: a keyed hash (HMAC-SHA-256) of the
finding, printed next to the value in the review pack. A plain hash would not do: an NHS number
has about 10^9 valid values, so an unkeyed hash is reversed by trying them all. The key is a
random secret kept in the sensitive metadata store, which only the scraper and review locations
can read; without it a reference says nothing about the value.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from artificial_data.common.stores import METADATA_SENSITIVE, ScopedStores

#: Length of the secret key in bytes.
KEY_BYTES = 32
#: Hex characters of the reference shown to people: 64 bits, ample to tell findings apart.
REFERENCE_CHARS = 16
#: Where the key lives inside the sensitive metadata store.
REFERENCE_KEY_OBJECT = "secrets/finding_reference_key"


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def reference(key: bytes, *parts: str) -> str:
    """``ref-`` and the first hex digits of HMAC-SHA-256(key, parts joined by NUL)."""
    if len(key) < 16:
        raise ValueError("a reference key must have at least 16 bytes")
    message = "\0".join(parts).encode("utf-8", "surrogatepass")
    return "ref-" + hmac.new(key, message, hashlib.sha256).hexdigest()[:REFERENCE_CHARS]


def reference_key(stores: ScopedStores) -> bytes:
    """This deployment's reference key. The scraper location creates it on first use; the
    review location may only read it (it has no write grant on the sensitive store)."""
    return stores.secret(METADATA_SENSITIVE, REFERENCE_KEY_OBJECT, new_key)
