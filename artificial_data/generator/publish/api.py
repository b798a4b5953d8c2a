"""Publish artificial HES in the NHS artificial-data format (DESIGN §9)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.schema import schema_differences
from artificial_data.generator.publish import package, release_docs
from artificial_data.generator.publish.carry import CarriedYear, copy_parquet
from artificial_data.generator.publish.csv_format import WrittenCsv, write_csv
from artificial_data.generator.publish.package import PublicationError
from artificial_data.generator.publish.year_rows import YearRows

#: A year as given to publication: an Arrow table, or rows read in batches (``year_rows``).
Year = pa.Table | YearRows

SIZES = ("sample", "full")
_MONTH = re.compile(r"^\d{4}(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class BuiltPackage:
    """A release folder as written: the sha256 of every file in it, and what its index record
    keeps of each entry of its zip (``package.EntryFacts``, so that the next release can copy
    an unchanged year's entry and check it still compressed)."""

    files: dict[str, str]  # file name -> sha256
    zip_entries: dict[str, dict[str, Any]]  # file name in the zip's folder -> EntryFacts


@dataclass(frozen=True)
class PublishedRelease:
    """Where a release was written and the sha256 of every file in its folder."""

    zip_path: Path
    parquet_paths: list[Path]
    files: dict[str, str]  # file name -> sha256


def _validate(tables, spec, release_month, version, size) -> None:
    if not _MONTH.match(release_month):
        raise PublicationError(f"{spec.dataset}: release_month {release_month!r} is not YYYYMM")
    if not isinstance(version, int) or version < 1:
        raise PublicationError(f"{spec.dataset}: version must be an integer >= 1, got {version!r}")
    if size not in SIZES:
        raise PublicationError(f"{spec.dataset}: size must be one of {SIZES}, got {size!r}")
    if not tables:
        raise PublicationError(f"{spec.dataset}: no tables to publish")
    for year, table in tables.items():
        if year not in spec.financial_years:
            raise PublicationError(
                f"{spec.dataset}: financial year {year!r} is not in the spec "
                f"({list(spec.financial_years)})"
            )
        differences = schema_differences(spec, table.schema)
        if differences:
            raise PublicationError(
                f"{spec.dataset} {year}: table does not have the spec schema: {differences}"
            )


def build_package(
    tables: Mapping[str, Year],
    spec: DatasetSpec,
    folder: Path,
    *,
    release_month: str,
    version: int,
    size: str,
    release_info: dict[str, Any],
    csvs: Mapping[str, WrittenCsv] | None = None,
    carried: Mapping[str, CarriedYear] | None = None,
) -> BuiltPackage:
    """Write one release into ``folder`` (which must not exist): the zip, the Parquet files and
    the documents. Returns the sha256 of every file written and the facts of every zip entry.

    ``tables`` maps financial year -> artificial table with the exact spec schema;
    ``release_info`` carries policy, seed(s), metadata content hash(es), package versions, the
    ONS spectrum level and the source facts (simulated source, DEMO sign-off), copied into the
    release notes and the user notice. ``csvs`` are the years' CSVs already written (by
    ``write_csv``, e.g. to hash them before deciding to publish); they are zipped as they are,
    so a year is formatted once. ``carried`` are years copied from the previous release
    (``carry.plan_carry``): their zip entry and Parquet file are copied, checked as they are.
    The other years' CSVs are written here.
    """
    _validate(tables, spec, release_month, version, size)
    folder = Path(folder)
    name = package.release_name(spec, release_month, version, size)
    folder.mkdir(parents=True)
    inner = folder / name  # the folder that is zipped
    inner.mkdir()
    years = sorted(tables)
    data_files: dict[str, str] = {}
    csv_paths: list[Path | package.CopiedEntry] = []
    carried = carried or {}
    for year in years:  # one year at a time, each read in batches
        csv_name = package.year_file(spec, year, "csv")
        if year in carried:
            entry = carried[year].csv
            if entry.name != csv_name:
                raise PublicationError(f"{spec.dataset} {year}: {entry.name} is not {csv_name}")
            data_files[csv_name] = entry.sha256
            csv_paths.append(entry)
            continue
        written = (csvs or {}).get(year)
        if written is None:
            written = write_csv(tables[year], inner / csv_name)
        elif written.path.name != csv_name:
            raise PublicationError(f"{spec.dataset} {year}: CSV {written.path} is not {csv_name}")
        data_files[csv_name] = written.sha256
        csv_paths.append(written.path)
    with (
        package.ReleaseZip(folder / f"{name}.zip", name, release_month) as archive,
        ThreadPoolExecutor(1, thread_name_prefix="release-zip") as pool,
    ):
        # The CSV entries are deflated on a second thread (zlib releases the GIL) while the
        # Parquet copies are written; the documents, which hold the Parquet files' sha256,
        # are added once both are done. The archive is the same bytes as one sorted write.
        csv_entries = pool.submit(archive.add, csv_paths)
        try:
            for year in years:
                parquet_path = folder / package.year_file(spec, year, "parquet")
                if year in carried:
                    data_files[parquet_path.name] = copy_parquet(carried[year], parquet_path)
                    continue
                package.write_parquet(tables[year], parquet_path)
                data_files[parquet_path.name] = package.sha256(parquet_path)
        except BaseException:
            wait([csv_entries])  # the zip is closed only once its thread is done
            raise
        csv_entries.result()
        documents = {
            "data_dictionary.md": release_docs.data_dictionary(spec, name),
            "user_notice.md": release_docs.user_notice(spec, name, years, release_info),
            "schema.json": package.schema_json(spec),
            "release_notes.json": release_docs.release_notes(
                spec,
                name,
                release_month=release_month,
                version=version,
                size=size,
                rows={y: tables[y].num_rows for y in years},
                data_files=data_files,
                info=release_info,
            ),
        }
        for file_name, text in documents.items():
            (inner / file_name).write_text(text, encoding="utf-8")
            (folder / file_name).write_text(text, encoding="utf-8")
        archive.add([inner / file_name for file_name in documents])
    shutil.rmtree(inner)
    return BuiltPackage(
        files={p.name: package.sha256(p) for p in sorted(folder.iterdir())},
        zip_entries={n: f.as_record() for n, f in sorted(archive.entries.items())},
    )


def publish(
    tables: Mapping[str, Year],
    spec: DatasetSpec,
    out_folder: Path,
    *,
    release_month: str,
    version: int,
    size: str,
    release_info: dict[str, Any],
) -> PublishedRelease:
    """Write the release folder ``out_folder/<release name>`` of one dataset (see
    :func:`build_package`), built under a hidden name and renamed into place.

    A release folder is never replaced: publishing the same release again leaves the folder
    as it is when its files are byte-identical, and is refused when they differ (a new
    release is a new version; ``publish.releases`` numbers them).
    """
    _validate(tables, spec, release_month, version, size)
    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    name = package.release_name(spec, release_month, version, size)
    build = out_folder / f".{name}.building-{uuid.uuid4().hex}"
    target = out_folder / name
    try:
        files = build_package(
            tables,
            spec,
            build,
            release_month=release_month,
            version=version,
            size=size,
            release_info=release_info,
        ).files
        if target.exists():
            existing = {p.name: package.sha256(p) for p in sorted(target.iterdir())}
            if existing != files:
                raise PublicationError(
                    f"{spec.dataset}: release {name} exists with other content and is never "
                    "rewritten; publish a new version"
                )
            shutil.rmtree(build)
        else:
            os.rename(build, target)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return PublishedRelease(
        zip_path=target / f"{name}.zip",
        parquet_paths=[target / package.year_file(spec, y, "parquet") for y in sorted(tables)],
        files=files,
    )
