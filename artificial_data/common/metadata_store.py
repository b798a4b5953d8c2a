"""Reading and writing metadata partitions (contract rows + header) in a scoped store.

A metadata partition is a folder holding ``metadata.parquet`` (the contract rows) and
``header.json`` (the header plus the content hash). Readers recompute the hash, so metadata
edited on disk after it was written is detected rather than trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

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
    path: Path


def write_metadata(
    stores: ScopedStores,
    store: str,
    dataset: str,
    financial_year: str,
    rows: pd.DataFrame,
    header: contract.MetadataHeader,
    extra_files: dict[str, bytes] | None = None,
) -> StoredMetadata:
    """Validate, hash and atomically write one metadata partition.

    ``extra_files`` (relative path -> bytes) are written into the same partition, so they are
    swapped in together with the metadata (the release puts the signed statements there).
    """
    rows = contract.validate(rows, table_name=header.table_name)
    digest = contract.content_hash(rows, header)
    table = contract.to_arrow(rows)

    def writer(folder: Path) -> None:
        folder.mkdir(parents=True)
        pq.write_table(table, folder / ROWS_FILE)
        (folder / HEADER_FILE).write_text(
            json.dumps({**header.as_dict(), "content_hash": digest}, indent=2, sort_keys=True)
        )
        for name, content in (extra_files or {}).items():
            target = folder / name
            if folder.resolve() not in target.resolve().parents:
                raise ValueError(f"extra file {name!r} leaves the partition")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)

    path = stores.write_partition(store, dataset, financial_year, writer)
    if store == METADATA_SENSITIVE:
        # Findings about this metadata are referenced with the deployment's key: make sure it
        # exists while a location that may create it (the scraper) holds the pen.
        reference_key(stores)
    return StoredMetadata(rows=rows, header=header, content_hash=digest, path=path)


def read_metadata(
    stores: ScopedStores, store: str, dataset: str, financial_year: str, hint: str = ""
) -> StoredMetadata:
    """Read, validate and hash-check one metadata partition."""
    try:
        path = stores.partition_path(store, dataset, financial_year)
    except PartitionMissing as exc:
        raise PartitionMissing(store, dataset, financial_year, hint) from exc
    recorded = json.loads((path / HEADER_FILE).read_text())
    recorded_hash = recorded.pop("content_hash")
    header = contract.MetadataHeader.from_dict(recorded)
    rows = contract.validate(
        contract.from_arrow(pq.read_table(path / ROWS_FILE)), table_name=header.table_name
    )
    digest = contract.content_hash(rows, header)
    if digest != recorded_hash:
        raise MetadataTampered(
            f"{store}/{dataset}/{financial_year}: content hash {digest[:12]} does not match the "
            f"hash recorded at write time {recorded_hash[:12]}; the metadata was changed on disk"
        )
    return StoredMetadata(rows=rows, header=header, content_hash=digest, path=path)
