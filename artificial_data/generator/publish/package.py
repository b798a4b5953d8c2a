"""Build one release folder and swap it into place atomically.

Layout (``<release>`` = ``artificial_hes_<ds>_<YYYYMM>_v<N>_<sample|full>``)::

    <out_folder>/<release>/
        <release>.zip            # holds the folder <release>/ with the CSVs and documents
        artificial_hes_<ds>_<YYZZ>.parquet   (one per financial year)
        data_dictionary.md  user_notice.md  release_notes.json  schema.json

The folder is built under a temporary name inside ``out_folder`` and renamed into place, so a
reader never sees half a release. The zip is deterministic (fixed entry order and timestamps).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.generator.publish.csv_format import column_types


def short_name(spec: DatasetSpec) -> str:
    """``hes_apc`` -> ``apc``."""
    return spec.dataset.removeprefix("hes_")


def release_name(spec: DatasetSpec, release_month: str, version: int, size: str) -> str:
    return f"artificial_hes_{short_name(spec)}_{release_month}_v{version}_{size}"


def year_file(spec: DatasetSpec, financial_year: str, suffix: str) -> str:
    return f"artificial_hes_{short_name(spec)}_{financial_year}.{suffix}"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def write_zip(zip_path: Path, folder_name: str, files: list[Path], release_month: str) -> None:
    stamp = (int(release_month[:4]), int(release_month[4:]), 1, 0, 0, 0)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        folder = zipfile.ZipInfo(f"{folder_name}/", date_time=stamp)
        folder.external_attr = (0o40755 << 16) | 0x10
        archive.writestr(folder, b"")
        for path in sorted(files, key=lambda p: p.name):
            info = zipfile.ZipInfo(f"{folder_name}/{path.name}", date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, archive.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def schema_json(spec: DatasetSpec) -> str:
    return json.dumps({"dataset": spec.dataset, "fields": column_types(spec)}, indent=2) + "\n"


def swap_into_place(built: Path, target: Path) -> None:
    """Rename ``built`` onto ``target``; an older release of the same name is replaced."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
        os.replace(target, old)
        os.replace(built, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(built, target)
