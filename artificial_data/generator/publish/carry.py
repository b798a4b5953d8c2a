"""Years carried over unchanged from the previous release (issue 16).

Every version of a release holds every year, so the third year's publication used to format,
deflate and copy all three years again: at 1M APC rows a year costs about 17 s of CSV
formatting, 46 s of deflate and 13 s of Parquet, and Y years cost Y(Y+1)/2 years of that work.

A year whose artificial rows and writers are the ones the previous release of the same kind
was made with would be written to the very same bytes, so they are copied instead:

* **What decides the bytes** is recorded with each year of a release (``published_from``): the
  sha256 of the artificial Parquet files the year was read from (``source_sha256``), and the
  sha256 of everything else the published files depend on (``writer_sha256``: the source of the
  modules that format, zip and write them, and the versions of pyarrow, zlib and Python). Either
  one different and the year is formatted afresh, so no change of code or data is carried over.
* **Nothing carried is trusted as it lies on disk.** The previous release's zip and the year's
  Parquet copy must be regular files whose sha256 is the one in that release's index record
  (the record, created exclusively and read-only, is the commit point of a release:
  ``releases.py``); a file edited, replaced or deleted is not carried, and the publication
  says so (:attr:`CarryPlan.refused`); a link in that release's folder stops the publication
  (the store does not read through links). The CSV entry is copied still compressed, and
  the sha256 of the compressed bytes copied must be the one that record keeps of the entry
  (``zip_entries``, ``package.EntryFacts``, which also gives its CRC and sizes); the Parquet
  copy is hashed as it is written. A mismatch there fails the publication and nothing is
  written. (Until session 14 the entry was inflated on the way to check the CSV's sha256:
  about 5 s per 1M APC rows; a carried year now costs about 1.8 s in all, hashes of the
  artificial files and the previous release's files included. Both rest on the same
  record.)

A carried year's zip entry is copied without deflating it again (``package.ReleaseZip``) and its
Parquet file byte for byte; the release is the same bytes as one written from scratch (tested).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import stat
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from artificial_data.common import table_rows
from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.generator.publish import csv_format, package
from artificial_data.generator.publish.year_rows import ParquetRows

if TYPE_CHECKING:  # api builds the package with the carried years: imported where needed
    from artificial_data.generator.publish.api import Year

_BLOCK = 1 << 20


@cache
def writer_sha256() -> str:
    """The sha256 of what, besides the rows, decides a year's published bytes: the source of
    the modules that read, format, zip and write it, and the library versions they call."""
    from artificial_data.generator.publish import api

    modules = (table_rows, csv_format, package, api)
    facts = {
        "modules": {m.__name__: package.sha256(Path(m.__file__)) for m in modules},
        "pyarrow": pa.__version__,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "python": platform.python_version(),  # zipfile writes the entry headers
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def source_sha256(year: Year) -> str | None:
    """The sha256 of the artificial Parquet files a year is read from (file by file, each
    prefixed by its size), or None for rows held in memory, which are never carried."""
    if not isinstance(year, ParquetRows):
        return None
    digest = hashlib.sha256(b"artificial-parquet-files\0")
    for path in year.files:
        with open(path, "rb") as fh:
            digest.update(f"{os.fstat(fh.fileno()).st_size}\0".encode())
            for block in iter(lambda: fh.read(_BLOCK), b""):
                digest.update(block)
    return digest.hexdigest()


def published_from(source: str | None) -> dict[str, str] | None:
    """The ``published_from`` entry of a year record (None: the year can never be carried)."""
    return None if source is None else {"source_sha256": source, "writer_sha256": writer_sha256()}


@dataclass(frozen=True)
class CarriedYear:
    """One year of the previous release, checked against its record, to be copied."""

    csv: package.CopiedEntry
    parquet: Path
    parquet_sha256: str


@dataclass
class CarryPlan:
    """The years to copy from the previous release, and why any others could not be."""

    release: str | None = None
    years: dict[str, CarriedYear] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # year -> reason


def _regular_sha256(path: Path) -> str | None:
    """The sha256 of ``path`` if it is a regular file (not a link), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        digest = hashlib.sha256()
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_carry(
    spec: DatasetSpec,
    previous: dict[str, Any] | None,
    folder: Path | None,
    sources: Mapping[str, str | None],
) -> CarryPlan:
    """Which years to copy from ``previous`` (the latest release record of the same kind, its
    folder ``folder``): those whose ``published_from`` is this year's, whose files in that
    folder are the ones its record names."""
    if previous is None:
        return CarryPlan()
    plan = CarryPlan(release=previous["release"])
    wanted = [
        year
        for year, source in sorted(sources.items())
        if source is not None
        and (previous["years"].get(year) or {}).get("published_from") == published_from(source)
    ]
    if not wanted:
        return plan
    files = previous.get("files_sha256") or {}
    name = previous["release"]
    zip_path = None if folder is None else folder / f"{name}.zip"
    if zip_path is None or _regular_sha256(zip_path) != files.get(zip_path.name):
        plan.refused = dict.fromkeys(wanted, f"{name}.zip is missing or not as its record says")
        return plan
    with zipfile.ZipFile(zip_path) as archive:
        entries = {info.filename: info for info in archive.infolist()}
    recorded = previous.get("zip_entries") or {}
    for year in wanted:
        csv_name = package.year_file(spec, year, "csv")
        entry = entries.get(f"{name}/{csv_name}")
        facts = package.EntryFacts.from_record(recorded.get(csv_name))
        parquet = folder / package.year_file(spec, year, "parquet")
        if entry is None:
            plan.refused[year] = f"{name}.zip has no {csv_name}"
        elif facts is None:
            plan.refused[year] = f"the record of {name} keeps no facts of its {csv_name} entry"
        elif _regular_sha256(parquet) != files.get(parquet.name):
            plan.refused[year] = f"{parquet.name} of {name} is missing or not as its record says"
        else:
            plan.years[year] = CarriedYear(
                csv=package.CopiedEntry.of(
                    zip_path, entry, facts, sha256=previous["years"][year]["artificial_sha256"]
                ),
                parquet=parquet,
                parquet_sha256=files[parquet.name],
            )
    return plan


def copy_parquet(carried: CarriedYear, target: Path) -> str:
    """Copy a carried year's Parquet file, hashing the bytes copied; its sha256, which must be
    the one its record names (else ``PublicationError``: it changed since it was checked)."""
    digest = hashlib.sha256()
    fd = os.open(carried.parquet, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src, open(target, "xb") as dst:
        for block in iter(lambda: src.read(_BLOCK), b""):
            digest.update(block)
            dst.write(block)
    if digest.hexdigest() != carried.parquet_sha256:
        raise package.PublicationError(
            f"{carried.parquet.name} changed while it was copied from the previous release; "
            + package.NOTHING_PUBLISHED
        )
    return carried.parquet_sha256
