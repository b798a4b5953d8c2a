"""Process-level settings, read from the environment of the code location's process.

Why the environment and not Dagster config: run config can be edited by anyone with access to
the Launchpad, so nothing that decides *where* data lives or *which* stores a process may touch
is taken from run config. Each code location's process gets its settings from the environment
that ``workspace.yaml`` (or the deployment) starts it with.

Where the stores live:

- ``ARTIFICIAL_DATA_STORE_<STORE>`` (``ARTIFICIAL_DATA_STORE_RAW``,
  ``ARTIFICIAL_DATA_STORE_METADATA_RELEASED``, ...) names the root folder of one store. The
  isolated deployment gives each code location's process only the roots of the stores it is
  granted, so the generator's process is never told where raw data or unreleased metadata is.
- ``ARTIFICIAL_DATA_HOME`` is the single-user default: every store not named by its own variable
  is the folder ``$ARTIFICIAL_DATA_HOME/<store>``. When neither it nor any store variable is
  set, the home is ``./.artificial_data``. When only store variables are set, only those stores
  exist for this process.

Which backend holds the big tables (raw extracts, metadata rows, artificial tables), see
``common/tables.py``:

- ``ARTIFICIAL_DATA_STORE_BACKEND`` is ``folders`` (the default: Parquet folders in the store
  roots, as above) or ``catalog`` (one catalog schema per store).
- ``ARTIFICIAL_DATA_CATALOG`` names the catalog (default ``spark_catalog``, local Spark's own;
  on Databricks the Unity Catalog, e.g. ``main``).
- ``ARTIFICIAL_DATA_CATALOG_FORMAT`` is ``parquet`` (default: external Parquet tables whose files
  live in ``<store root>/_tables``, registered in this session's catalog) or ``delta`` (managed
  Delta tables, Unity Catalog).
- ``ARTIFICIAL_DATA_SCHEMA_PREFIX`` (default ``artificial_data_``) gives each store's schema,
  ``<prefix><store>``: ``artificial_data_raw``, ``artificial_data_metadata_released``, ...
  There is no per-store schema setting: a schema name is always derived from the store, so a
  process's settings cannot point one granted store at another scope's schema.
- ``ARTIFICIAL_DATA_CATALOG_STAGING`` (``delta`` only) is a folder Spark can read where a
  file-producing writer (the simulator) stages Parquet before it is loaded into its table.

When the scraper's schedules fire (``scraper/definitions.py``):

- ``ARTIFICIAL_DATA_SCRAPE_CRON`` is the cron of every ``monthly_scrape_<dataset>`` schedule
  (default ``0 2 5 * *``: 02:00 on the 5th of each month, Europe/London). A deployment may move
  it; the daemon test sets ``* * * * *``. It is read when the location loads, so a change needs
  the location reloaded.

Small objects (JSON records, review packs, QA reports, secrets, published zips) stay files in
the store roots on both backends; on Databricks those roots are Unity Catalog volumes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from artificial_data.common.stores import STORE_NAMES

HOME_ENV = "ARTIFICIAL_DATA_HOME"
ENVIRONMENT_ENV = "ARTIFICIAL_DATA_ENV"
SPARK_MASTER_ENV = "ARTIFICIAL_DATA_SPARK_MASTER"
STORE_ENV_PREFIX = "ARTIFICIAL_DATA_STORE_"
DEFAULT_HOME = ".artificial_data"
BACKEND_ENV = "ARTIFICIAL_DATA_STORE_BACKEND"
CATALOG_ENV = "ARTIFICIAL_DATA_CATALOG"
CATALOG_FORMAT_ENV = "ARTIFICIAL_DATA_CATALOG_FORMAT"
SCHEMA_PREFIX_ENV = "ARTIFICIAL_DATA_SCHEMA_PREFIX"
CATALOG_STAGING_ENV = "ARTIFICIAL_DATA_CATALOG_STAGING"
SCRAPE_CRON_ENV = "ARTIFICIAL_DATA_SCRAPE_CRON"
#: HES is refreshed monthly in-year: scrape at 02:00 on the 5th of each month.
DEFAULT_SCRAPE_CRON = "0 2 5 * *"
FOLDERS = "folders"
CATALOG = "catalog"
BACKENDS = (FOLDERS, CATALOG)
CATALOG_FORMATS = ("parquet", "delta")
DEFAULT_CATALOG = "spark_catalog"
DEFAULT_SCHEMA_PREFIX = "artificial_data_"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Environments in which the stand-in raw data simulator may be wired in.
SIMULATED_ENVIRONMENTS = frozenset({"local", "demo", "test"})


def store_root_env(store: str) -> str:
    """The environment variable naming the root of ``store``, e.g. ``ARTIFICIAL_DATA_STORE_RAW``."""
    if store not in STORE_NAMES:
        raise ValueError(f"unknown store {store!r}; expected one of {STORE_NAMES}")
    return STORE_ENV_PREFIX + store.upper()


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} must be a plain identifier (letters, digits, _), not {value!r}")
    return value


@dataclass(frozen=True)
class CatalogSettings:
    """Where the catalog backend keeps the tables (see the module docstring)."""

    catalog: str = DEFAULT_CATALOG
    table_format: str = "parquet"
    schema_prefix: str = DEFAULT_SCHEMA_PREFIX
    staging: Path | None = None

    def __post_init__(self) -> None:
        _identifier(self.catalog, "the catalog name")
        _identifier(self.schema_prefix, "the schema prefix")
        if self.table_format not in CATALOG_FORMATS:
            raise ValueError(
                f"unknown catalog table format {self.table_format!r}; expected {CATALOG_FORMATS}"
            )

    def schema(self, store: str) -> str:
        """The schema of ``store``: ``<prefix><store>``, e.g. ``artificial_data_raw``."""
        if store not in STORE_NAMES:
            raise ValueError(f"unknown store {store!r}; expected one of {STORE_NAMES}")
        return self.schema_prefix + store


@dataclass(frozen=True)
class Settings:
    """Settings for one process. Build with :func:`load_settings`."""

    #: The single-user home deriving every store root, or None when only explicit store roots
    #: were given (the isolated deployment).
    home: Path | None
    environment: str
    spark_master: str
    #: The root folder of each store this process knows about; stores not listed do not exist
    #: for this process.
    store_roots: Mapping[str, Path] = field(default_factory=dict)
    #: None for the folder backend; where the tables live for the catalog backend.
    catalog: CatalogSettings | None = None
    #: The cron of the scrape schedules.
    scrape_cron: str = DEFAULT_SCRAPE_CRON

    @property
    def uses_simulated_raw(self) -> bool:
        """True where raw HES is the simulator's stand-in data rather than an external table."""
        return self.environment in SIMULATED_ENVIRONMENTS


def _absolute(value: str) -> Path:
    return Path(value).expanduser().absolute()


def load_settings() -> Settings:
    """Read the settings of this process from its environment."""
    explicit = {
        store: _absolute(os.environ[store_root_env(store)])
        for store in STORE_NAMES
        if os.environ.get(store_root_env(store))
    }
    home_value = os.environ.get(HOME_ENV)
    home = None
    roots = explicit
    if home_value or not explicit:
        home = _absolute(home_value or DEFAULT_HOME).resolve()
        roots = {store: home / store for store in STORE_NAMES} | explicit
    environment = (os.environ.get(ENVIRONMENT_ENV) or "local").strip().lower()
    spark_master = os.environ.get(SPARK_MASTER_ENV) or "local[2]"
    return Settings(
        home=home,
        environment=environment,
        spark_master=spark_master,
        store_roots=roots,
        catalog=load_catalog_settings(),
        scrape_cron=(os.environ.get(SCRAPE_CRON_ENV) or DEFAULT_SCRAPE_CRON).strip(),
    )


def load_catalog_settings() -> CatalogSettings | None:
    """The catalog backend's settings, or None when this process uses the folder backend."""
    backend = (os.environ.get(BACKEND_ENV) or FOLDERS).strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={backend!r}; expected one of {BACKENDS}")
    if backend == FOLDERS:
        return None
    staging = os.environ.get(CATALOG_STAGING_ENV)
    return CatalogSettings(
        catalog=(os.environ.get(CATALOG_ENV) or DEFAULT_CATALOG).strip(),
        table_format=(os.environ.get(CATALOG_FORMAT_ENV) or "parquet").strip().lower(),
        schema_prefix=(os.environ.get(SCHEMA_PREFIX_ENV) or DEFAULT_SCHEMA_PREFIX).strip(),
        staging=_absolute(staging) if staging else None,
    )
