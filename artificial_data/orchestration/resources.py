"""Dagster resources: scoped store access per code location, and the shared Spark session.

Why the grants are not ordinary config: run config can be edited in the Launchpad and
overrides resource fields, so a default alone isolates nothing. Each location has its own
resource class whose location is a class constant; the only config it accepts (``read`` and
``write``) can *narrow* its grants, and a validator refuses anything wider at construction,
before any step runs. Where the stores live comes from the process environment, never from
run config: only the roots of this location's stores, in the isolated deployment.
"""

from __future__ import annotations

from typing import ClassVar

from dagster import ConfigurableResource
from pydantic import model_validator

from artificial_data.common.settings import load_settings
from artificial_data.common.spark import spark_config, use_this_python_for_local_workers
from artificial_data.common.stores import (
    GENERATOR,
    REVIEW,
    SCRAPER,
    ScopedStores,
    ScopeViolation,
)
from artificial_data.orchestration.compute import SparkEngine


class ScopedStoreResource(ConfigurableResource):
    """Store access for one code location. ``read``/``write`` may only narrow the grants."""

    LOCATION: ClassVar[str] = ""

    read: list[str] | None = None
    write: list[str] | None = None

    @model_validator(mode="after")
    def _grants_within_scope(self) -> ScopedStoreResource:
        try:
            self.stores()
        except ScopeViolation as exc:
            # pydantic turns ValueError into a config validation error shown in the UI.
            raise ValueError(str(exc)) from exc
        return self

    def stores(self) -> ScopedStores:
        """The checked store access of this location, in this process's environment."""
        settings = load_settings()
        return ScopedStores.for_location(
            self.LOCATION,
            settings.store_roots,
            simulated_raw=settings.uses_simulated_raw,
            read=self.read,
            write=self.write,
            catalog=settings.catalog,
        )


class ScraperStores(ScopedStoreResource):
    """Sensitive scope: reads raw HES, writes suppressed metadata."""

    LOCATION: ClassVar[str] = SCRAPER


class ReviewStores(ScopedStoreResource):
    """Admin scope: reads suppressed metadata, writes sign-offs, review packs and releases."""

    LOCATION: ClassVar[str] = REVIEW


class GeneratorStores(ScopedStoreResource):
    """Open scope: reads released metadata only; writes artificial and published tables."""

    LOCATION: ClassVar[str] = GENERATOR


def spark_resource(app_name: str) -> SparkEngine:
    """A lazily created Spark session: steps that never touch Spark never start a JVM. The
    same resource sends the Spark steps to Databricks when the location's environment says so
    (``orchestration/compute.py``)."""
    master = load_settings().spark_master
    use_this_python_for_local_workers(master)
    return SparkEngine(spark_config=spark_config(master, app_name))
