"""``artificial-data simulate``: write simulated stand-in raw HES into the raw store."""

from __future__ import annotations

import argparse
import sys

from artificial_data.common.dataset_spec import available_datasets, load_spec
from artificial_data.common.settings import ENVIRONMENT_ENV, load_settings
from artificial_data.common.stores import SCRAPER, ScopedStores
from artificial_data.simulator.writer import write_raw_partition

DEFAULT_ROWS = 10_000
DEFAULT_SEED = 20260401


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        action="append",
        default=None,
        metavar="NAME",
        help=f"dataset to simulate (repeatable), one of {available_datasets()} or 'all' "
        "(default: all)",
    )
    parser.add_argument(
        "--years",
        nargs="+",
        default=None,
        metavar="FYEAR",
        help="HES financial years such as 2122 2223 (default: every year of the spec)",
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows per dataset-year")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--chunk-rows", type=int, default=200_000, help="rows generated and written per chunk"
    )


def _datasets(requested: list[str] | None) -> list[str]:
    known = available_datasets()
    if not requested or "all" in requested:
        return known
    unknown = [d for d in requested if d not in known]
    if unknown:
        raise SystemExit(f"simulate: unknown dataset(s) {unknown}; expected {known} or 'all'")
    return list(dict.fromkeys(requested))


def run_simulate(args: argparse.Namespace) -> int:
    """Write the requested partitions; print one line per partition written."""
    settings = load_settings()
    if not settings.uses_simulated_raw:
        print(
            f"simulate: refused: environment '{settings.environment}' reads real raw HES; the "
            f"simulator only writes where {ENVIRONMENT_ENV} is local, demo or test.",
            file=sys.stderr,
        )
        return 2
    stores = ScopedStores.for_location(SCRAPER, settings.store_roots, simulated_raw=True)
    for dataset in _datasets(args.dataset):
        spec = load_spec(dataset)
        years = args.years or list(spec.financial_years)
        for year in years:
            if year not in spec.financial_years:
                print(
                    f"simulate: {dataset}: skipping year {year} (spec years: "
                    f"{list(spec.financial_years)})",
                    file=sys.stderr,
                )
                continue
            info = write_raw_partition(
                stores, spec, year, rows=args.rows, seed=args.seed, chunk_rows=args.chunk_rows
            )
            print(
                f"simulated {info.dataset} {info.financial_year}: {info.rows} rows, "
                f"{info.patients} patients, seed {info.seed}, {len(info.files)} file(s) -> "
                f"{info.path} (SIMULATED, not real patients)"
            )
    return 0
