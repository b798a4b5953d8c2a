"""A full release end to end (issue 16, item 5); not a test, and not run by `make bench`.

    PYTHONPATH=. python benchmarks/full_release.py [--sizes 100000 1000000 10000000]
        [--raw-rows N] [--out benchmarks/results/full_release.json]
        [--plot docs/img/full_release_scaling.png]

The file is not named ``bench_*.py`` on purpose: ``benchmarks/run_all.py`` (``make bench``)
runs every ``bench_*.py`` with its defaults, and this one's defaults take hours.

For each size N of ``--sizes``, in a fresh child process (so its peak memory is that size's
own), every dataset of ``load_all_specs()`` and every year of its spec's ``financial_years``
goes through the same Dagster jobs ``make demo`` runs (``artificial_data.demo.run_demo``):
``scrape_<ds>`` on N simulated raw rows (at least the demo's 20,000; ``--raw-rows``
overrides), ``review_pack_<ds>``, the
demo's DEMO sign-off, ``sign_off_status_job``, ``release_<ds>``, ``generate_<ds>`` with N
artificial rows (the artificial asset, QA and publication). Stores and the Dagster instance are
in a new temporary ``ARTIFICIAL_DATA_HOME`` / ``DAGSTER_HOME``; local Spark (``local[2]``).

Measured:

  * wall time per stage per dataset-year, from the start and end times the Dagster instance
    records for each run: ``simulate+scrape`` (``scrape_<ds>``), ``review+release``
    (``review_pack_<ds>`` + ``sign_off_status_job`` + ``release_<ds>``) and
    ``generate+QA+publish`` (``generate_<ds>``); what is left of the child's wall time (Python
    and Spark start, loading the definitions, the DEMO signing) is ``other``; and each
    dataset-year's seconds per Dagster step (``step_seconds_per_dataset_year``);
  * peak memory of the child's whole process tree (the Python driver plus the Spark JVM and
    Spark's Python workers): the sum of the tree's RSS from ``/proc``, sampled every 0.5 s, and
    the largest single process's peak (``ru_maxrss`` of the child's ``os.wait4``, which
    covers the descendants it reaped);
  * the baseline, in the same run: for each dataset-year, the one-core numpy sampler of
    ``bench_generator_limit.py`` (``run_baseline``: released weights sampled into dictionary
    columns, written as Parquet; no patients, chains, derivations, QA or publication) writing N
    rows from made-up metadata (``plausible_metadata``), each in a fresh process pinned to one
    CPU. Every time is also given as a ratio to the sum of those baselines.

Writes every size's figures as JSON (``--out``) and plots wall time per stage and peak memory
against rows (log x) as PNG (``--plot``; needs matplotlib: ``pip install -e ".[bench]"``).

``--join A.json B.json`` makes one whole release's figures out of partial runs
(``--datasets``) of one size that between them hold every dataset-year once (``join_runs``:
seconds and baselines add up, the peak is the largest part's), adds them to ``--out`` with the
parts, and plots; a 10M-row release is run that way, a dataset or two per session.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from artificial_data.demo import DEMO_RAW_ROWS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STAGES = ("simulate+scrape", "review+release", "generate+QA+publish")
SAMPLE_SECONDS = 0.5
MEMORY_GOAL_GB = 6.0
#: The demo's own raw rows: on far fewer simulated rows (2,000 did) a field of the simulated AE
#: year can look identifier-like, and the blocking disclosure check stops the scrape, as it
#: should. Smaller sizes still generate their own number of artificial rows.
MIN_RAW_ROWS = DEMO_RAW_ROWS


def stage_of(job_name: str) -> str:
    if job_name.startswith("scrape_"):
        return STAGES[0]
    if job_name.startswith(("review_pack_", "release_")) or job_name == "sign_off_status_job":
        return STAGES[1]
    if job_name.startswith("generate_"):
        return STAGES[2]
    raise ValueError(f"a run of an unexpected job: {job_name}")


def dataset_of(job_name: str) -> str:
    for prefix in ("scrape_", "review_pack_", "release_", "generate_"):
        if job_name.startswith(prefix):
            return job_name.removeprefix(prefix)
    raise ValueError(f"no dataset in the job name {job_name}")


# ---------------------------------------------------------------------------------------------
# Child: the release itself, then the run records read back from the instance
# ---------------------------------------------------------------------------------------------


def release_child(
    rows: int, raw_rows: int, datasets: list[str] | None = None, years: list[str] | None = None
) -> dict:
    """Run every dataset-year (or those of ``datasets`` x ``years``) through ``run_demo``;
    returns the per-stage seconds."""
    from dagster import DagsterInstance
    from dagster._core.storage.tags import PARTITION_NAME_TAG

    from artificial_data.common.dataset_spec import load_all_specs
    from artificial_data.demo import run_demo

    for spec in load_all_specs():
        chosen = [y for y in spec.financial_years if years is None or y in years]
        if (datasets is not None and spec.dataset not in datasets) or not chosen:
            continue
        run_demo(
            years=tuple(chosen),
            raw_rows=raw_rows,
            artificial_rows=rows,
            datasets=[spec.dataset],
        )
    instance = DagsterInstance.get()
    records = sorted(instance.get_run_records(), key=lambda r: r.start_time or float("inf"))
    steps: list[dict] = []  # each step's wall-clock interval, to place the memory peaks
    # sign_off_status_job has no partition: it belongs to the dataset-year the demo runs it for,
    # the one whose review pack ran just before it.
    stages: dict[str, dict[str, float]] = {}
    current = None
    for record in records:
        run = record.dagster_run
        partition = run.tags.get(PARTITION_NAME_TAG)
        if partition is not None:
            current = f"{dataset_of(run.job_name)} {partition}"
        if current is None or record.start_time is None or record.end_time is None:
            raise RuntimeError(f"run {run.run_id} of {run.job_name} has no dataset-year or times")
        seconds = stages.setdefault(current, dict.fromkeys(STAGES, 0.0))
        seconds[stage_of(run.job_name)] += record.end_time - record.start_time
        steps += [
            {
                "step": step.step_key,
                "start": step.start_time,
                "end": step.end_time,
                "dataset_year": current,
            }
            for step in instance.get_run_step_stats(run.run_id)
            if step.start_time is not None and step.end_time is not None
        ]
    return {"stages": stages, "runs": len(records), "steps": steps}


def baseline_child(dataset: str, year: str, rows: int, out: Path) -> float:
    """Seconds of the one-core numpy baseline writing ``rows`` rows of one dataset-year."""
    from bench_generator_limit import run_baseline

    from artificial_data.common.dataset_spec import load_spec
    from artificial_data.generator.engine import generation_seed
    from artificial_data_tests.generator_metadata import plausible_metadata

    spec = load_spec(dataset)
    metadata = plausible_metadata(spec, year)
    seed = generation_seed("benchmark", dataset, year)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    start = time.perf_counter()
    run_baseline(metadata, spec, rows, seed, out)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# Parent: one child per size, its process tree's memory sampled from /proc
# ---------------------------------------------------------------------------------------------


def _tree_rss(root: int) -> tuple[int, int]:
    """(RSS of the process tree under ``root``, RSS of its largest process), in bytes."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone since the listing
            continue
        parents[int(entry)] = int(fields[1])  # the field after the state is the parent's pid
        rss[int(entry)] = int(fields[21]) * page  # rss in pages
    tree = {root}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        grew = bool(more)
        tree |= more
    sizes = [rss.get(pid, 0) for pid in tree]
    return sum(sizes), max(sizes, default=0)


class TreeSampler(threading.Thread):
    """Samples the RSS of a process tree until it is told to stop; keeps the peaks."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak_tree, self.peak_process = root, 0, 0
        self.samples: list[tuple[float, int]] = []  # (unix time, tree RSS)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree, largest = _tree_rss(self.root)
            self.samples.append((time.time(), tree))
            self.peak_tree = max(self.peak_tree, tree)
            self.peak_process = max(self.peak_process, largest)
            self.done.wait(SAMPLE_SECONDS)

    def peak_by_step(self, steps: list[dict]) -> dict[str, int]:
        """The tree's peak RSS while each step key ran (the largest over its dataset-years):
        where the memory goes, not only how much."""
        peaks: dict[str, int] = {}
        for step in steps:
            inside = [rss for t, rss in self.samples if step["start"] <= t <= step["end"]]
            if inside:
                peaks[step["step"]] = max(peaks.get(step["step"], 0), max(inside))
        return dict(sorted(peaks.items(), key=lambda kv: -kv[1]))


def _child_env(work: Path) -> dict[str, str]:
    dagster_home = work / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    pythonpath = os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")])
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath.rstrip(os.pathsep),
        "ARTIFICIAL_DATA_HOME": str(work / "home"),
        "DAGSTER_HOME": str(dagster_home),
        "PYSPARK_PYTHON": sys.executable,
    }
    for name in ("ARTIFICIAL_DATA_ALLOWED_SIGNERS", "ARTIFICIAL_DATA_ENV"):
        env.pop(name, None)  # the demo's own signers and environment
    return env


def check_subset(datasets: list[str] | None, years: list[str] | None) -> None:
    """Refuse a ``--datasets``/``--years`` name the specs lack, before any child starts: a typo
    must not measure an empty release."""
    from artificial_data.common.dataset_spec import load_all_specs

    specs = load_all_specs()
    known = {spec.dataset for spec in specs}, {y for spec in specs for y in spec.financial_years}
    for asked, names, what in ((datasets, known[0], "dataset"), (years, known[1], "year")):
        unknown = sorted(set(asked or ()) - names)
        if unknown:
            raise SystemExit(f"no {what} {', '.join(unknown)} in the specs: {sorted(names)}")


def measure_release(rows: int, raw_rows: int, work: Path, subset: list[str]) -> dict:
    env = _child_env(work)
    out = work / "release.json"
    command = [sys.executable, __file__, "--child-release", str(out)]
    command += ["--rows", str(rows), "--raw-rows", str(raw_rows), *subset]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    sampler = TreeSampler(child.pid)
    sampler.start()
    # wait4: this child's own rusage (with the descendants it reaped), not every child's so far.
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    if code != 0:
        raise RuntimeError(f"the release at {rows:,} rows failed (exit {code})")
    result = json.loads(out.read_text())
    steps = result.pop("steps", [])
    # ru_maxrss is in KiB on Linux: the largest single process's peak, not the tree's sum.
    largest = usage.ru_maxrss * 1024
    result.update(
        wall_seconds=wall,
        peak_tree_rss_bytes=sampler.peak_tree,
        peak_process_rss_bytes=max(sampler.peak_process, largest),
        rusage_maxrss_bytes=largest,
        peak_tree_rss_bytes_by_step=sampler.peak_by_step(steps),
        step_seconds_per_dataset_year=step_seconds(steps),
    )
    return result


def step_seconds(steps: list[dict]) -> dict[str, dict[str, float]]:
    """Each dataset-year's seconds per Dagster step, summed over its runs: which step a
    stage's time is spent in (e.g. whether publication grows with the years already
    published)."""
    out: dict[str, dict[str, float]] = {}
    for step in steps:
        year = out.setdefault(step["dataset_year"], {})
        year[step["step"]] = year.get(step["step"], 0.0) + step["end"] - step["start"]
    return out


def measure_baselines(rows: int, dataset_years: list[str], work: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    seconds = {}
    for dataset_year in dataset_years:
        dataset, year = dataset_year.split()
        out = work / "baseline.parquet"
        command = [sys.executable, __file__, "--child-baseline", dataset, year, str(out)]
        done = subprocess.run(
            [*command, "--rows", str(rows)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        out.unlink(missing_ok=True)
        seconds[dataset_year] = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return seconds


def measure_size(rows: int, raw_rows: int, subset: list[str] | None = None) -> dict:
    """One size; ``subset`` is the ``--datasets``/``--years`` arguments, if any."""
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="full_release_"))
    print(f"\n--- {rows:,} artificial rows, {raw_rows:,} raw rows per dataset-year", flush=True)
    try:
        release = measure_release(rows, raw_rows, work, subset or [])
    except RuntimeError as failed:
        # Kept: the failed run's QA report, run history and stores are what explain it.
        raise SystemExit(f"{failed}; its stores and run history are kept in {work}") from None
    try:
        baseline = measure_baselines(rows, sorted(release["stages"]), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stages = release["stages"]
    totals = {s: sum(year[s] for year in stages.values()) for s in STAGES}
    base = sum(baseline.values())
    totals["other"] = release["wall_seconds"] - sum(totals.values())
    return {
        "rows": rows,
        "raw_rows": raw_rows,
        "dataset_years": len(stages),
        "subset": bool(subset),
        "runs": release["runs"],
        "wall_seconds": release["wall_seconds"],
        "stage_seconds": totals,
        "stage_seconds_per_dataset_year": stages,
        "baseline_seconds": base,
        "baseline_seconds_per_dataset_year": baseline,
        "ratio_to_baseline": {
            **{s: t / base for s, t in totals.items()},
            "wall": release["wall_seconds"] / base,
        },
        "peak_tree_rss_bytes": release["peak_tree_rss_bytes"],
        "peak_process_rss_bytes": release["peak_process_rss_bytes"],
        "peak_tree_rss_bytes_by_step": release["peak_tree_rss_bytes_by_step"],
        "step_seconds_per_dataset_year": release["step_seconds_per_dataset_year"],
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def every_dataset_year() -> set[str]:
    """``"<dataset> <year>"`` of every dataset of the specs and every year of its spec."""
    from artificial_data.common.dataset_spec import load_all_specs

    return {f"{spec.dataset} {year}" for spec in load_all_specs() for year in spec.financial_years}


def join_runs(parts: list[dict]) -> dict:
    """One whole release's figures from partial runs of one size that between them hold every
    dataset-year of the specs exactly once (a 10M-row release run a dataset or two at a time,
    each run a session's length): stage, wall and baseline seconds add up (each part's baseline
    was measured in its own run), the peaks are the largest part's (each run held one dataset
    at a time, as a whole run does). Marked ``joined_runs`` so that it is never read as one run.
    """
    if len(parts) < 2:
        raise SystemExit("--join needs at least two partial runs")
    sizes = {(r["rows"], r["raw_rows"]) for r in parts}
    if len(sizes) != 1:
        raise SystemExit(f"--join: the runs are of different sizes {sorted(sizes)}")
    seen: dict[str, int] = {}
    for index, r in enumerate(parts):
        for year in r["stage_seconds_per_dataset_year"]:
            if year in seen:
                raise SystemExit(f"--join: {year} is in runs {seen[year]} and {index}")
            seen[year] = index
    missing = sorted(every_dataset_year() - set(seen))
    if missing:
        raise SystemExit(f"--join: no run holds {', '.join(missing)}")

    def merged(key: str) -> dict:
        return {k: v for r in parts for k, v in r.get(key, {}).items()}

    stages = merged("stage_seconds_per_dataset_year")
    totals = {s: sum(r["stage_seconds"][s] for r in parts) for s in (*STAGES, "other")}
    wall = sum(r["wall_seconds"] for r in parts)
    base = sum(r["baseline_seconds"] for r in parts)
    by_step: dict[str, int] = {}
    for r in parts:
        for step, rss in r.get("peak_tree_rss_bytes_by_step", {}).items():
            by_step[step] = max(by_step.get(step, 0), rss)
    return {
        "rows": parts[0]["rows"],
        "raw_rows": parts[0]["raw_rows"],
        "dataset_years": len(stages),
        "subset": False,
        "joined_runs": len(parts),
        "runs": sum(r["runs"] for r in parts),
        "wall_seconds": wall,
        "stage_seconds": totals,
        "stage_seconds_per_dataset_year": dict(sorted(stages.items())),
        "baseline_seconds": base,
        "baseline_seconds_per_dataset_year": dict(
            sorted(merged("baseline_seconds_per_dataset_year").items())
        ),
        "ratio_to_baseline": {**{s: t / base for s, t in totals.items()}, "wall": wall / base},
        "peak_tree_rss_bytes": max(r["peak_tree_rss_bytes"] for r in parts),
        "peak_process_rss_bytes": max(r["peak_process_rss_bytes"] for r in parts),
        "peak_tree_rss_bytes_by_step": dict(sorted(by_step.items(), key=lambda kv: -kv[1])),
        "step_seconds_per_dataset_year": dict(
            sorted(merged("step_seconds_per_dataset_year").items())
        ),
        "load_average_before": [r["load_average_before"] for r in parts],
        "load_average_after": [r["load_average_after"] for r in parts],
    }


def report(result: dict) -> None:
    gb = 1024**3
    base = result["baseline_seconds"]
    joined = result.get("joined_runs")
    loads = (
        f"{joined} runs joined"
        if joined
        else f"load average {result['load_average_before'][0]:.2f} before, "
        f"{result['load_average_after'][0]:.2f} after"
    )
    print(
        f"{result['rows']:,} rows x {result['dataset_years']} dataset-years "
        f"({result['runs']} runs): {result['wall_seconds']:.0f} s wall, "
        f"{result['wall_seconds'] / base:.1f}x the baseline ({base:.1f} s); {loads}"
    )
    for stage, seconds in result["stage_seconds"].items():
        print(f"  {stage:22s} {seconds:8.1f} s  {seconds / base:6.1f}x the baseline")
    tree = result["peak_tree_rss_bytes"] / gb
    verdict = "met" if tree < MEMORY_GOAL_GB else "not met"
    print(
        f"  peak RSS: process tree {tree:.2f} GiB (goal < {MEMORY_GOAL_GB:g} GB: {verdict}), "
        f"largest process {result['peak_process_rss_bytes'] / gb:.2f} GiB"
    )
    by_step = result.get("peak_tree_rss_bytes_by_step", {})
    if by_step:
        top = ", ".join(f"{step} {rss / gb:.2f}" for step, rss in list(by_step.items())[:5])
        print(f"  tree's peak while each step ran (GiB, largest first): {top}")
    for year, seconds in result.get("step_seconds_per_dataset_year", {}).items():
        slowest = sorted(seconds.items(), key=lambda kv: -kv[1])[:3]
        print(f"  {year}: slowest steps " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))


#: The dataset-year followed across every run, whole or partial (``--datasets``/``--years``):
#: the widest dataset, so the one a 10M-row partial release is run for.
FOLLOWED = "hes_apc 2122"


def plot(results: list[dict], path: Path) -> None:
    """Three panels, log x: the whole release's wall time per stage (runs of every
    dataset-year only), one dataset-year's (:data:`FOLLOWED`, from every run that has it,
    partial runs included) and peak memory (partial runs marked apart: their peak is one
    dataset-year's, not the largest of nine)."""
    try:
        import matplotlib
    except ImportError:
        print('no matplotlib: no plot (pip install -e ".[bench]"); figures are in JSON only')
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    whole = [r for r in results if not r.get("subset")]
    followed = [  # a joined run repeats its parts' figures: each dataset-year drawn once
        r
        for r in results
        if FOLLOWED in r["stage_seconds_per_dataset_year"] and not r.get("joined_runs")
    ]
    fig, (times, one, memory) = plt.subplots(1, 3, figsize=(15, 4.4))
    rows = [r["rows"] for r in whole]
    for stage in (*STAGES, "other"):
        times.plot(rows, [r["stage_seconds"][stage] for r in whole], "o-", label=stage)
    times.plot(rows, [r["wall_seconds"] for r in whole], "s-k", label="whole release")
    times.plot(rows, [r["baseline_seconds"] for r in whole], "x--", label="baseline")
    years = whole[0]["dataset_years"] if whole else 0
    joined = [
        f"{r['rows']:,} rows: {r['joined_runs']} runs joined" for r in whole if r.get("joined_runs")
    ]
    title = f"whole release, {years} dataset-years" if whole else "whole release: not in these runs"
    times.set_title(title + (f"\n({'; '.join(joined)})" if joined else ""), fontsize=10)
    one_rows = [r["rows"] for r in followed]
    for stage in STAGES:
        one.plot(
            one_rows,
            [r["stage_seconds_per_dataset_year"][FOLLOWED][stage] for r in followed],
            "o-",
            label=stage,
        )
    one.plot(
        one_rows,
        [r["baseline_seconds_per_dataset_year"][FOLLOWED] for r in followed],
        "x--",
        label="baseline",
    )
    one.set_title(f"{FOLLOWED} alone (every run)")
    for axis, runs in ((times, whole), (one, followed)):
        if not runs:
            axis.set_axis_off()  # nothing to draw on log axes
            continue
        axis.set(xscale="log", yscale="log", xlabel="rows per dataset-year", ylabel="seconds")
        axis.legend(fontsize=8)
    gb = 1024**3
    partial = [r for r in results if r.get("subset")]
    for runs, style, what in ((whole, "o-", "whole"), (partial, "^", "partial")):
        if not runs:
            continue
        xs = [r["rows"] for r in runs]
        for key, label in (("peak_tree_rss_bytes", "tree"), ("peak_process_rss_bytes", "largest")):
            memory.plot(xs, [r[key] / gb for r in runs], style, label=f"{label}, {what}")
    memory.axhline(MEMORY_GOAL_GB * 1e9 / gb, color="red", linestyle=":", label="goal 6 GB")
    memory.set(xscale="log", xlabel="rows per dataset-year", ylabel="peak RSS (GiB)", ylim=(0, 7))
    memory.set_title("peak memory")
    memory.legend(fontsize=7)
    every = sorted({r["rows"] for r in results})
    for axis in (times, one, memory):
        axis.set_xticks(every, [f"{r:,}" for r in every], fontsize=8)
        axis.minorticks_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument(
        "--raw-rows",
        type=int,
        help=f"simulated raw rows per dataset-year (default: each size, at least {MIN_RAW_ROWS:,})",
    )
    parser.add_argument(
        "--datasets", nargs="+", help="only these datasets: a partial release, plotted apart"
    )
    parser.add_argument("--years", nargs="+", help="only these financial years, e.g. 2122")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "full_release.json")
    parser.add_argument(
        "--plot", type=Path, default=ROOT / "docs" / "img" / "full_release_scaling.png"
    )
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-release", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-baseline", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--plot-only", action="store_true", help="plot the results already in --out, run nothing"
    )
    parser.add_argument(
        "--join",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="partial runs' results (--out files) of one size that between them hold every "
        "dataset-year once: their runs, and one whole release joined from them, are added to "
        "--out and plotted; nothing runs",
    )
    args = parser.parse_args()

    if args.join:
        parts = [r for path in args.join for r in json.loads(path.read_text())]
        whole = join_runs(parts)
        report(whole)
        results = json.loads(args.out.read_text()) if args.out.exists() else []
        results += [r for r in parts if r not in results] + [whole]  # a part once
        results.sort(key=lambda r: (r["rows"], bool(r.get("joined_runs"))))
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        plot(results, args.plot)
        return
    if args.plot_only:
        plot(json.loads(args.out.read_text()), args.plot)
        return
    if args.child_release:
        result = release_child(args.rows, args.raw_rows, args.datasets, args.years)
        args.child_release.write_text(json.dumps(result))
        return
    if args.child_baseline:
        dataset, year, out = args.child_baseline
        print(json.dumps({"seconds": baseline_child(dataset, year, args.rows, Path(out))}))
        return

    check_subset(args.datasets, args.years)
    subset = (["--datasets", *args.datasets] if args.datasets else []) + (
        ["--years", *args.years] if args.years else []
    )
    results = []
    for rows in sorted(args.sizes):
        raw_rows = args.raw_rows or max(rows, MIN_RAW_ROWS)
        results.append(measure_size(rows, raw_rows, subset))
        report(results[-1])
        args.out.parent.mkdir(parents=True, exist_ok=True)  # written after each size
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out}")
    plot(results, args.plot)  # combine several runs' JSON by hand, then --plot-only


if __name__ == "__main__":
    main()
