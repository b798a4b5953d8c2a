"""Versioned releases of a dataset in the published store, never rewritten (DESIGN §9).

A *release* of a dataset holds every year given to it (one CSV per year in the zip, Parquet per
year beside it). Releases are numbered per dataset and release kind (``sample`` / ``full``):
``v1``, ``v2``, ... A new year, a regenerated year (another artificial content hash) or another
release month makes the next version; the files of an existing version are never overwritten or
deleted. Publishing the same inputs again (same kind and month, same years with the same
artificial and metadata content hashes) makes no new version and writes nothing.

Layout in the published store (files on both store backends)::

    <dataset>/release_index/<kind>-v0001.json   one immutable record per version (O_EXCL)
    <dataset>/artificial_hes_<ds>_<YYYYMM>_v1_<kind>/   the release folder (publish/package.py)

The index record is the commit point. A publication builds its release folder under a hidden
name, then claims its version by creating the record exclusively, then renames the folder into
place. Two publications racing for the same version: exactly one creates the record; the other
removes its own hidden folder and, if the winner published the same inputs, returns the
winner's release, otherwise fails with :class:`ReleaseRace` (nothing of the winner's is
touched; a re-run publishes the next version). A publication killed between the claim and the
rename leaves a record without a folder; the next publication of the same inputs restores the
folder (byte-identical, checked against the record's sha256 of every file).

Nothing in a record depends on when the publication ran: ``created_at`` is the release's
recorded time (the latest scrape time of its released metadata, ``release_docs.release_time``).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.stores import PUBLISHED, ScopedStores
from artificial_data.generator.publish import package
from artificial_data.generator.publish.api import (
    PublicationError,
    Year,
    _validate,
    build_package,
)
from artificial_data.generator.publish.carry import (
    CarryPlan,
    plan_carry,
    published_from,
    source_sha256,
)
from artificial_data.generator.publish.csv_format import WrittenCsv, csv_sha256, write_csv
from artificial_data.generator.publish.release_docs import source_facts

INDEX = "release_index"
KINDS = ("sample", "full")
INDEX_FORMAT = 1


class ReleaseRace(PublicationError):
    """Another publication claimed the same version with other inputs; nothing was written."""


@dataclass(frozen=True)
class ReleaseOutcome:
    """The release that holds the inputs: made now (``created``) or already published."""

    record: dict[str, Any]
    path: Path
    created: bool
    #: Years taken unchanged from the previous release (not formatted again; copied when
    #: a new version was written), and years that could have been but whose files there are
    #: not as its record says (year -> reason).
    carried: tuple[str, ...] = ()
    carry_refused: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.record["release"]

    @property
    def version(self) -> int:
        return self.record["version"]

    @property
    def zip_path(self) -> Path:
        return self.path / f"{self.name}.zip"


def index_object(dataset: str) -> str:
    return f"{dataset}/{INDEX}"


def record_name(kind: str, version: int) -> str:
    return f"{kind}-v{version:04d}"


def read_index(scoped: ScopedStores, dataset: str) -> list[dict[str, Any]]:
    """Every release record of ``dataset``, by kind then version."""
    records = scoped.read_records(PUBLISHED, index_object(dataset))
    return sorted(records, key=lambda r: (r["release_kind"], r["version"]))


def latest_release(records: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    mine = [r for r in records if r["release_kind"] == kind]
    return mine[-1] if mine else None


def _folder_versions(scoped: ScopedStores, spec: DatasetSpec, kind: str) -> list[int]:
    """Versions named by release folders, also those older than the index (never reused)."""
    pattern = re.compile(
        rf"^artificial_hes_{re.escape(package.short_name(spec))}_\d{{6}}_v(\d+)_{kind}$"
    )
    found = (pattern.match(n) for n in scoped.partitions(PUBLISHED, spec.dataset))
    return [int(m[1]) for m in found if m]


def release_inputs(
    tables: Mapping[str, Year],
    provenance: dict[str, dict],
    kind: str,
    release_month: str,
    csv_hashes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What decides whether a release is new: kind, month and, per year, the content hash of
    the artificial table (sha256 of its published CSV) and of the metadata it came from.
    ``csv_hashes`` are those sha256 when the CSVs were already written (else computed)."""
    hashes = csv_hashes or {}
    return {
        "release_kind": kind,
        "release_month": release_month,
        "years": {
            year: {
                "artificial_sha256": hashes.get(year) or csv_sha256(tables[year]),
                "metadata_content_hash": provenance[year].get("metadata_content_hash"),
            }
            for year in sorted(tables)
        },
    }


def _year_record(
    inputs: dict, provenance: dict, rows: int, facts: dict, year: str, source: str | None
) -> dict:
    sign_off = provenance.get("sign_off") or {}
    return {
        **inputs,
        # What decided the year's published bytes, so that the next release can copy them
        # instead of writing them again (``carry.py``).
        "published_from": published_from(source),
        "rows": rows,
        "seed": provenance.get("seed"),
        "sign_off": {
            k: sign_off.get(k) for k in ("pair_digest", "reviewer_statement", "approver_statement")
        },
        "demo_sign_off": year in facts["demo_sign_off_years"],
        "simulated_source": year in facts["simulated_source_years"],
    }


def publish_release(
    scoped: ScopedStores,
    spec: DatasetSpec,
    tables: Mapping[str, Year],
    provenance: dict[str, dict],
    *,
    kind: str,
    release_month: str,
    recorded_at: str,
    release_info: dict[str, Any],
) -> ReleaseOutcome:
    """Publish the release of ``spec.dataset`` holding ``tables`` (financial year -> Arrow table
    or rows read in batches, ``year_rows``), or return the existing release of the same inputs.
    ``provenance`` is each year's generation provenance (metadata content hash, seed, sign-off
    summary, simulated source).

    A year whose artificial Parquet files and writers are those of the same year in the
    latest release of this kind is carried over (``carry.py``): its recorded CSV sha256 is
    used, and its files are copied from that release, checked against its record. Each other
    year's CSV is formatted once, a year at a time and batch by batch, into a temporary folder
    while its sha256 is taken from the bytes written: the hashes decide whether the release is
    new, and a new release zips those very files.
    """
    if kind not in KINDS:
        raise PublicationError(f"{spec.dataset}: release kind must be one of {KINDS}, got {kind!r}")
    _validate(tables, spec, release_month, 1, kind)
    # The carry is planned from the index as it is now; whether the release is new and its
    # version are decided from the index read again once the CSVs are written (in _publish),
    # so that a publication committed meanwhile is seen and a race stays unlikely.
    latest = latest_release(read_index(scoped, spec.dataset), kind)
    sources = {year: source_sha256(tables[year]) for year in sorted(tables)}
    plan = plan_carry(spec, latest, _folder_of(scoped, spec, latest), sources)
    with tempfile.TemporaryDirectory(prefix=f"publication-{spec.dataset}-") as staging:
        csvs = {
            year: write_csv(tables[year], Path(staging) / package.year_file(spec, year, "csv"))
            for year in sorted(tables)
            if year not in plan.years
        }
        return _publish(
            scoped,
            spec,
            tables,
            provenance,
            csvs,
            plan,
            sources,
            kind=kind,
            release_month=release_month,
            recorded_at=recorded_at,
            release_info=release_info,
        )


def _folder_of(scoped: ScopedStores, spec: DatasetSpec, record: dict | None) -> Path | None:
    """The folder of a release record, if it is in place."""
    if record is None or not scoped.has_partition(PUBLISHED, spec.dataset, record["release"]):
        return None
    return scoped.partition_path(PUBLISHED, spec.dataset, record["release"])


def _publish(
    scoped: ScopedStores,
    spec: DatasetSpec,
    tables: Mapping[str, Year],
    provenance: dict[str, dict],
    csvs: Mapping[str, WrittenCsv],
    plan: CarryPlan,
    sources: Mapping[str, str | None],
    *,
    kind: str,
    release_month: str,
    recorded_at: str,
    release_info: dict[str, Any],
) -> ReleaseOutcome:
    hashes = {year: written.sha256 for year, written in csvs.items()}
    hashes.update({year: carried.csv.sha256 for year, carried in plan.years.items()})
    inputs = release_inputs(tables, provenance, kind, release_month, hashes)
    records = read_index(scoped, spec.dataset)
    latest = latest_release(records, kind)
    if latest is not None and latest["inputs"] == inputs:
        return _existing(scoped, spec, tables, latest, release_info, csvs, plan)

    taken = [r["version"] for r in records if r["release_kind"] == kind]
    version = max([0, *taken, *_folder_versions(scoped, spec, kind)]) + 1
    name = package.release_name(spec, release_month, version, kind)
    facts = source_facts(release_info, tables)
    record = {
        "index_format": INDEX_FORMAT,
        "dataset": spec.dataset,
        "release_kind": kind,
        "version": version,
        "release": name,
        "release_month": release_month,
        "created_at": recorded_at,
        "previous_version": latest["version"] if latest else None,
        "inputs": inputs,
        "years": {
            y: _year_record(
                inputs["years"][y], provenance[y], tables[y].num_rows, facts, y, sources[y]
            )
            for y in sorted(tables)
        },
        "simulated_source": facts["simulated_source"],
        "demo_sign_off": facts["demo_sign_off"],
        "source": facts["statement"],
    }

    def write(folder: Path) -> None:
        built = build_package(
            tables,
            spec,
            folder,
            release_month=release_month,
            version=version,
            size=kind,
            release_info=release_info,
            csvs=csvs,
            carried=plan.years,
        )
        record["files_sha256"] = built.files
        # What the next release checks a carried year's zip entry against (carry.py).
        record["zip_entries"] = built.zip_entries

    def claim(_folder: Path) -> None:
        scoped.create_record(
            PUBLISHED, index_object(spec.dataset), record_name(kind, version), record
        )

    try:
        scoped.write_folder_once(PUBLISHED, spec.dataset, name, write, commit=claim)
    except FileExistsError:
        winner = next(
            (
                r
                for r in read_index(scoped, spec.dataset)
                if r["release_kind"] == kind and r["version"] == version
            ),
            None,
        )
        if winner is not None and winner["inputs"] == inputs:
            return _existing(scoped, spec, tables, winner, release_info, csvs, plan)
        raise ReleaseRace(
            f"{spec.dataset}: version {version} of the {kind} release was published by another "
            "run while this one was building it, from other inputs; nothing was written and "
            f"version {version} is untouched. Publish again to make version {version + 1}."
        ) from None
    path = scoped.partition_path(PUBLISHED, spec.dataset, name)
    return ReleaseOutcome(record, path, True, tuple(sorted(plan.years)), plan.refused)


def _existing(
    scoped: ScopedStores,
    spec: DatasetSpec,
    tables: Mapping[str, Year],
    record: dict[str, Any],
    release_info: dict[str, Any],
    csvs: Mapping[str, WrittenCsv],
    plan: CarryPlan,
) -> ReleaseOutcome:
    """The published release of ``record``; its folder is restored if a publication was killed
    between claiming the version and renaming the folder into place."""
    name = record["release"]
    if not scoped.has_partition(PUBLISHED, spec.dataset, name):

        def write(folder: Path) -> None:
            files = build_package(
                tables,
                spec,
                folder,
                release_month=record["release_month"],
                version=record["version"],
                size=record["release_kind"],
                release_info=release_info,
                csvs=csvs,
                carried=plan.years,
            ).files
            if files != record.get("files_sha256"):
                raise PublicationError(
                    f"{spec.dataset}: the files of release {name} are missing and cannot be "
                    "restored byte for byte (other software versions or release facts); "
                    "its index record stays as it is"
                )

        with contextlib.suppress(FileExistsError):  # restored by another run meanwhile
            scoped.write_folder_once(PUBLISHED, spec.dataset, name, write)
    path = scoped.partition_path(PUBLISHED, spec.dataset, name)
    return ReleaseOutcome(record, path, False, tuple(sorted(plan.years)), plan.refused)
