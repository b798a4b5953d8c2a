"""`make demo`: the whole pipeline end to end on the embedded default.

Local Spark, simulated stand-in raw data, stores under ``$ARTIFICIAL_DATA_HOME``. It runs each
code location's own jobs with that location's own resources (so every scope check applies),
signs off in between with the demo's own DEMO keys (accepted only because the metadata header
says it came from simulated data), and records every run in the Dagster instance so that
``make dev`` shows the history and the lineage afterwards.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, Definitions

from artificial_data.common.dataset_spec import DatasetSpec, load_all_specs
from artificial_data.common.settings import ENVIRONMENT_ENV, load_settings
from artificial_data.common.signing import ALLOWED_SIGNERS_ENV
from artificial_data.common.stores import ARTIFICIAL, PUBLISHED, REVIEW, ScopedStores
from artificial_data.orchestration.keys import artificial_key, raw_key, step_config

DEMO_YEARS = ("2223",)
DEMO_RAW_ROWS = 20_000
DEMO_ARTIFICIAL_ROWS = 10_000
DEMO_SEED = 20260401


@dataclass(frozen=True)
class DemoOutput:
    dataset: str
    financial_year: str
    path: Path
    rows: int
    columns: int
    published: list[Path]


def _instance() -> DagsterInstance:
    return DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()


def _run(defs: Definitions, job_name: str, year: str, instance, run_config=None) -> None:
    # Step-level DEBUG logs go to the instance (the UI); the console gets warnings only.
    config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}, **(run_config or {})}
    result = defs.resolve_job_def(job_name).execute_in_process(
        partition_key=year, instance=instance, run_config=config, raise_on_error=True
    )
    if not result.success:  # pragma: no cover - raise_on_error raises first
        raise RuntimeError(f"{job_name} {year} failed")


def _run_unpartitioned(defs: Definitions, job_name: str, instance) -> None:
    config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, run_config=config, raise_on_error=True
    )


def demo_sign_off(spec: DatasetSpec, year: str) -> list[str]:
    """Sign off the current metadata with the demo's own DEMO keys (simulated data only: the
    metadata header is checked, not the environment). Returns the two statement digests."""
    from artificial_data.review.demo_signers import demo_sign_off as sign

    stores = ScopedStores.for_location(REVIEW, load_settings().store_roots)
    return sign(stores, spec.dataset, year)


def use_demo_signers() -> Path:
    """Make the demo's allowed-signers list the one this process verifies against."""
    from artificial_data.review.demo_signers import ensure_demo_signers

    stores = ScopedStores.for_location(REVIEW, load_settings().store_roots)
    path = ensure_demo_signers(stores)
    previous = os.environ.get(ALLOWED_SIGNERS_ENV)
    if previous and Path(previous).expanduser().resolve() != path.resolve():
        print(f"[demo] {ALLOWED_SIGNERS_ENV} is set to {previous}; the demo uses its own {path}")
    os.environ[ALLOWED_SIGNERS_ENV] = str(path)
    return path


def run_demo(
    years: tuple[str, ...] = DEMO_YEARS,
    raw_rows: int = DEMO_RAW_ROWS,
    artificial_rows: int = DEMO_ARTIFICIAL_ROWS,
    datasets: list[str] | None = None,
) -> list[DemoOutput]:
    os.environ.setdefault(ENVIRONMENT_ENV, "demo")
    settings = load_settings()
    if not settings.uses_simulated_raw:
        raise RuntimeError(
            f"the demo runs on simulated data only; {ENVIRONMENT_ENV}={settings.environment}"
        )
    from artificial_data.generator.definitions import defs as generator_defs
    from artificial_data.review.definitions import defs as review_defs
    from artificial_data.scraper.definitions import defs as scraper_defs

    use_demo_signers()
    instance = _instance()
    specs = [s for s in load_all_specs() if datasets is None or s.dataset in datasets]
    outputs = []
    for spec in specs:
        ds = spec.dataset
        for year in years:
            started = time.monotonic()
            print(f"[demo] {ds} {year}: simulate {raw_rows:,} raw rows, scrape, suppress")
            _run(
                scraper_defs,
                f"scrape_{ds}",
                year,
                instance,
                step_config(raw_key(ds), rows=raw_rows, seed=DEMO_SEED),
            )
            print(f"[demo] {ds} {year}: review pack, DEMO sign-off, release")
            _run(review_defs, f"review_pack_{ds}", year, instance)
            statements = demo_sign_off(spec, year)
            # The sign-off into the lineage (``<ds>/sign_off``) before the release, as the UI's
            # sign-off job and the sensor record it, so nothing later asks to release it again.
            _run_unpartitioned(review_defs, "sign_off_status_job", instance)
            _run(review_defs, f"release_{ds}", year, instance)
            print(f"[demo] {ds} {year}: generate {artificial_rows:,} artificial rows, QA, publish")
            _run(
                generator_defs,
                f"generate_{ds}",
                year,
                instance,
                step_config(artificial_key(ds), rows=artificial_rows),
            )
            path = settings.store_roots[ARTIFICIAL] / ds / year
            zips = sorted((settings.store_roots[PUBLISHED] / ds).glob("*/*.zip"))
            outputs.append(DemoOutput(ds, year, path, artificial_rows, len(spec.fields), zips))
            print(
                f"[demo] {ds} {year}: done in {time.monotonic() - started:.0f}s "
                f"(DEMO statements {', '.join(d[:8] for d in statements)})"
            )
    return outputs


def print_summary(outputs: list[DemoOutput]) -> None:
    settings = load_settings()
    print("\nArtificial HES produced (simulated source, DEMO sign-off):")
    for o in outputs:
        shape = f"{o.rows:>8,} rows x {o.columns} columns"
        print(f"  {o.dataset:8s} {o.financial_year}  {shape}  {o.path}")
        for z in o.published:
            print(f"  {'':8s} {'':4s}  published (QA passed): {z}")
    roots = sorted({str(root.parent) for root in settings.store_roots.values()})
    print(f"\nAll stores are under {', '.join(roots)}")
    print("Open the Dagster UI with `make dev` to see the runs and the lineage.")
