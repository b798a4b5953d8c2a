"""Scoped stores: who may read and write what (DESIGN §2).

Every stage reads and writes through a :class:`ScopedStores` built for its code location. The
grants are fixed here, in code, per location; a caller can narrow them but never widen them,
and every path is checked against the grants before any I/O happens, so that a mistake (or an
edited run config) cannot make the open generator read raw HES or unreleased metadata.

Locally each store is a folder under the home directory holding Parquet/JSON objects, one
folder per partition. Partition writes are atomic: the new content is written into a fresh
version folder, then a symlink is swapped onto it with one ``os.replace`` (atomic on POSIX), so
a reader sees either the old or the new partition, never half of one, and a failed write leaves
the old partition untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RAW = "raw"
METADATA_SENSITIVE = "metadata_sensitive"
ADMIN = "admin"
METADATA_RELEASED = "metadata_released"
ARTIFICIAL = "artificial"
PUBLISHED = "published"
STORE_NAMES = (RAW, METADATA_SENSITIVE, ADMIN, METADATA_RELEASED, ARTIFICIAL, PUBLISHED)

SCRAPER = "scraper"
REVIEW = "review"
GENERATOR = "generator"
LOCATIONS = (SCRAPER, REVIEW, GENERATOR)


@dataclass(frozen=True)
class Grants:
    """The stores a location may read and write."""

    read: frozenset[str]
    write: frozenset[str]


#: The widest grants each location can ever have. Nothing outside this table is reachable.
#: The scraper may write ``raw`` only where raw HES is the simulator's stand-in data.
MAXIMUM_GRANTS: dict[str, Grants] = {
    SCRAPER: Grants(frozenset({RAW, METADATA_SENSITIVE}), frozenset({METADATA_SENSITIVE})),
    REVIEW: Grants(
        frozenset({METADATA_SENSITIVE, ADMIN, METADATA_RELEASED}),
        frozenset({ADMIN, METADATA_RELEASED}),
    ),
    GENERATOR: Grants(
        frozenset({METADATA_RELEASED, ARTIFICIAL, PUBLISHED}), frozenset({ARTIFICIAL, PUBLISHED})
    ),
}
SIMULATOR_EXTRA_WRITE = frozenset({RAW})

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$")


class ScopeViolation(PermissionError):
    """An access outside a location's grants. Names the location, store and object."""

    def __init__(self, location: str, store: str, obj: str, action: str, reason: str = ""):
        self.location, self.store, self.object, self.action = location, store, obj, action
        why = f": {reason}" if reason else ""
        super().__init__(
            f"scope violation: code location '{location}' may not {action} store '{store}' "
            f"(object '{obj}'){why}"
        )


class PartitionMissing(FileNotFoundError):
    """A partition that a step needs has not been written (or not been released) yet."""

    def __init__(self, store: str, obj: str, partition: str, hint: str = ""):
        self.store, self.object, self.partition = store, obj, partition
        extra = f" {hint}" if hint else ""
        super().__init__(
            f"store '{store}' has no partition '{partition}' of '{obj}'.{extra}".rstrip()
        )


def maximum_grants(location: str, simulated_raw: bool) -> Grants:
    """The widest grants ``location`` may have in this environment."""
    if location not in MAXIMUM_GRANTS:
        raise ValueError(f"unknown code location {location!r}; expected one of {LOCATIONS}")
    grants = MAXIMUM_GRANTS[location]
    if location == SCRAPER and simulated_raw:
        grants = Grants(grants.read, grants.write | SIMULATOR_EXTRA_WRITE)
    return grants


@dataclass
class ScopedStores:
    """Store access for one code location, checked on every call."""

    location: str
    home: Path
    grants: Grants

    @classmethod
    def for_location(
        cls,
        location: str,
        home: Path,
        simulated_raw: bool = False,
        read: Iterable[str] | None = None,
        write: Iterable[str] | None = None,
    ) -> ScopedStores:
        """Build the stores of ``location``, optionally narrowed; refuse any widening."""
        widest = maximum_grants(location, simulated_raw)
        wanted = Grants(
            frozenset(widest.read if read is None else read),
            frozenset(widest.write if write is None else write),
        )
        for store in sorted(wanted.read | wanted.write):
            if store not in STORE_NAMES:
                raise ValueError(f"unknown store {store!r}; expected one of {STORE_NAMES}")
        for wider, action in (
            (wanted.read - widest.read, "read"),
            (wanted.write - widest.write, "write"),
        ):
            if wider:
                raise ScopeViolation(location, min(wider), "*", f"be granted {action} access to")
        return cls(location=location, home=Path(home).resolve(), grants=wanted)

    # ---------------------------------------------------------------------------------- paths

    def _object_path(self, store: str, obj: str, action: str) -> Path:
        allowed = self.grants.read if action == "read" else self.grants.write
        if store not in STORE_NAMES:
            raise ValueError(f"unknown store {store!r}; expected one of {STORE_NAMES}")
        if store not in allowed:
            raise ScopeViolation(self.location, store, obj, action)
        segments = obj.split("/")
        if not segments or not all(_SEGMENT.match(s) for s in segments):
            raise ScopeViolation(
                self.location, store, obj, action, "object names are plain relative names"
            )
        root = (self.home / store).resolve()
        path = (root / obj).resolve() if (root / obj).exists() else root / obj
        if root not in path.parents and path != root:
            raise ScopeViolation(self.location, store, obj, action, "path leaves the store")
        return root / obj

    def partition_path(self, store: str, obj: str, partition: str) -> Path:
        """The readable path of one partition; raises :class:`PartitionMissing` if absent."""
        path = self._object_path(store, f"{obj}/{partition}", "read")
        if not path.exists():
            raise PartitionMissing(store, obj, partition)
        return path

    def has_partition(self, store: str, obj: str, partition: str) -> bool:
        return self._object_path(store, f"{obj}/{partition}", "read").exists()

    def partitions(self, store: str, obj: str) -> list[str]:
        path = self._object_path(store, obj, "read")
        if not path.exists():
            return []
        return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))

    # --------------------------------------------------------------------------------- writes

    def write_partition(
        self, store: str, obj: str, partition: str, writer: Callable[[Path], None]
    ) -> Path:
        """Atomically (re)place one partition with what ``writer`` writes into a fresh folder.

        ``writer`` gets a folder path that does not exist yet (Spark insists on creating it
        itself) and must create it. If it raises, the previous partition stays as it was.
        """
        target = self._object_path(store, f"{obj}/{partition}", "write")
        versions = target.parent / ".versions"
        versions.mkdir(parents=True, exist_ok=True)
        version = versions / f"{partition}-{uuid.uuid4().hex}"
        try:
            writer(version)
            if not version.is_dir():
                raise RuntimeError(f"writer for {store}/{obj}/{partition} created no folder")
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        previous = target.resolve() if target.is_symlink() else None
        if target.exists() and not target.is_symlink():
            # A plain folder from an older layout: move it aside so the swap stays atomic.
            previous = versions / f"{partition}-legacy-{uuid.uuid4().hex}"
            target.rename(previous)
        link = target.parent / f".{partition}.link-{uuid.uuid4().hex}"
        os.symlink(os.path.relpath(version, target.parent), link)
        os.replace(link, target)
        if previous is not None and previous != version.resolve():
            shutil.rmtree(previous, ignore_errors=True)
        return target

    def write_json_partition(
        self, store: str, obj: str, partition: str, files: dict[str, Any]
    ) -> Path:
        """Atomically write a partition made of small JSON/text files."""

        def writer(folder: Path) -> None:
            folder.mkdir(parents=True)
            for name, content in files.items():
                text = content if isinstance(content, str) else json.dumps(content, indent=2)
                (folder / name).write_text(text)

        return self.write_partition(store, obj, partition, writer)

    def append_record(self, store: str, obj: str, record: dict[str, Any]) -> Path:
        """Append one immutable JSON record to an append-only log object.

        Each record is its own file, created with O_EXCL so that nothing is ever overwritten.
        """
        folder = self._object_path(store, obj, "write")
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{stamp}-{uuid.uuid4().hex[:12]}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, indent=2, sort_keys=True)
        return path

    def secret(self, store: str, obj: str, create: Callable[[], bytes]) -> bytes:
        """A secret kept in ``store`` (e.g. a key), created with ``create`` on first use.

        Reading needs the read grant; creating it also needs the write grant, so a location
        that may only read the store gets an error until a location that may write it ran.
        The file is created with O_EXCL and mode 0600 and is never a symlink.
        """
        path = self._object_path(store, obj, "read")
        if not path.exists() and not path.is_symlink():
            self._object_path(store, obj, "write")
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: read theirs
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(create())
        if path.is_symlink():
            raise ScopeViolation(self.location, store, obj, "read", "a secret may not be a link")
        return path.read_bytes()

    def read_records(self, store: str, obj: str) -> list[dict[str, Any]]:
        """All records of an append-only log, oldest first."""
        folder = self._object_path(store, obj, "read")
        if not folder.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
