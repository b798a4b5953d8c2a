"""The big tables of the stores, behind one interface with two backends (DESIGN §11).

The big objects are the raw extracts (``raw/<dataset>``), the metadata rows
(``metadata_sensitive/<dataset>``, ``metadata_released/<dataset>``) and the artificial tables
(``artificial/<dataset>``), one partition per financial year. Each partition carries a few small
*attachments* that must change together with its rows: the metadata header and its content hash,
the signed statements of a release, the generation provenance, the simulator's marker. Stages
reach them through ``ScopedStores.tables``, a :class:`TableStore` with the same grants:

- :class:`FolderTables` (the default): a partition is a folder of the store, swapped in
  atomically by ``ScopedStores.write_partition``; the rows are Parquet files in it and each
  attachment is a file next to them, exactly the layout the stores always had.
- :class:`CatalogTables` (``ARTIFICIAL_DATA_STORE_BACKEND=catalog``): each table store
  (:data:`TABLE_STORES`: raw, metadata_sensitive, metadata_released, artificial) is a catalog
  schema ``<catalog>.<prefix><store>`` and each object a table partitioned by the column
  ``financial_year``; the attachments are one JSON column, so they are written by the same
  statement that replaces the rows. On local Spark the tables are external Parquet tables
  registered in the session's own catalog, their files under ``<store root>/_tables/<object>``
  (so the operating system's modes on each store root still apply), and a partition is replaced
  by a dynamic partition overwrite: Spark writes the new rows into a staging folder and swaps
  only the partitions written, so a failed write leaves the old partition and the other years
  as they were. On Databricks (``ARTIFICIAL_DATA_CATALOG_FORMAT=delta``) they are managed Delta
  tables in Unity Catalog, replaced with ``replaceWhere`` in one transaction.

Every call checks the grants (``ScopedStores.check``) before Spark is touched, and a store
object only knows the schemas of its granted stores: the generator's cannot even name
``artificial_data_raw``.

The small objects (JSON partitions, append-only records, secrets, review packs, QA reports, the
admin store's signed metadata snapshots, published zips) stay files in the store roots on both
backends: they are written once, read whole, need ``O_EXCL`` creation (records, secrets) or are
handed to people as files (zips); on Databricks those roots are Unity Catalog volumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import shutil
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from artificial_data.common.settings import CatalogSettings
from artificial_data.common.stores import (
    ARTIFICIAL,
    METADATA_RELEASED,
    METADATA_SENSITIVE,
    RAW,
    PartitionMissing,
    ScopedStores,
    ScopeViolation,
)

#: The partition column of every catalog table: the financial year, as in HES (``2223``).
PARTITION_COLUMN = "financial_year"
#: The JSON column holding a partition's attachments (name -> text), constant per partition.
ATTACHMENTS_COLUMN = "_attachments"
#: Where local catalog tables keep their files, inside each store's root (never an object name:
#: object names start with a letter or digit).
TABLES_FOLDER = "_tables"
STAGING_FOLDER = "_staging"
#: Lock file in a local table's folder held while a partition is replaced.
WRITE_LOCK = "_write.lock"
DEFAULT_FILE = "part-00000.parquet"
#: The stores whose table objects are catalog tables on the catalog backend. The admin store's
#: objects (the signed metadata snapshot, keyed by content hash rather than by year, and the
#: review packs) and the published store's zips stay files on both backends.
TABLE_STORES = frozenset({RAW, METADATA_SENSITIVE, METADATA_RELEASED, ARTIFICIAL})

#: What a table partition may be written from: a Spark DataFrame, an Arrow table, or a function
#: that writes Parquet files into a folder it creates (for data too big for one Arrow table).
Data = Any
Attachments = Mapping[str, bytes | str] | Callable[[], Mapping[str, bytes | str]] | None

_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Files of a folder partition that are data or Spark's bookkeeping, not attachments.
_NOT_ATTACHMENTS = re.compile(r"(\.parquet|\.crc)$|^_SUCCESS$")


def _settle(session, timeout_s: float = 30.0) -> None:
    """Wait (bounded) until no Spark job is active: after a failed write, the job's other
    tasks may still be writing into its staging folder for a moment after the driver raised."""
    try:
        tracker = session.sparkContext.statusTracker()
    except Exception:  # Spark Connect has no SparkContext
        return
    deadline = time.monotonic() + timeout_s
    while tracker.getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.2)


def _remove_new_staging(
    files: Path, before: set[Path], quiet_s: float = 1.0, timeout_s: float = 15.0
) -> None:
    """Remove the staging folders a failed write left in ``files`` (those not in ``before``)
    until none has appeared for ``quiet_s``: a task cancelled with its job can still create
    its folder after Spark reports the job over (seen in CI once), so one pass is not enough.
    Bounded by ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while True:
        left = set(files.glob(".spark-staging-*")) - before
        for path in left:
            shutil.rmtree(path, ignore_errors=True)
        now = time.monotonic()
        if left:
            quiet_since = now
        if now - quiet_since >= quiet_s or now >= deadline:
            return
        time.sleep(0.1)


class TableSchemaChanged(ValueError):
    """A write whose columns differ from the catalog table's (fail closed, never cast)."""


@dataclass
class TablePartition:
    """One partition as read: its location, its attachments, and its rows on demand."""

    store: str
    obj: str
    partition: str
    location: Path | str
    attachments: dict[str, bytes]
    _arrow: Callable[[], pa.Table]
    _spark: Callable[[Any], Any]
    _staged: Callable[[], contextlib.AbstractContextManager[Path]]

    def arrow(self) -> pa.Table:
        return self._arrow()

    def spark(self, session: Any) -> Any:
        return self._spark(session)

    def staged(self) -> contextlib.AbstractContextManager[Path]:
        """A fresh folder path (not yet created) that Spark can write and this process read,
        removed afterwards: where a catalog partition is exported as Parquet to be read in
        batches (QA, publication). Its table store decides where (:meth:`TableStore.staged`).
        """
        return self._staged()

    def batches(
        self, columns: Sequence[str] | None = None, batch_rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The rows in record batches of at most ``batch_rows`` rows, only ``columns`` if
        given, never the whole partition at once (on either backend).

        A folder partition's Parquet files are read where they are; a catalog partition is
        first written by Spark into :meth:`staged` (removed afterwards), the way publication
        reads it (``common/table_rows.partition_rows``)."""
        from artificial_data.common.table_rows import BATCH_ROWS, partition_rows

        rows = batch_rows or BATCH_ROWS
        if isinstance(self.location, Path):
            yield from partition_rows(self, self.location).batches(rows, columns)
            return
        with self.staged() as staging:
            yield from partition_rows(self, staging).batches(rows, columns)


@contextlib.contextmanager
def _temporary_folder(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        yield Path(folder) / "rows"


def _resolve_attachments(attachments: Attachments) -> dict[str, bytes]:
    given = attachments() if callable(attachments) else (attachments or {})
    out = {}
    for name, content in given.items():
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"attachment name {name!r} must be a plain relative path")
        out[name] = content.encode() if isinstance(content, str) else bytes(content)
    return out


def _is_spark_frame(data: Any) -> bool:
    return hasattr(data, "sparkSession") and hasattr(data, "write")


class TableStore(ABC):
    """The big tables of one location's granted stores (see the module docstring)."""

    backend: str = ""

    def __init__(self, scoped: ScopedStores):
        self.scoped = scoped

    @abstractmethod
    def write(
        self,
        store: str,
        obj: str,
        partition: str,
        data: Data,
        attachments: Attachments = None,
        file_name: str = DEFAULT_FILE,
    ) -> Path | str:
        """Replace one partition with ``data`` and its ``attachments``, atomically; returns
        where it is (a folder, or ``catalog.schema.table/financial_year=...``)."""

    @abstractmethod
    def read(self, store: str, obj: str, partition: str) -> TablePartition:
        """One partition; :class:`PartitionMissing` if it was never written."""

    @abstractmethod
    def partitions(self, store: str, obj: str) -> list[str]: ...

    def has_partition(self, store: str, obj: str, partition: str) -> bool:
        self.scoped.check(store, f"{obj}/{partition}", "read")
        return partition in self.partitions(store, obj)

    def attachment(self, store: str, obj: str, partition: str, name: str) -> bytes | None:
        """One attachment of a partition, or None if the partition or the attachment is absent."""
        if not self.has_partition(store, obj, partition):
            return None
        return self.read(store, obj, partition).attachments.get(name)


class FolderTables(TableStore):
    """Tables as Parquet folders in the store roots (the default backend)."""

    backend = "folders"

    def write(self, store, obj, partition, data, attachments=None, file_name=DEFAULT_FILE):
        def writer(folder: Path) -> None:
            if _is_spark_frame(data):
                data.write.parquet(str(folder))
            elif isinstance(data, pa.Table):
                folder.mkdir(parents=True)
                pq.write_table(data, folder / file_name)
            else:
                data(folder)
            for name, content in _resolve_attachments(attachments).items():
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)

        return self.scoped.write_partition(store, obj, partition, writer)

    def read(self, store, obj, partition):
        version = self.scoped.partition_path(store, obj, partition)  # confined, pinned
        data_files = sorted(str(p) for p in version.glob("*.parquet"))
        attachments = {
            str(p.relative_to(version)): p.read_bytes()
            for p in sorted(version.rglob("*"))
            if p.is_file() and not _NOT_ATTACHMENTS.search(p.name)
        }
        return TablePartition(
            store,
            obj,
            partition,
            version,
            attachments,
            _arrow=lambda: pq.read_table(data_files) if data_files else pa.table({}),
            _spark=lambda session: session.read.parquet(*data_files),
            # Read in place: a staged copy is only ever a local one (tests of the export).
            _staged=lambda: _temporary_folder(f"{obj}-{partition}-"),
        )

    def partitions(self, store, obj):
        return self.scoped.partitions(store, obj)

    def has_partition(self, store, obj, partition):
        return self.scoped.has_partition(store, obj, partition)


#: (Spark application, table) -> location of the external table registered in that session.
_REGISTERED: dict[tuple[str, str], str] = {}


def _session_key(session: Any) -> str:
    try:
        return str(session.sparkContext.applicationId)
    except Exception:  # Spark Connect has no SparkContext
        return str(id(session))


class CatalogTables(TableStore):
    """Tables in a catalog, one schema per store (see the module docstring)."""

    backend = "catalog"

    def __init__(
        self,
        scoped: ScopedStores,
        settings: CatalogSettings,
        session_factory: Callable[[], Any] | None = None,
    ):
        super().__init__(scoped)
        self.settings = settings
        #: Only the granted stores' schemas: nothing else can be named through this object.
        self.schemas = {
            s: settings.schema(s) for s in sorted(scoped.grants.read | scoped.grants.write)
        }
        self._session_factory = session_factory

    # ------------------------------------------------------------------------------ naming

    def table_name(self, store: str, obj: str, action: str) -> str:
        """The quoted ``catalog.schema.table`` of ``obj``, after the grant check."""
        self.scoped.check(store, obj, action)
        if not _TABLE_NAME.match(obj):
            raise ScopeViolation(
                self.scoped.location, store, obj, action, "a catalog table name is one identifier"
            )
        return f"`{self.settings.catalog}`.`{self.schemas[store]}`.`{obj}`"

    def _session(self) -> Any:
        if self._session_factory is not None:
            return self._session_factory()
        from artificial_data.common.settings import load_settings
        from artificial_data.common.spark import get_spark

        return get_spark(load_settings().spark_master)

    @property
    def _local(self) -> bool:
        return self.settings.table_format == "parquet"

    def _files_of(self, store: str, obj: str, action: str) -> Path:
        """The folder of a local table's files, refusing links on the way (Spark follows
        them; the store's confinement must hold for its tables too)."""
        root = self.scoped._root(store, obj, action)
        path = root
        for part in ("", TABLES_FOLDER, obj):
            path = path / part if part else path
            if path.is_symlink():
                raise ScopeViolation(
                    self.scoped.location, store, obj, action, f"'{path}' is a symbolic link"
                )
        return path

    def _register(self, session: Any, store: str, obj: str, action: str, schema=None) -> bool:
        """Make the table of ``obj`` known to this session's catalog; True if it exists.

        Local Spark's built-in catalog lives as long as its session, so every process registers
        the external tables of its granted stores (from their files) when it first uses them,
        and recovers the partitions other processes wrote since. ``schema`` creates the table
        when it does not exist yet.
        """
        name = self.table_name(store, obj, action)
        if not self._local:
            return bool(session.catalog.tableExists(name.replace("`", "")))
        files = self._files_of(store, obj, action)
        key = (_session_key(session), name)
        if _REGISTERED.get(key) != str(files):
            schema_name = f"`{self.settings.catalog}`.`{self.schemas[store]}`"
            home = files.parent.as_posix()
            session.sql(f"CREATE NAMESPACE IF NOT EXISTS {schema_name} LOCATION '{home}'")
            plain = name.replace("`", "")
            if session.catalog.tableExists(plain):
                if session.catalog.getTable(plain).tableType != "EXTERNAL":
                    raise ScopeViolation(
                        self.scoped.location, store, obj, action, "not this store's table"
                    )
                session.sql(f"DROP TABLE {name}")  # external: only the registration goes
            _REGISTERED.pop(key, None)
            written = sorted(files.glob(f"{PARTITION_COLUMN}=*"))
            if written:
                # The columns as written (read from one partition's files, so the partition
                # column stays text rather than being inferred as a number).
                columns = [
                    (f.name, f.dataType.simpleString())
                    for f in session.read.parquet(written[0].as_posix()).schema
                ]
                columns.append((PARTITION_COLUMN, "string"))
            elif schema is not None:
                columns = [(f.name, f.dataType.simpleString()) for f in schema]
            else:
                return False
            listed = ", ".join(f"`{n}` {t}" for n, t in columns)
            session.sql(
                f"CREATE TABLE {name} ({listed}) USING parquet "
                f"PARTITIONED BY ({PARTITION_COLUMN}) LOCATION '{files.as_posix()}'"
            )
            _REGISTERED[key] = str(files)
        if files.is_dir():  # partitions other processes wrote since
            session.sql(f"ALTER TABLE {name} RECOVER PARTITIONS")
            session.sql(f"REFRESH TABLE {name}")
        return True

    def _where(self, partition: str) -> str:
        return f"{PARTITION_COLUMN} = '{partition}'"

    # -------------------------------------------------------------------------- interface

    def _files_only(self, store: str) -> FolderTables | None:
        return None if store in TABLE_STORES else FolderTables(self.scoped)

    def write(self, store, obj, partition, data, attachments=None, file_name=DEFAULT_FILE):
        if folders := self._files_only(store):
            return folders.write(store, obj, partition, data, attachments, file_name)
        name = self.table_name(store, obj, "write")
        self.scoped.check(store, f"{obj}/{partition}", "write")  # a plain partition value
        session = data.sparkSession if _is_spark_frame(data) else self._session()
        staging = None
        try:
            if _is_spark_frame(data):
                frame = data
            elif isinstance(data, pa.Table):
                if data.num_rows == 0:
                    raise ValueError(f"{name}: refusing to write an empty partition {partition}")
                frame = session.createDataFrame(data)
            else:
                staging = self._staging(store, obj)
                data(staging)
                frame = session.read.parquet(str(staging))
            for column in frame.columns:
                if column.lower() in (PARTITION_COLUMN, ATTACHMENTS_COLUMN):
                    raise TableSchemaChanged(f"{name}: column {column} is reserved")
            if frame.isEmpty():
                # A dynamic overwrite of nothing would silently keep the old partition.
                raise ValueError(f"{name}: refusing to write an empty partition {partition}")
            from pyspark.sql import functions as F

            text = json.dumps(
                {k: v.decode() for k, v in _resolve_attachments(attachments).items()},
                sort_keys=True,
            )
            out = frame.withColumn(ATTACHMENTS_COLUMN, F.lit(text)).withColumn(
                PARTITION_COLUMN, F.lit(partition)
            )
            if self._local:
                self._register(session, store, obj, "write", schema=out.schema)
                table = session.table(name)
                wanted = [(f.name, f.dataType) for f in out.schema]
                have = [(f.name, f.dataType) for f in table.schema]
                if sorted(map(str, wanted)) != sorted(map(str, have)):
                    raise TableSchemaChanged(
                        f"{name}: the partition's columns differ from the table's; drop or "
                        "migrate the table first (nothing is cast silently)"
                    )
                files = self._files_of(store, obj, "write")
                files.mkdir(parents=True, exist_ok=True)
                # One writer per local table at a time (an exclusive lock on a file in its
                # folder): two dynamic overwrites of one table share its staging area.
                with open(files / WRITE_LOCK, "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    before = set(files.glob(".spark-staging-*"))
                    try:
                        out.select(*table.columns).write.mode("overwrite").option(
                            "partitionOverwriteMode", "dynamic"
                        ).insertInto(name)
                    except Exception:
                        # Spark leaves its job's staging folder behind when a task fails (not
                        # always: it depends on which task fails when). The old partition is
                        # untouched; under the lock, what appeared is this write's: remove it.
                        _settle(session)
                        _remove_new_staging(files, before)
                        raise
            else:
                out.write.format("delta").mode("overwrite").option(
                    "replaceWhere", self._where(partition)
                ).partitionBy(PARTITION_COLUMN).saveAsTable(name.replace("`", ""))
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        return f"{self.settings.catalog}.{self.schemas[store]}.{obj}/{PARTITION_COLUMN}={partition}"

    @contextlib.contextmanager
    def _staged_export(self, store: str, obj: str) -> Iterator[Path]:
        """A fresh folder in the store's own root (``_tables/_staging``), removed after, where
        a partition is exported as Parquet to be read in batches.

        In the store's root on both formats: locally beside the tables' files, on Databricks in
        the store's volume, which the executors and the driver both reach and only the
        locations granted this store can open. Never the driver's temporary folder (a
        cluster's executors cannot write it) nor a folder shared with another scope.
        """
        base = self.scoped._root(store, obj, "read") / TABLES_FOLDER / STAGING_FOLDER
        for part in (base.parent, base):
            if part.is_symlink():
                raise ScopeViolation(
                    self.scoped.location, store, obj, "read", f"'{part}' is a symbolic link"
                )
        base.mkdir(parents=True, exist_ok=True)
        folder = base / f"{obj}-{uuid.uuid4().hex}"
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _staging(self, store: str, obj: str) -> Path:
        """A fresh folder for a file-producing writer (the writer creates it)."""
        if self._local:
            base = self._files_of(store, obj, "write").parent / STAGING_FOLDER
        elif self.settings.staging is not None:
            base = self.settings.staging
        else:
            raise ValueError(
                "a file-producing writer needs ARTIFICIAL_DATA_CATALOG_STAGING with the delta "
                "catalog format (a folder Spark can read)"
            )
        base.mkdir(parents=True, exist_ok=True)
        return base / f"{obj}-{uuid.uuid4().hex}"

    def read(self, store, obj, partition):
        if folders := self._files_only(store):
            return folders.read(store, obj, partition)
        name = self.table_name(store, obj, "read")
        self.scoped.check(store, f"{obj}/{partition}", "read")
        session = self._session()
        if not self._register(session, store, obj, "read") or partition not in self._listed(
            session, name
        ):
            raise PartitionMissing(store, obj, partition)
        from pyspark.sql import functions as F

        def rows(s: Any) -> Any:
            return (
                s.table(name)
                .where(F.col(PARTITION_COLUMN) == partition)
                .drop(PARTITION_COLUMN, ATTACHMENTS_COLUMN)
            )

        first = (
            session.table(name)
            .where(F.col(PARTITION_COLUMN) == partition)
            .select(ATTACHMENTS_COLUMN)
            .limit(1)
            .collect()
        )
        if not first:
            raise PartitionMissing(store, obj, partition)
        attachments = {k: v.encode() for k, v in json.loads(first[0][0] or "{}").items()}
        location = f"{self.settings.catalog}.{self.schemas[store]}.{obj}"
        return TablePartition(
            store,
            obj,
            partition,
            f"{location}/{PARTITION_COLUMN}={partition}",
            attachments,
            _arrow=lambda: rows(session).toArrow(),
            _spark=rows,
            _staged=lambda: self._staged_export(store, obj),
        )

    def _listed(self, session: Any, name: str) -> list[str]:
        found = []
        for row in session.sql(f"SHOW PARTITIONS {name}").collect():
            key, _, value = str(row[0]).partition("=")
            if key == PARTITION_COLUMN:
                found.append(value)
        return sorted(found)

    def partitions(self, store, obj):
        if folders := self._files_only(store):
            return folders.partitions(store, obj)
        name = self.table_name(store, obj, "read")
        session = self._session()
        if not self._register(session, store, obj, "read"):
            return []
        return self._listed(session, name)


def tables_for(scoped: ScopedStores) -> TableStore:
    """The table store of ``scoped``'s backend (chosen by ``scoped.catalog``)."""
    if scoped.catalog is None:
        return FolderTables(scoped)
    return CatalogTables(scoped, scoped.catalog)
