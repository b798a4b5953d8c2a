"""One Databricks credential per code location, from that location's own process environment.

Each code location runs as its own Databricks identity (a service principal, or a token for
trials) with the Unity Catalog grants of its scope (``artificial-data grants``). Its credential
is read only from its own process environment, under names that carry the location:

    ARTIFICIAL_DATA_<LOCATION>_DATABRICKS_HOST           e.g. https://adb-123.azuredatabricks.net
    ARTIFICIAL_DATA_<LOCATION>_DATABRICKS_CLIENT_ID      service principal (OAuth M2M), with
    ARTIFICIAL_DATA_<LOCATION>_DATABRICKS_CLIENT_SECRET
    ARTIFICIAL_DATA_<LOCATION>_DATABRICKS_TOKEN          or a personal access token

(``<LOCATION>`` is ``SCRAPER``, ``REVIEW`` or ``GENERATOR``). Never Dagster config: run config is
editable in the UI and shared in run history. The names carry the location so that a process
can tell a credential meant for another location, and it refuses to use any credential when it
holds one: a generator process that can see the scraper's secret was started wrongly (each
location's process must be given only its own; ``deploy/isolated.py`` builds each location's
environment from scratch and adds only that location's credential file). The Pipes engine
(``orchestration/compute.py``) takes its client from here. The SDK's
unscoped variables (``DATABRICKS_TOKEN``, ``DATABRICKS_CLIENT_SECRET``, ...) are refused for
the same reason: they would name one identity for every location started from that shell.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from artificial_data.common.stores import LOCATIONS

FIELDS = ("HOST", "CLIENT_ID", "CLIENT_SECRET", "TOKEN")
#: The SDK's own variables that would carry a secret for whichever process reads them.
UNSCOPED = (
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_PASSWORD",
    "DATABRICKS_AZURE_CLIENT_SECRET",
)


class CredentialsRefused(PermissionError):
    """No usable credential of this location, or one that belongs to another location."""


def credential_env(location: str, name: str) -> str:
    """E.g. ``ARTIFICIAL_DATA_GENERATOR_DATABRICKS_TOKEN``."""
    if location not in LOCATIONS:
        raise ValueError(f"unknown code location {location!r}; expected one of {LOCATIONS}")
    if name not in FIELDS:
        raise ValueError(f"unknown credential field {name!r}; expected one of {FIELDS}")
    return f"ARTIFICIAL_DATA_{location.upper()}_DATABRICKS_{name}"


def is_credential_env(name: str) -> bool:
    """Whether ``name`` is any location's credential variable (host included)."""
    return any(name == credential_env(loc, f) for loc in LOCATIONS for f in FIELDS)


def location_credential_env(location: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``location``'s own credential found in ``environ`` (for deployments
    that build each location's environment, e.g. ``deploy/isolated.py``)."""
    names = {credential_env(location, f) for f in FIELDS}
    return {k: v for k, v in environ.items() if k in names and v}


@dataclass(frozen=True)
class DatabricksCredentials:
    """A location's Databricks host and identity. Secrets never appear in ``repr``."""

    location: str
    host: str
    token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return "token" if self.token else "service principal"

    def sdk_config(self) -> dict[str, Any]:
        """Keyword arguments for ``databricks.sdk.WorkspaceClient`` (explicit, so the SDK does
        not look for other credentials)."""
        if self.token:
            return {"host": self.host, "token": self.token, "auth_type": "pat"}
        return {
            "host": self.host,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "auth_type": "oauth-m2m",
        }

    def workspace_client(self) -> Any:
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(**self.sdk_config())


def databricks_credentials(
    location: str, environ: Mapping[str, str] | None = None
) -> DatabricksCredentials:
    """The credential of ``location`` from this process's environment (module docstring)."""
    env = os.environ if environ is None else environ
    foreign = sorted(
        credential_env(other, f)
        for other in LOCATIONS
        if other != location
        for f in FIELDS
        if f != "HOST" and env.get(credential_env(other, f))
    )
    foreign += [name for name in UNSCOPED if env.get(name)]
    if foreign:
        raise CredentialsRefused(
            f"code location '{location}' refuses to use Databricks: its process can see "
            f"{', '.join(foreign)}, which is not its own credential; start each location with "
            "only its own ARTIFICIAL_DATA_<LOCATION>_DATABRICKS_* variables"
        )
    own = {f: (env.get(credential_env(location, f)) or "").strip() for f in FIELDS}
    if not own["HOST"]:
        raise CredentialsRefused(
            f"code location '{location}' has no Databricks host: set "
            f"{credential_env(location, 'HOST')}"
        )
    if own["TOKEN"] and (own["CLIENT_ID"] or own["CLIENT_SECRET"]):
        raise CredentialsRefused(
            f"code location '{location}': give either a token or a service principal "
            "(client id and secret), not both"
        )
    if not own["TOKEN"] and not (own["CLIENT_ID"] and own["CLIENT_SECRET"]):
        raise CredentialsRefused(
            f"code location '{location}' has no Databricks credential: set "
            f"{credential_env(location, 'CLIENT_ID')} and "
            f"{credential_env(location, 'CLIENT_SECRET')} (or {credential_env(location, 'TOKEN')})"
        )
    return DatabricksCredentials(
        location=location,
        host=own["HOST"],
        token=own["TOKEN"] or None,
        client_id=own["CLIENT_ID"] or None,
        client_secret=own["CLIENT_SECRET"] or None,
    )
