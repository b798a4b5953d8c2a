"""Scoped stores: who may read and write what (DESIGN §2).

Every stage reads and writes through a :class:`ScopedStores` built for its code location. The
grants are fixed here, in code, per location; a caller can narrow them but never widen them,
and every path is checked against the grants before any I/O happens, so that a mistake (or an
edited run config) cannot make the open generator read raw HES or unreleased metadata.

Locally each store is a folder (its *root*) holding Parquet/JSON objects, one folder per
partition. A :class:`ScopedStores` only knows the roots of the stores it is granted: in the
isolated deployment the generator's process is never told where raw data is.

Every read is confined to the store's root: no component below the root may be a symbolic link
(nor the root itself), no file read may be a hard link (``st_nlink > 1``), and the resolved path
must lie inside the root. A violation raises :class:`ScopeViolation` naming location, store and
object. These checks are the second wall; the first is the operating system (each store root
owned and moded so that only the right Unix users can enter it, see ``deploy/isolated.py``).
They are made when a path is handed out, so a store's *writer* racing its readers is stopped by
the operating system's modes, not by this module.

The big tables (raw extracts, metadata rows, artificial tables) are reached through
``ScopedStores.tables`` (``common/tables.py``): Parquet folders here by default, or catalog
tables (one schema per store) when the process's environment selects the catalog backend. Both
make the same grant check, :meth:`ScopedStores.check`, before any I/O.

Partition writes are atomic: the new content is written into a fresh version folder
``<object>/.versions/<partition>-<32 hex>``, then the partition entry, a symbolic link, is
swapped onto it with one ``os.replace`` (atomic on POSIX), so a reader sees either the old or
the new partition, never half of one, and a failed write leaves the old partition untouched.
That link is the only link a store tolerates, and only in exactly the form the store writes it:
relative, ``.versions/<partition>-<32 hex>``, onto a real folder inside the object's own real
``.versions`` folder. Any other link is refused. Version folders that no link names (left by a
killed write) are never read, and are removed by a later write once they are older than
:data:`ORPHAN_GRACE_SECONDS` (younger ones may belong to a write still in progress).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from artificial_data.common.settings import CatalogSettings
    from artificial_data.common.tables import TableStore

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
VERSIONS = ".versions"
_LINK_PREFIX = ".link-"
#: A version folder no partition link names is removed by a later write once it is this old.
ORPHAN_GRACE_SECONDS = 6 * 3600


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


class StoreNotConfigured(LookupError):
    """A granted store whose root this process was not given (see ``common/settings.py``)."""

    def __init__(self, location: str, store: str):
        self.location, self.store = location, store
        super().__init__(
            f"code location '{location}' has no root for store '{store}' in this process; set "
            f"ARTIFICIAL_DATA_STORE_{store.upper()} (or ARTIFICIAL_DATA_HOME for a single-user "
            "setup)"
        )


def store_roots_under(home: Path | str) -> dict[str, Path]:
    """The single-user layout: every store is a folder named after it under ``home``."""
    return {store: Path(home) / store for store in STORE_NAMES}


def _anchored(root: Path | str) -> Path:
    """``root`` made absolute with its parent folders resolved, but not the root itself: the
    root must be a real folder, which is checked on every access."""
    path = Path(root).expanduser().absolute()
    if path.name in ("", ".", ".."):
        raise ValueError(f"a store root must name a folder, not {str(root)!r}")
    return path.parent.resolve() / path.name


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
    #: The root of every granted store this process knows about (never of any other store).
    roots: dict[str, Path]
    grants: Grants
    orphan_grace: float = ORPHAN_GRACE_SECONDS
    #: None: big tables are Parquet folders in the roots; else the catalog backend's settings.
    catalog: CatalogSettings | None = None

    @classmethod
    def for_location(
        cls,
        location: str,
        home: Path | str | Mapping[str, Path | str] | None = None,
        simulated_raw: bool = False,
        read: Iterable[str] | None = None,
        write: Iterable[str] | None = None,
        catalog: CatalogSettings | str | None = "environment",
    ) -> ScopedStores:
        """Build the stores of ``location``, optionally narrowed; refuse any widening.

        ``home`` is either a single-user home folder (every store a folder under it), a mapping
        of store name to root folder (only the stores present are reachable), or None: the roots
        of this process's environment (``common/settings.py``). Roots of stores outside the
        grants are dropped, so they are never even held.

        ``catalog`` selects the backend of the big tables (``common/tables.py``): by default the
        one this process's environment names (``ARTIFICIAL_DATA_STORE_BACKEND``), None for
        folders, or explicit catalog settings.
        """
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
        if home is None:
            from artificial_data.common.settings import load_settings

            given: Mapping[str, Path | str] = load_settings().store_roots
        elif isinstance(home, Mapping):
            given = home
        else:
            given = store_roots_under(home)
        unknown = sorted(set(given) - set(STORE_NAMES))
        if unknown:
            raise ValueError(f"unknown store {unknown[0]!r}; expected one of {STORE_NAMES}")
        granted = wanted.read | wanted.write
        roots = {s: _anchored(r) for s, r in given.items() if s in granted}
        if catalog == "environment":
            from artificial_data.common.settings import load_catalog_settings

            catalog = load_catalog_settings()
        elif isinstance(catalog, str):
            raise ValueError(f"catalog must be CatalogSettings or None, not {catalog!r}")
        return cls(location=location, roots=roots, grants=wanted, catalog=catalog)

    @property
    def tables(self) -> TableStore:
        """The big tables of the granted stores, in this process's backend (same grants)."""
        from artificial_data.common.tables import tables_for

        return tables_for(self)

    def check(self, store: str, obj: str, action: str) -> None:
        """Refuse ``action`` ("read" or "write") on ``obj`` of ``store`` outside the grants, or
        an object name that is not plain; the check every backend makes before any I/O."""
        allowed = self.grants.read if action == "read" else self.grants.write
        if store not in STORE_NAMES:
            raise ValueError(f"unknown store {store!r}; expected one of {STORE_NAMES}")
        if store not in allowed:
            raise ScopeViolation(self.location, store, obj, action)
        segments = obj.split("/")
        if not segments or not all(_SEGMENT.match(s) for s in segments):
            raise self._refuse(store, obj, action, "object names are plain relative names")

    # ---------------------------------------------------------------------------- confinement

    def _refuse(self, store: str, obj: str, action: str, reason: str) -> ScopeViolation:
        return ScopeViolation(self.location, store, obj, action, reason)

    def _root(self, store: str, obj: str, action: str) -> Path:
        """The root of ``store`` after the grant and object-name checks."""
        self.check(store, obj, action)
        if store not in self.roots:
            raise StoreNotConfigured(self.location, store)
        return self.roots[store]

    def _locate(
        self, store: str, obj: str, action: str, link_ok: bool = False, extra: tuple[str, ...] = ()
    ) -> tuple[Path, os.stat_result | None]:
        """The path of ``obj`` in ``store`` and its ``lstat`` (None if it does not exist).

        Walks from the root down, one component at a time, without following links: the root
        and every folder on the way must be real folders. Only the last component may be a link,
        and only when ``link_ok`` (the caller then checks that it is a partition's swap link).
        ``extra`` are further components this class names itself (``.versions/...``).
        """
        root = self._root(store, obj, action)
        parts = [*obj.split("/"), *extra]
        path, st = root, _lstat(root)
        if st is None:
            return root.joinpath(*parts), None
        if stat.S_ISLNK(st.st_mode):
            raise self._refuse(store, obj, action, "the store root is a symbolic link")
        if not stat.S_ISDIR(st.st_mode):
            raise self._refuse(store, obj, action, "the store root is not a folder")
        for i, part in enumerate(parts):
            path = path / part
            st = _lstat(path)
            if st is None:
                return root.joinpath(*parts), None
            last = i == len(parts) - 1
            if stat.S_ISLNK(st.st_mode) and not (last and link_ok):
                where = "/".join(parts[: i + 1])
                raise self._refuse(store, obj, action, f"'{where}' is a symbolic link")
            if not last and not stat.S_ISDIR(st.st_mode):
                where = "/".join(parts[: i + 1])
                raise self._refuse(store, obj, action, f"'{where}' is not a folder")
        return path, st

    def _folder(self, store: str, obj: str, action: str) -> Path | None:
        """The real folder ``obj`` of ``store``, or None if it does not exist."""
        path, st = self._locate(store, obj, action)
        if st is None:
            return None
        if not stat.S_ISDIR(st.st_mode):
            raise self._refuse(store, obj, action, "not a folder")
        return path

    def _make_folders(self, store: str, obj: str, extra: tuple[str, ...] = ()) -> Path:
        """Create the root and the folders of ``obj`` as real folders, checking each one."""
        root = self._root(store, obj, "write")
        self._locate(store, obj, "write", extra=extra)  # refuse links before creating anything
        if _lstat(root) is None:
            root.mkdir(parents=True, exist_ok=True)
        path = root
        for part in [*obj.split("/"), *extra]:
            path = path / part
            if _lstat(path) is None:
                path.mkdir(exist_ok=True)
        path, st = self._locate(store, obj, "write", extra=extra)
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise self._refuse(store, obj, "write", "could not create the folder")
        return path

    def _version_of(self, store: str, obj: str, partition: str, action: str) -> Path | None:
        """The real folder holding partition ``partition`` of ``obj``, or None if it has none.

        The partition entry is either a real folder (an older layout) or a swap link of exactly
        the form this class writes; anything else is refused.
        """
        name = f"{obj}/{partition}"
        path, st = self._locate(store, name, action, link_ok=True)
        if st is None:
            return None
        if stat.S_ISDIR(st.st_mode):
            return path
        if not stat.S_ISLNK(st.st_mode):
            raise self._refuse(store, name, action, "a partition must be a folder")
        target = os.readlink(path)
        expected = rf"{re.escape(VERSIONS)}/{re.escape(partition)}-[0-9a-f]{{32}}"
        if not re.fullmatch(expected, target):
            raise self._refuse(
                store, name, action, "the partition link does not point at one of its own versions"
            )
        version, vst = self._locate(store, obj, action, extra=tuple(target.split("/")))
        if vst is None:
            return None
        if not stat.S_ISDIR(vst.st_mode):
            raise self._refuse(store, name, action, "the partition version is not a folder")
        return version

    def _confine_tree(self, store: str, obj: str, action: str, top: Path) -> None:
        """Refuse links, hard links and special files anywhere under ``top``."""
        root = self.roots[store].resolve()

        def check(path: str, st: os.stat_result) -> None:
            where = os.path.relpath(path, top)
            if stat.S_ISLNK(st.st_mode):
                raise self._refuse(store, obj, action, f"'{where}' is a symbolic link")
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                raise self._refuse(store, obj, action, f"'{where}' is a hard link")
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise self._refuse(store, obj, action, f"'{where}' is not a regular file")

        def fail(exc: OSError) -> None:
            raise exc

        for folder, dirs, files in os.walk(top, onerror=fail):
            for name in dirs + files:
                entry = os.path.join(folder, name)
                check(entry, os.lstat(entry))
        resolved = top.resolve()
        if resolved != root and root not in resolved.parents:
            raise self._refuse(store, obj, action, "path leaves the store")

    def _checked_file(self, store: str, obj: str, path: Path, action: str) -> None:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise self._refuse(store, obj, action, f"'{path.name}' is a symbolic link")
        if not stat.S_ISREG(st.st_mode):
            raise self._refuse(store, obj, action, f"'{path.name}' is not a regular file")
        if st.st_nlink > 1:
            raise self._refuse(store, obj, action, f"'{path.name}' is a hard link")

    # ---------------------------------------------------------------------------------- reads

    def partition_path(self, store: str, obj: str, partition: str) -> Path:
        """The real folder of one partition, checked down to every file in it.

        Raises :class:`PartitionMissing` if absent and :class:`ScopeViolation` if anything in it
        is a link (other than the partition's own swap link), a hard link or a special file.
        The path returned is the version folder itself, so a concurrent rewrite of the
        partition cannot switch a reader from one version to another half-way.
        """
        version = self._version_of(store, obj, partition, "read")
        if version is None:
            raise PartitionMissing(store, obj, partition)
        self._confine_tree(store, f"{obj}/{partition}", "read", version)
        return version

    def has_partition(self, store: str, obj: str, partition: str) -> bool:
        return self._version_of(store, obj, partition, "read") is not None

    def partitions(self, store: str, obj: str) -> list[str]:
        folder = self._folder(store, obj, "read")
        if folder is None:
            return []
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    # --------------------------------------------------------------------------------- writes

    def write_partition(
        self, store: str, obj: str, partition: str, writer: Callable[[Path], None]
    ) -> Path:
        """Atomically (re)place one partition with what ``writer`` writes into a fresh folder.

        ``writer`` gets a folder path that does not exist yet (Spark insists on creating it
        itself) and must create it. If it raises, the previous partition stays as it was.
        """
        name = f"{obj}/{partition}"
        self._locate(store, name, "write", link_ok=True)  # grants, names, no links on the way
        self._version_of(store, obj, partition, "write")  # refuse a forged link before writing
        folder = self._make_folders(store, obj)
        self._make_folders(store, obj, extra=(VERSIONS,))
        target = folder / partition
        version = folder / VERSIONS / f"{partition}-{uuid.uuid4().hex}"
        try:
            writer(version)
            if _lstat(version) is None or not stat.S_ISDIR(_lstat(version).st_mode):
                raise RuntimeError(f"writer for {store}/{name} created no folder")
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        previous = self._version_of(store, obj, partition, "write")  # as it is now
        if previous is not None and previous == target:
            # A plain folder from an older layout: move it aside so the swap stays atomic.
            previous = folder / VERSIONS / f"{partition}-legacy-{uuid.uuid4().hex}"
            target.rename(previous)
        link = folder / f".{partition}{_LINK_PREFIX}{uuid.uuid4().hex}"
        os.symlink(f"{VERSIONS}/{version.name}", link)
        os.replace(link, target)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        self._remove_orphans(folder)
        return target

    def _remove_orphans(self, folder: Path) -> None:
        """Remove versions no partition link names and stale temporary links, once they are
        older than the grace period (a younger one may be a write in progress)."""
        live = set()
        for entry in os.scandir(folder):
            if entry.is_symlink() and not entry.name.startswith("."):
                target = os.readlink(entry.path)
                if target.startswith(f"{VERSIONS}/"):
                    live.add(target.removeprefix(f"{VERSIONS}/"))
        cutoff = time.time() - self.orphan_grace
        for entry in os.scandir(folder / VERSIONS):
            st = entry.stat(follow_symlinks=False)
            if entry.name in live or st.st_mtime > cutoff:
                continue
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        for entry in os.scandir(folder):
            if (
                entry.name.startswith(".")
                and _LINK_PREFIX in entry.name
                and entry.is_symlink()
                and entry.stat(follow_symlinks=False).st_mtime <= cutoff
            ):
                os.unlink(entry.path)

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
        folder = self._make_folders(store, obj)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{stamp}-{uuid.uuid4().hex[:12]}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, indent=2, sort_keys=True)
        return path

    def create_record(self, store: str, obj: str, name: str, record: dict[str, Any]) -> Path:
        """Create the record ``obj/name.json`` once; :class:`FileExistsError` if it exists.

        The exclusive create (O_EXCL) is what makes a named record a claim: of two writers of
        the same name exactly one succeeds, and the other's record is never written. The file is
        read-only (0444) and never replaced or removed by this class.
        """
        if not _SEGMENT.match(name):
            raise self._refuse(store, f"{obj}/{name}", "write", "record names are plain names")
        folder = self._make_folders(store, obj)
        path = folder / f"{name}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, indent=2, sort_keys=True)
            fh.write("\n")
        return path

    def write_folder_once(
        self,
        store: str,
        obj: str,
        name: str,
        writer: Callable[[Path], None],
        commit: Callable[[Path], None] | None = None,
    ) -> Path:
        """Write the folder ``obj/name`` once, never replacing anything of that name.

        ``writer`` fills a fresh hidden folder inside ``obj``; then ``commit`` (if given) is
        called with it, e.g. to claim the name by creating a record exclusively; then the folder
        is renamed onto ``obj/name``. If ``obj/name`` exists, or ``writer`` or ``commit`` raises
        (:class:`FileExistsError` for a lost claim), the hidden folder is removed and nothing
        else is touched. The result is a plain folder, readable with :meth:`partition_path`.
        """
        entry = f"{obj}/{name}"
        self._locate(store, entry, "write")  # grants, names, no links on the way
        folder = self._make_folders(store, obj)
        target = folder / name
        building = folder / f".{name}.building-{uuid.uuid4().hex}"
        try:
            if _lstat(target) is not None:
                raise FileExistsError(f"{store}/{entry} exists and is never replaced")
            writer(building)
            if _lstat(building) is None or not stat.S_ISDIR(_lstat(building).st_mode):
                raise RuntimeError(f"writer for {store}/{entry} created no folder")
            if commit is not None:
                commit(building)
            if _lstat(target) is not None:
                raise FileExistsError(f"{store}/{entry} exists and is never replaced")
            # rename(2) onto a non-empty folder fails; the claim above keeps out any other
            # writer of this name, so nothing can appear between the check and the rename.
            try:
                os.rename(building, target)
            except OSError as exc:
                raise FileExistsError(f"{store}/{entry} appeared while it was written") from exc
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return target

    def secret(self, store: str, obj: str, create: Callable[[], bytes]) -> bytes:
        """A secret kept in ``store`` (e.g. a key), created with ``create`` on first use.

        Reading needs the read grant; creating it also needs the write grant, so a location
        that may only read the store gets an error until a location that may write it ran.
        The file is created with O_EXCL and mode 0640 (the store root's group holds the
        locations that may read the store) and is never a link.
        """
        path, st = self._locate(store, obj, "read")
        if st is None:
            *parents, name = obj.split("/")
            self._root(store, obj, "write")
            if parents:
                path = self._make_folders(store, "/".join(parents)) / name
            else:
                self.roots[store].mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
            except FileExistsError:
                pass  # another process created it first: read theirs
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(create())
        self._checked_file(store, obj, path, "read")
        return _read_nofollow(path)

    def read_records(self, store: str, obj: str) -> list[dict[str, Any]]:
        """All records of an append-only log, oldest first."""
        folder = self._folder(store, obj, "read")
        if folder is None:
            return []
        records = []
        for path in sorted(folder.glob("*.json")):
            self._checked_file(store, obj, path, "read")
            records.append(json.loads(_read_nofollow(path)))
        return records


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _read_nofollow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()
