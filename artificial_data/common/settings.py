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
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from artificial_data.common.stores import STORE_NAMES

HOME_ENV = "ARTIFICIAL_DATA_HOME"
ENVIRONMENT_ENV = "ARTIFICIAL_DATA_ENV"
SPARK_MASTER_ENV = "ARTIFICIAL_DATA_SPARK_MASTER"
STORE_ENV_PREFIX = "ARTIFICIAL_DATA_STORE_"
DEFAULT_HOME = ".artificial_data"

#: Environments in which the stand-in raw data simulator may be wired in.
SIMULATED_ENVIRONMENTS = frozenset({"local", "demo", "test"})


def store_root_env(store: str) -> str:
    """The environment variable naming the root of ``store``, e.g. ``ARTIFICIAL_DATA_STORE_RAW``."""
    if store not in STORE_NAMES:
        raise ValueError(f"unknown store {store!r}; expected one of {STORE_NAMES}")
    return STORE_ENV_PREFIX + store.upper()


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
        home=home, environment=environment, spark_master=spark_master, store_roots=roots
    )
