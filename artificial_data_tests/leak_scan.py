"""Search every byte under some folders for needles, seeing through the encodings we produce.

``scan(roots, needles)`` walks each root (never following a symlink out of it), and searches
every file's raw bytes and, depending on what the file *is* (by its magic bytes, not its name):

- zip archives: every member, recursively (a zip inside a zip, a Parquet file inside a zip);
- gzip: the decompressed content, recursively;
- Parquet: every value of every column (lists, structs and numbers included) rendered as text,
  because compression hides the plain bytes;
- SQLite (Dagster's run and event storage): every cell of every table, as text or blob; the
  database is copied together with its ``-wal`` file first (and the ``-wal`` file is also
  searched as raw bytes on its own), so nothing not yet checkpointed is missed.

Needles are searched as exact byte strings, all at once with one trie-shaped regular expression
(the leak test has a few hundred needles). A hit is reported per (file, needle), with the
chain of containers and how it was seen.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_MAGIC = b"PAR1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
GZIP_MAGIC = b"\x1f\x8b"
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_DEPTH = 8
CONTEXT = 80  # bytes of context either side of a hit


@dataclass(frozen=True)
class Hit:
    """``needle`` was found in ``location`` (a path, then ``!member`` for archive members)."""

    location: str
    needle: bytes
    how: str  # raw, parquet, sqlite, ...
    context: str = ""  # the text around the first occurrence, for the failure message

    def __str__(self) -> str:
        return f"{self.location} [{self.how}]: {self.needle!r} in ...{self.context}..."


@dataclass
class ScanReport:
    hits: list[Hit] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # symlinks leaving a root
    errors: list[str] = field(default_factory=list)  # content that could not be decoded

    def needles(self) -> set[bytes]:
        return {h.needle for h in self.hits}

    def locations(self, needle: bytes) -> list[str]:
        return sorted({h.location for h in self.hits if h.needle == needle})


class Matcher:
    """All occurrences of a set of byte strings in one pass (a trie compiled to a regex)."""

    def __init__(self, needles: Iterable[bytes]):
        self.needles = sorted(set(needles))
        if not self.needles or any(not n for n in self.needles):
            raise ValueError("needles must be non-empty byte strings")
        # A match at a position is the longest needle there; shorter needles that are prefixes
        # of it are reported along with it.
        known = set(self.needles)
        self._prefixes = {n: [n[:k] for k in range(1, len(n)) if n[:k] in known] for n in known}
        self._regex = re.compile(b"(?=(" + _trie_regex(self.needles) + b"))")

    def find(self, data: bytes) -> set[bytes]:
        return set(self.positions(data))

    def positions(self, data: bytes) -> dict[bytes, int]:
        """needle -> offset of its first occurrence in ``data``."""
        found: dict[bytes, int] = {}
        for match in self._regex.finditer(data):
            needle = match.group(1)
            if needle not in found:
                found[needle] = match.start()
                for prefix in self._prefixes[needle]:
                    found.setdefault(prefix, match.start())
                if len(found) == len(self.needles):
                    break
        return found


def _trie_regex(words: list[bytes]) -> bytes:
    trie: dict = {}
    for word in words:
        node = trie
        for byte in word:
            node = node.setdefault(byte, {})
        node[None] = True

    def render(node: dict) -> bytes:
        end = None in node
        branches = [
            re.escape(bytes([b])) + render(child) for b, child in node.items() if b is not None
        ]
        if not branches:
            return b""
        body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
        if end:
            return b"(?:" + body + b")?"
        return body

    return render(trie)


# -------------------------------------------------------------------------------- rendering


def _render(value: object, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, bytes):
        out.append(value.decode("utf-8", "backslashreplace"))
    elif isinstance(value, dict):
        for k, v in value.items():
            out.append(str(k))
            _render(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _render(v, out)
    elif isinstance(value, float):
        out.append(repr(value))
        if value.is_integer() and abs(value) < 1e19:
            out.append(str(int(value)))
    elif isinstance(value, date | datetime):
        out.append(value.isoformat())
    else:
        out.append(str(value))


def parquet_text(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(column, every value of the column rendered as text, one per line)."""
    table = pq.read_table(pa.BufferReader(data))
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            values = column.to_pylist()
        except (ValueError, OverflowError, pa.ArrowException):
            # e.g. a date or timestamp outside what Python's datetime holds: cast to text.
            values = column.cast(pa.string()).to_pylist()
        out: list[str] = [name]
        for value in values:
            _render(value, out)
        # One value per line, each line closed: a short value is then found as "\nVALUE\n".
        yield name, ("\n".join(out) + "\n").encode("utf-8", "surrogatepass")
    yield "<schema>", str(table.schema).encode()
    metadata = table.schema.metadata or {}
    yield "<metadata>", b"\n".join(k + b"\n" + v for k, v in metadata.items())


def sqlite_cells(path: Path) -> Iterator[tuple[str, bytes]]:
    """(table, every cell of the table as bytes, one per line) of a database file."""
    connection = sqlite3.connect(path)  # a private copy: opening it may replay its -wal
    connection.text_factory = bytes
    try:
        tables = [
            r[0].decode()
            for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            out: list[bytes] = []
            quoted = table.replace('"', '""')
            for row in connection.execute(f'SELECT * FROM "{quoted}"'):
                for cell in row:
                    if cell is None:
                        continue
                    if isinstance(cell, bytes):
                        out.append(cell)
                        if cell[:2] == GZIP_MAGIC:
                            out.append(gzip.decompress(cell))
                    elif isinstance(cell, float):
                        out.append(repr(cell).encode())
                    else:
                        out.append(str(cell).encode())
            yield table, b"\n" + b"\n".join(out) + b"\n"
    finally:
        connection.close()


# ---------------------------------------------------------------------------------- scanning


class Scanner:
    def __init__(self, needles: Iterable[bytes]):
        self.matcher = Matcher(needles)

    def scan(self, roots: Iterable[Path]) -> ScanReport:
        report = ScanReport()
        for root in roots:
            root = Path(root)
            if not root.exists():
                continue
            for path in _walk(root, report):
                data = path.read_bytes()
                report.files += 1
                report.bytes += len(data)
                self._content(str(path), data, report, 0, path)
        return report

    def _search(self, location: str, how: str, data: bytes, report: ScanReport) -> None:
        for needle, at in sorted(self.matcher.positions(data).items()):
            around = data[max(0, at - CONTEXT) : at + len(needle) + CONTEXT]
            context = around.decode("utf-8", "backslashreplace").replace("\n", " ")
            report.hits.append(Hit(location, needle, how, context))

    def _content(
        self, location: str, data: bytes, report: ScanReport, depth: int, path: Path | None = None
    ) -> None:
        self._search(location, "raw", data, report)
        if depth >= MAX_DEPTH:
            report.errors.append(f"{location}: nested deeper than {MAX_DEPTH}")
            return
        try:
            if data[:4] in ZIP_MAGICS:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for info in archive.infolist():
                        if not info.is_dir():
                            member = archive.read(info)
                            self._content(f"{location}!{info.filename}", member, report, depth + 1)
            elif data[:2] == GZIP_MAGIC:
                self._content(f"{location}!gunzip", gzip.decompress(data), report, depth + 1)
            elif data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC:
                for column, text in parquet_text(data):
                    self._search(f"{location}#{column}", "parquet", text, report)
            elif data[:16] == SQLITE_MAGIC:
                self._sqlite(location, data, path, report)
        except Exception as exc:  # a file we cannot decode is reported, never silently passed
            report.errors.append(f"{location}: {type(exc).__name__}: {exc}")

    def _sqlite(self, location: str, data: bytes, path: Path | None, report: ScanReport) -> None:
        with tempfile.TemporaryDirectory(prefix="leak_scan_") as tmp:
            copy = Path(tmp) / "db.sqlite"
            copy.write_bytes(data)
            if path is not None:
                for suffix in ("-wal", "-shm"):
                    side = path.with_name(path.name + suffix)
                    if side.exists():
                        shutil.copyfile(side, copy.with_name(copy.name + suffix))
            for table, cells in sqlite_cells(copy):
                self._search(f"{location}#{table}", "sqlite", cells, report)


def _walk(root: Path, report: ScanReport) -> Iterator[Path]:
    """Every regular file under ``root``; symlinks are not followed (whatever they point at
    inside the root is walked anyway; what they point at outside it is out of scope)."""
    top = root.resolve()
    for folder, dirs, files in os.walk(top, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            if path.is_symlink():
                target = path.resolve()
                if top not in target.parents and target != top:
                    report.skipped.append(f"{path} -> {target}")
                continue
            if name in files and path.is_file():
                yield path


def scan(roots: Iterable[Path], needles: Iterable[bytes]) -> ScanReport:
    return Scanner(needles).scan(roots)
