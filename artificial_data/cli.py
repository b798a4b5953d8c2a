"""The ``artificial-data`` command line: demo, simulate, sign-off, schedules, spec import, grants,
pipes-task."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _cmd_demo(args: argparse.Namespace) -> int:
    from artificial_data.demo import print_summary, run_demo

    outputs = run_demo(
        years=tuple(args.years),
        raw_rows=args.raw_rows,
        artificial_rows=args.rows,
        datasets=args.dataset or None,
        until_sign_off=args.until_sign_off,
    )
    print_summary(outputs)
    return 0


def _cmd_sign_off(args: argparse.Namespace) -> int:
    from artificial_data.review.signoff_cli import run

    return run(args)


def _cmd_spec_import(args: argparse.Namespace) -> int:
    from artificial_data.common.dataset_spec import SpecError, load_spec_file
    from artificial_data.common.spec_import import spec_from_reference, write_spec

    write_spec(spec_from_reference(args.csv, args.dataset, args.years), args.out)
    try:
        spec = load_spec_file(args.out)
    except SpecError as exc:
        message = f"wrote {args.out}, but the draft needs editing before it loads: {exc}"
        raise SystemExit(message) from None
    print(f"wrote {args.out}: {len(spec.fields)} fields, valid")
    return 0


def _cmd_grants(args: argparse.Namespace) -> int:
    from artificial_data.common.catalog_grants import grant_script

    principals = {}
    for given in args.principal:
        location, sep, principal = given.partition("=")
        if not sep or not principal:
            raise SystemExit(f"--principal takes LOCATION=PRINCIPAL, not {given!r}")
        if location in principals:
            raise SystemExit(f"--principal {location} given twice")
        principals[location] = principal
    try:
        script = grant_script(principals, args.catalog, args.schema_prefix, args.simulated_raw)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(script, end="")
    return 0


def _cmd_pipes_task(args: argparse.Namespace) -> int:
    from artificial_data.compute.pipes_task import run_task

    return run_task(
        args.step, args.setting, args.dagster_pipes_context, args.dagster_pipes_messages
    )


def _cmd_schedules(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from artificial_data.scraper.schedule_status import format_statuses, schedule_statuses

    with DagsterInstance.get() as instance:
        print(format_statuses(schedule_statuses(instance)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="artificial-data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on simulated data")
    demo.add_argument("--years", nargs="+", default=["2223"])
    demo.add_argument("--dataset", action="append", help="limit to a dataset (repeatable)")
    demo.add_argument("--raw-rows", type=int, default=20_000)
    demo.add_argument("--rows", type=int, default=10_000, help="artificial rows per table-year")
    demo.add_argument(
        "--until-sign-off",
        action="store_true",
        help="stop each year at its sign-off (scraped, review pack built, sign-off pending)",
    )
    demo.set_defaults(func=_cmd_demo)

    sim = sub.add_parser("simulate", help="write simulated stand-in raw HES into the raw store")
    from artificial_data.simulator import add_simulate_arguments, run_simulate

    add_simulate_arguments(sim)
    sim.set_defaults(func=run_simulate)

    so = sub.add_parser(
        "sign-off",
        help="show, sign and submit signed sign-off statements (see docs/reviewer_guide.md)",
    )
    from artificial_data.review.signoff_cli import add_arguments

    add_arguments(so)
    so.set_defaults(func=_cmd_sign_off)

    schedules = sub.add_parser(
        "schedules",
        help="per dataset: the year its scrape schedule refreshes, its cron, whether it is on, "
        "and when it last ticked and ran (reads the Dagster instance of DAGSTER_HOME)",
    )
    schedules.set_defaults(func=_cmd_schedules)

    spec = sub.add_parser("spec-import", help="draft a dataset spec from a HES field list CSV")
    spec.add_argument("--csv", required=True)
    spec.add_argument("--dataset", required=True)
    spec.add_argument("--years", nargs="+", required=True)
    spec.add_argument("--out", required=True)
    spec.set_defaults(func=_cmd_spec_import)

    grants = sub.add_parser(
        "grants",
        help="print the Unity Catalog GRANT statements of each location's principal, from the "
        "code's own grant table (see docs/databricks.md)",
    )
    grants.add_argument("--catalog", required=True, help="the Unity Catalog, e.g. main")
    grants.add_argument(
        "--principal",
        action="append",
        required=True,
        metavar="LOCATION=PRINCIPAL",
        help="a code location (scraper, review, generator) and its service principal's "
        "application id (repeatable)",
    )
    grants.add_argument("--schema-prefix", default="artificial_data_")
    grants.add_argument(
        "--simulated-raw",
        action="store_true",
        help="also let the scraper write the raw schema (a workspace holding simulated raw "
        "data only; never where raw HES is real)",
    )
    grants.set_defaults(func=_cmd_grants)

    from artificial_data.compute import SETTING_ARGUMENT, STEPS

    task = sub.add_parser(
        "pipes-task",
        help="run one step as a Databricks task through Dagster Pipes (started by the "
        "Databricks engine, see docs/databricks.md)",
    )
    task.add_argument("step", choices=STEPS)
    task.add_argument(SETTING_ARGUMENT, action="append", default=[], metavar="NAME=VALUE")
    # Pipes bootstrap on an existing cluster (PipesDatabricksClient passes it as parameters).
    task.add_argument("--dagster-pipes-context")
    task.add_argument("--dagster-pipes-messages")
    task.set_defaults(func=_cmd_pipes_task)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
