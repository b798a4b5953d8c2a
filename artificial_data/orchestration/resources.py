"""Dagster resources: scoped store access per code location, and the shared Spark session.

Why the grants are not ordinary config: run config can be edited in the Launchpad and
overrides resource fields, so a default alone isolates nothing. Each location has its own
resource class whose location is a class constant; the only config it accepts (``read`` and
``write``) can *narrow* its grants. Wider grants cannot even be written down: each field is a
list of an enum holding only the stores that location may ever reach (built from
``MAXIMUM_GRANTS``), so Dagster's config system refuses a wider run config when the run is
submitted, before any run is created (one line: ``Value at path
root:resources:stores:config:read[0] not in enum type GeneratorMayRead got raw``), and the
good data's status is untouched. A validator then checks the chosen grants again at
construction (the second wall, e.g. for the scraper's raw write outside a simulated
environment). Where the stores live comes from the process environment, never from run
config: only the roots of this location's stores, in the isolated deployment.
"""

from __future__ import annotations

from enum import Enum
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
    maximum_grants,
)
from artificial_data.orchestration.compute import SparkEngine


def store_choices(location: str, action: str, simulated_raw: bool = False) -> type[Enum]:
    """The stores ``location`` may ever ``action`` ("read" or "write"), as an enum whose member
    names are the store names: the only values its run config can name. Its name (e.g.
    ``GeneratorMayRead``) is what Dagster's refusal names, so the one line says location,
    action and store."""
    grants = maximum_grants(location, simulated_raw)
    stores = sorted(grants.read if action == "read" else grants.write)
    name = f"{location.capitalize()}{'Simulated' if simulated_raw else ''}May{action.capitalize()}"
    return Enum(name, [(store, store) for store in stores], type=str)  # type: ignore[misc]


ScraperMayRead = store_choices(SCRAPER, "read")
ScraperMayWrite = store_choices(SCRAPER, "write")
ScraperSimulatedMayWrite = store_choices(SCRAPER, "write", simulated_raw=True)
ReviewMayRead = store_choices(REVIEW, "read")
ReviewMayWrite = store_choices(REVIEW, "write")
GeneratorMayRead = store_choices(GENERATOR, "read")
GeneratorMayWrite = store_choices(GENERATOR, "write")


def _names(stores: list | None) -> list[str] | None:
    return None if stores is None else [getattr(s, "value", s) for s in stores]


class ScopedStoreResource(ConfigurableResource):
    """Store access for one code location. ``read``/``write`` may only narrow the grants;
    each subclass types them as lists of its location's enums (see ``store_choices``)."""

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
            read=_names(self.read),
            write=_names(self.write),
            catalog=settings.catalog,
        )


class ScraperStores(ScopedStoreResource):
    """Sensitive scope: reads raw HES, writes suppressed metadata."""

    LOCATION: ClassVar[str] = SCRAPER

    read: list[ScraperMayRead] | None = None  # type: ignore[valid-type]
    write: list[ScraperMayWrite] | None = None  # type: ignore[valid-type]


class SimulatedScraperStores(ScraperStores):
    """The scraper where raw HES is the simulator's stand-in data: may also write ``raw``."""

    write: list[ScraperSimulatedMayWrite] | None = None  # type: ignore[valid-type]


def scraper_stores(simulated_raw: bool) -> ScraperStores:
    """The scraper's store resource in this environment (raw is writable only if simulated)."""
    return SimulatedScraperStores() if simulated_raw else ScraperStores()


class ReviewStores(ScopedStoreResource):
    """Admin scope: reads suppressed metadata, writes sign-offs, review packs and releases."""

    LOCATION: ClassVar[str] = REVIEW

    read: list[ReviewMayRead] | None = None  # type: ignore[valid-type]
    write: list[ReviewMayWrite] | None = None  # type: ignore[valid-type]


class GeneratorStores(ScopedStoreResource):
    """Open scope: reads released metadata only; writes artificial and published tables."""

    LOCATION: ClassVar[str] = GENERATOR

    read: list[GeneratorMayRead] | None = None  # type: ignore[valid-type]
    write: list[GeneratorMayWrite] | None = None  # type: ignore[valid-type]


def spark_resource(app_name: str) -> SparkEngine:
    """A lazily created Spark session: steps that never touch Spark never start a JVM. The
    same resource sends the Spark steps to Databricks when the location's environment says so
    (``orchestration/compute.py``)."""
    master = load_settings().spark_master
    use_this_python_for_local_workers(master)
    return SparkEngine(spark_config=spark_config(master, app_name))
