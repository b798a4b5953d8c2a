"""The files of one release folder, written so that the same inputs give the same bytes.

Layout (``<release>`` = ``artificial_hes_<ds>_<YYYYMM>_v<N>_<sample|full>``)::

    <out_folder>/<release>/
        <release>.zip            # holds the folder <release>/ with the CSVs and documents
        artificial_hes_<ds>_<YYZZ>.parquet   (one per financial year)
        data_dictionary.md  user_notice.md  release_notes.json  schema.json

The folder is built under a temporary name and renamed into place, so a reader never sees half
a release; a release folder, once in place, is never replaced (``publish/releases.py``).

Every file is a function of the release inputs only (tables, spec, release month, version,
size, release facts), so the same inputs give byte-identical files with the same software
versions: the zip has its entries in name order, each stamped with the first day of the release
month, Unix permissions 0644 (folder 0755), deflate at a fixed level (``ZIP_LEVEL``) and no
extra fields; the Parquet files drop any schema metadata the tables carried (e.g. Spark's) and
are written with fixed options (zstd level, format version, row groups, statistics).

Nothing here holds a whole year: the CSVs are written batch by batch before they are zipped
(streamed from disk into their zip entries) and the Parquet copy is written one row group at a
time. A year carried over unchanged from the previous release (``carry.py``) has its CSV entry
copied from that release's zip still compressed (:class:`CopiedEntry`), its compressed bytes
checked on the way against the sha256 that release's record keeps of them (:class:`EntryFacts`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.generator.publish.csv_format import column_types
from artificial_data.generator.publish.year_rows import YearRows, as_year_rows


class PublicationError(ValueError):
    """The release cannot be built; the message names the dataset, year and problem."""


#: Ends the message of a publication stopped part-way, after the build had begun: the build
#: folder is removed, so there is nothing half-written to clean up.
NOTHING_PUBLISHED = "nothing was published, publish again"


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


#: Fixed writer options, so that the same table always gives the same Parquet bytes.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1 << 17,
    "use_dictionary": True,
    "write_statistics": True,
}
#: Deflate level of every zip entry, stated so that it never drifts. 3, not zlib's default 6:
#: on a 1M-row APC year's CSV (1,197 MB) level 6 took 45.2 s for 279 MB, level 3 15.9 s for
#: 316 MB and level 1 12.5 s for 353 MB (session 13); deflate was most of a year's
#: publication. Releases written before at level 6 stay as they were (never rewritten).
ZIP_LEVEL = 3
_UNIX = 3  # ZipInfo.create_system of a Unix host, whatever the host really is


#: Rows per Parquet row group (``PARQUET_OPTIONS["row_group_size"]``). 2^17 rows (about 10 MB
#: compressed for an APC year's 193 columns) bounds what publication holds at once whatever the
#: year's size: it was 2^20, which made a year of up to a million rows one row group built in
#: memory whole (issue 16). Readers see the same rows; the bytes differ from releases written
#: before, which stay as they were (a release folder is never rewritten).
ROW_GROUP_ROWS = PARQUET_OPTIONS["row_group_size"]


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.remove_metadata() for f in schema])


def write_parquet(year: pa.Table | YearRows, path: Path) -> None:
    """Write a year without the schema and field metadata it may carry (Spark writes some),
    one row group at a time: batches are gathered up to :data:`ROW_GROUP_ROWS` rows and written
    as one row group, which gives the same bytes as writing the whole table at once (the
    writer cuts a whole table into row groups of that size), while holding one row group."""
    source = as_year_rows(year)
    schema = _plain_schema(source.schema)
    options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}
    pending: list[pa.RecordBatch] = []
    held = 0

    def flush(writer: pq.ParquetWriter) -> None:
        nonlocal held
        group = pa.Table.from_batches(pending, schema=source.schema)
        writer.write_table(pa.Table.from_arrays(group.columns, schema=schema), ROW_GROUP_ROWS)
        pending.clear()
        held = 0

    with pq.ParquetWriter(path, schema, **options) as writer:
        for batch in source.batches(ROW_GROUP_ROWS):
            while batch.num_rows:
                take = min(batch.num_rows, ROW_GROUP_ROWS - held)
                pending.append(batch.slice(0, take))
                held += take
                batch = batch.slice(take)
                if held == ROW_GROUP_ROWS:
                    flush(writer)
        if pending or source.num_rows == 0:
            flush(writer)


def _entry(name: str, stamp: tuple[int, ...], mode: int, size: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.create_system = _UNIX
    info.external_attr = mode << 16
    info.file_size = size  # decides ZIP64 from the real size, the same way on every run
    if mode & 0o40000:
        info.external_attr |= 0x10  # MS-DOS directory flag
        return info
    info.compress_type = zipfile.ZIP_DEFLATED
    if hasattr(info, "compress_level"):  # Python >= 3.13
        info.compress_level = ZIP_LEVEL
    else:
        info._compresslevel = ZIP_LEVEL
    return info


_BLOCK = 1 << 20


@dataclass(frozen=True)
class EntryFacts:
    """What a release's index record keeps of one entry of its zip: the sha256 and size of
    the entry's compressed bytes, and the CRC and size of the file they inflate to.

    The next release copies a carried year's entry still compressed and checks the bytes it
    copies against ``deflated_sha256``: that proves them the bytes this release wrote, without
    inflating them (inflating took about 5 s per 1M APC rows; a carried year now costs about
    1.8 s in all, session 14's ``bench_publication.py --series 3``).
    The CRC and sizes come from here too, not from the zip's own directory, so every field of
    the copied entry's header is one the record vouches for."""

    deflated_sha256: str
    compress_size: int
    crc: int
    file_size: int

    def as_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: Any) -> EntryFacts | None:
        """The facts of a record's entry, or None if the record has none in this shape."""
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(record, dict) or sorted(record) != sorted(names):
            return None
        facts = cls(**record)
        kinds = (str, int, int, int)
        if not all(isinstance(getattr(facts, n), k) for n, k in zip(names, kinds, strict=True)):
            return None
        return facts


def _entry_data(
    fh: IO[bytes], header_offset: int, compress_size: int, label: str
) -> Iterator[bytes]:
    """The compressed bytes of the zip entry whose local header starts at ``header_offset``
    in ``fh``, in blocks (``label`` names the entry in errors)."""
    fh.seek(header_offset)
    header = fh.read(zipfile.sizeFileHeader)
    if len(header) != zipfile.sizeFileHeader:
        raise PublicationError(f"{label}: no entry header")
    fields = struct.unpack(zipfile.structFileHeader, header)
    if fields[0] != zipfile.stringFileHeader:
        raise PublicationError(f"{label}: no entry header")
    fh.seek(fields[10] + fields[11], 1)  # the local header's name and extra field
    left = compress_size
    while left:
        block = fh.read(min(left, _BLOCK))
        if not block:
            raise PublicationError(f"{label}: cut short")
        left -= len(block)
        yield block


@dataclass(frozen=True)
class CopiedEntry:
    """A deflated entry of another release zip, copied into this one as it is.

    ``name`` is its file name inside the release folder; ``facts`` are what that release's
    record keeps of the entry (its compressed bytes are checked against them as they are
    copied); ``sha256`` is that of the file it inflates to, as the record has it (the release
    notes list it)."""

    name: str
    source: Path
    header_offset: int
    facts: EntryFacts
    sha256: str

    @classmethod
    def of(
        cls, source: Path, info: zipfile.ZipInfo, facts: EntryFacts, *, sha256: str
    ) -> CopiedEntry:
        """The entry ``info`` of the zip ``source``: only where it starts is taken from the
        zip's directory, everything else from the record (``facts``, ``sha256``)."""
        if info.compress_type != zipfile.ZIP_DEFLATED:
            raise PublicationError(f"{source.name}: {info.filename} is not deflated")
        name = info.filename.rsplit("/", 1)[-1]
        return cls(
            name=name, source=source, header_offset=info.header_offset, facts=facts, sha256=sha256
        )

    def raw_blocks(self) -> Iterator[bytes]:
        """The entry's compressed bytes, in blocks, after its local header. A zip that lost
        the entry's header or bytes since the carry plan checked it fails the publication, and
        the message says that nothing was published (the build folder is removed)."""
        with open(self.source, "rb") as src:
            label = f"{self.source.name}: {self.name}"
            try:
                yield from _entry_data(src, self.header_offset, self.facts.compress_size, label)
            except PublicationError as err:
                raise PublicationError(
                    f"{err}: the previous release changed since it was checked; "
                    + NOTHING_PUBLISHED
                ) from err


class ReleaseZip:
    """The release zip, written in entry-name order in one or more parts.

    A part is a list of files; every name in a part must sort after every name already
    written, so the archive is the same bytes as one sorted write of all the files. Parts let
    the CSV entries (``artificial_hes_*``, which sort before the documents) be deflated while
    the Parquet copies are still being written; the release notes, which hold the Parquet
    files' sha256, come in the last part. One thread at a time may add a part.

    A part may also hold :class:`CopiedEntry` items: entries of an earlier release zip with
    the same bytes, copied without deflating them again. Their local header is written as
    ``ZipFile.open(..., "w")`` would write it once the data is known (same fields, same ZIP64
    choice), so the archive is the same bytes as one that deflated the file afresh (tested
    byte for byte, ZIP64 too); that needs the writer's own bookkeeping (``fp``,
    ``start_dir``, ``filelist``), which Python's zipfile keeps for its own writes."""

    def __init__(self, zip_path: Path, folder_name: str, release_month: str) -> None:
        self._stamp = (int(release_month[:4]), int(release_month[4:]), 1, 0, 0, 0)
        self._folder = folder_name
        self._last = ""
        self._archive = zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED)
        self._archive.writestr(_entry(f"{folder_name}/", self._stamp, 0o40755), b"")
        #: file name (in the release folder) -> :class:`EntryFacts` of each entry written
        self.entries: dict[str, EntryFacts] = {}

    def add(self, files: list[Path | CopiedEntry]) -> None:
        for path in sorted(files, key=lambda p: p.name):
            if path.name <= self._last:
                raise ValueError(f"zip entry {path.name} does not sort after {self._last}")
            self._last = path.name
            if isinstance(path, CopiedEntry):
                self._copy(path)
                continue
            size = path.stat().st_size
            info = _entry(f"{self._folder}/{path.name}", self._stamp, 0o100644, size)
            zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
            with open(path, "rb") as src, self._archive.open(info, "w", force_zip64=zip64) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            self.entries[path.name] = self._facts(info)

    def _facts(self, info: zipfile.ZipInfo) -> EntryFacts:
        """The facts of the entry just written, its compressed bytes read back and hashed
        (a 1M-row APC year's 316 MB, still in the page cache)."""
        archive = self._archive
        digest = hashlib.sha256()
        for block in _entry_data(archive.fp, info.header_offset, info.compress_size, info.filename):
            digest.update(block)
        archive.fp.seek(archive.start_dir)  # where the next entry goes
        return EntryFacts(digest.hexdigest(), info.compress_size, info.CRC, info.file_size)

    def _copy(self, entry: CopiedEntry) -> None:
        archive = self._archive
        if archive._writing:
            raise ValueError("another entry of the zip is being written")
        facts = entry.facts
        info = _entry(f"{self._folder}/{entry.name}", self._stamp, 0o100644, facts.file_size)
        zip64 = facts.file_size * 1.05 > zipfile.ZIP64_LIMIT  # the choice add() makes
        if not zip64 and max(facts.file_size, facts.compress_size) > zipfile.ZIP64_LIMIT:
            raise PublicationError(f"{entry.name}: too large for a zip entry without ZIP64")
        info.flag_bits = 0  # sizes in the local header, no data descriptor (a seekable file)
        info.CRC, info.compress_size = facts.crc, facts.compress_size
        archive.fp.seek(archive.start_dir)
        info.header_offset = archive.fp.tell()
        archive._writecheck(info)
        archive._didModify = True
        archive.fp.write(info.FileHeader(zip64))
        digest = hashlib.sha256()
        for block in entry.raw_blocks():
            archive.fp.write(block)
            digest.update(block)
        if digest.hexdigest() != facts.deflated_sha256:
            raise PublicationError(
                f"{entry.name} in {entry.source.name} is not the file its release recorded; "
                + NOTHING_PUBLISHED
            )
        archive.start_dir = archive.fp.tell()
        archive.filelist.append(info)
        archive.NameToInfo[info.filename] = info
        self.entries[entry.name] = facts

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> ReleaseZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_zip(zip_path: Path, folder_name: str, files: list[Path], release_month: str) -> None:
    """The release zip of ``files`` in one part (see :class:`ReleaseZip`)."""
    with ReleaseZip(zip_path, folder_name, release_month) as archive:
        archive.add(files)


def schema_json(spec: DatasetSpec) -> str:
    return json.dumps({"dataset": spec.dataset, "fields": column_types(spec)}, indent=2) + "\n"
