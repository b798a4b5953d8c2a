"""Reading and writing metadata partitions (contract rows + header) in a scoped store.

A metadata partition holds the contract rows and ``header.json`` (the header plus the content
hash) as one table partition (``common/tables.py``): on the folder backend a folder with
``metadata.parquet`` beside ``header.json``, on the catalog backend rows of the store's table
with the header in their attachments column. Readers recompute the hash, so metadata
edited on disk after it was written is detected rather than trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from artificial_data.common import metadata_contract as contract
from artificial_data.common.references import reference_key
from artificial_data.common.stores import METADATA_SENSITIVE, PartitionMissing, ScopedStores

ROWS_FILE = "metadata.parquet"
HEADER_FILE = "header.json"


class MetadataTampered(ValueError):
    """The stored metadata no longer matches the hash recorded when it was written."""


@dataclass(frozen=True)
class StoredMetadata:
    rows: pd.DataFrame
    header: contract.MetadataHeader
    content_hash: str
    #: The partition's folder (folder backend) or ``catalog.schema.table/financial_year=...``.
    path: Path | str
    #: The files stored with the rows: ``header.json`` and, in a release, the signed statements.
    attachments: dict[str, bytes] = field(default_factory=dict)


def attachments_bytes(attachments: dict[str, bytes | str]) -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in attachments.items()}


def write_metadata(
    stores: ScopedStores,
    store: str,
    dataset: str,
    financial_year: str,
    rows: pd.DataFrame,
    header: contract.MetadataHeader,
    extra_files: dict[str, bytes] | None = None,
    validated_hash: str | None = None,
) -> StoredMetadata:
    """Validate, hash and atomically write one metadata partition.

    ``extra_files`` (relative path -> bytes) are written into the same partition, so they are
    swapped in together with the metadata (the release puts the signed statements there).
    ``validated_hash`` is the content hash of ``rows`` that the calling step validated and
    hashed itself (the scraper's result), so the same rows are not validated and hashed twice
    in one step. Trusting it cannot let bad metadata through: every reader validates the rows
    and recomputes the hash, so rows that are not what the hash says are refused there.
    """
    if validated_hash is None:
        rows = contract.validate(rows, table_name=header.table_name)
        digest = contract.content_hash(rows, header)
    else:
        digest = validated_hash
    table = contract.to_arrow(rows)
    header_text = json.dumps({**header.as_dict(), "content_hash": digest}, indent=2, sort_keys=True)
    attachments: dict[str, bytes | str] = {HEADER_FILE: header_text, **(extra_files or {})}
    # Rows, header and statements are one partition: replaced together or not at all.
    path = stores.tables.write(store, dataset, financial_year, table, attachments, ROWS_FILE)
    if store == METADATA_SENSITIVE:
        # Findings about this metadata are referenced with the deployment's key: make sure it
        # exists while a location that may create it (the scraper) holds the pen.
        reference_key(stores)
    return StoredMetadata(
        rows=rows,
        header=header,
        content_hash=digest,
        path=path,
        attachments=attachments_bytes(attachments),
    )


def read_metadata(
    stores: ScopedStores, store: str, dataset: str, financial_year: str, hint: str = ""
) -> StoredMetadata:
    """Read, validate and hash-check one metadata partition."""
    try:
        stored = stores.tables.read(store, dataset, financial_year)
    except PartitionMissing as exc:
        raise PartitionMissing(store, dataset, financial_year, hint) from exc
    if HEADER_FILE not in stored.attachments:
        raise MetadataTampered(f"{store}/{dataset}/{financial_year}: the header is missing")
    recorded = json.loads(stored.attachments[HEADER_FILE])
    recorded_hash = recorded.pop("content_hash")
    header = contract.MetadataHeader.from_dict(recorded)
    rows = contract.validate(contract.from_arrow(stored.arrow()), table_name=header.table_name)
    digest = contract.content_hash(rows, header)
    if digest != recorded_hash:
        raise MetadataTampered(
            f"{store}/{dataset}/{financial_year}: content hash {digest[:12]} does not match the "
            f"hash recorded at write time {recorded_hash[:12]}; the metadata was changed on disk"
        )
    return StoredMetadata(
        rows=rows,
        header=header,
        content_hash=digest,
        path=stored.location,
        attachments=stored.attachments,
    )
