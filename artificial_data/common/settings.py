"""Process-level settings, read from the environment of the code location's process.

Why the environment and not Dagster config: run config can be edited by anyone with access to
the Launchpad, so nothing that decides *where* data lives or *which* stores a process may touch
is taken from run config. Each code location's process gets its settings from the environment
that ``workspace.yaml`` (or the deployment) starts it with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "ARTIFICIAL_DATA_HOME"
ENVIRONMENT_ENV = "ARTIFICIAL_DATA_ENV"
SPARK_MASTER_ENV = "ARTIFICIAL_DATA_SPARK_MASTER"
DEFAULT_HOME = ".artificial_data"

#: Environments in which the stand-in raw data simulator may be wired in.
SIMULATED_ENVIRONMENTS = frozenset({"local", "demo", "test"})


@dataclass(frozen=True)
class Settings:
    """Settings for one process. Build with :func:`load_settings`."""

    home: Path
    environment: str
    spark_master: str

    @property
    def uses_simulated_raw(self) -> bool:
        """True where raw HES is the simulator's stand-in data rather than an external table."""
        return self.environment in SIMULATED_ENVIRONMENTS


def load_settings() -> Settings:
    """Read the settings of this process from its environment."""
    home = Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
    environment = (os.environ.get(ENVIRONMENT_ENV) or "local").strip().lower()
    spark_master = os.environ.get(SPARK_MASTER_ENV) or "local[2]"
    return Settings(home=home, environment=environment, spark_master=spark_master)
