"""Benchmark of the metadata scraper on local Spark (not a test; run it by hand).

    PYTHONPATH=. python benchmarks/bench_scraper.py [--rows 1000000] [--small 100000]
    PYTHONPATH=. python benchmarks/bench_scraper.py --rows 10000000 --small 0 --data DIR \
        [--parts freq,passes,floors] [--repeats 3]

For each size (``--small 0`` runs ``--rows`` only) it writes a simulated APC year as Parquet,
one file per chunk so that 10M rows never sit in memory at once (the project's simulator if
importable, otherwise a simple generator in this script; ``--data DIR`` keeps the files and
reuses them on the next run), then in the same run (``--parts`` chooses among the frequency
pass, the separate passes and the floors; the baseline and the full scrape always run):
  * scrapes it with ``artificial_data.scraper.scrape.scrape`` on local Spark (session start-up
    excluded, one warm-up scrape first);
  * times the frequency pass alone (``count_values``), the part comparable to the baseline,
    and the percentile and patient passes separately; each pass and each floor below runs
    ``--repeats`` times (default 3), one after the other in turn, and the medians are compared;
  * times Spark's floor for the frequency pass: the pass's own projection
    (``frequency_projection``) scanned and discarded in the JVM, and scanned and handed over
    to the Python workers, with no counting at all;
  * times Spark's floor for the patient pass (``patient_floor``): the patient key and the
    patient-level fields scanned, brought together per patient by one exchange and handed over
    to the Python workers, nothing computed; and, beside it, the JVM-only part of that (the
    exchange alone, or a per-patient count), which no pass that computes in Python can reach;
  * computes the same frequency tables with plain single-process pyarrow (read the Parquet
    columns batch by batch, ``value_counts`` per column, merge) as the baseline.
It prints the times, the ratios against the baseline, each pass's ratio to its own floor with
the targets (frequency pass <= 1.2x scan + hand-over, patient pass <= 1.5x exchange +
hand-over), the
scaling ratio between the two sizes (target: 10x rows costs <= 11x time), the peak resident
memory of the driver, the JVM and the Python workers (sampled from /proc every 0.2 s, per
size, with their total at the same instant) and the load average before and after each size:
on a shared machine only ratios within one run are worth quoting (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DatasetSpec, load_spec
from artificial_data.common.schema import arrow_schema

YEAR = "2122"
_PATIENT_TYPES = (mc.DEMOGRAPHIC_CATEGORICAL, mc.DEMOGRAPHIC_DATE)
CHUNK_ROWS = 250_000


# ------------------------------------------------------------------------------------------
# Stand-in data (used only when artificial_data.simulator is not available)
# ------------------------------------------------------------------------------------------


def _codes(rng: np.random.Generator, name: str, n: int, nulls: float = 0.03) -> pa.Array:
    """Zipf-like codes with a long tail, HES null codes and some values of count 1-7."""
    domain = 3 + (sum(map(ord, name)) * 37) % 3000
    pool = np.array([f"{name[0]}{i:03d}" for i in range(domain)] + ["&", "-", "99"])
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 1.1
    idx = rng.choice(len(pool), size=n, p=weights / weights.sum())
    values = pool[idx].astype(object)
    values[rng.random(n) < nulls] = None
    rare = rng.choice(n, size=min(n, 20), replace=False)
    values[rare] = [f"RARE{name[:3]}{i}" for i in range(len(rare))]
    return pa.array(values, pa.string())


def _synthetic_chunk(spec: DatasetSpec, rows: int, offset: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed + offset)
    schema = arrow_schema(spec)
    episodes = np.minimum(rng.geometric(0.45, size=rows), 60)
    patients = np.repeat(np.arange(rows), episodes)[:rows] + offset
    start = np.datetime64("2021-04-01")
    columns = {}
    for f in spec.fields:
        t = schema.field(f.name).type
        if f.name == spec.patient_key:
            columns[f.name] = pa.array([f"TEST{p:028d}" for p in patients])
        elif f.role == "identifier":
            columns[f.name] = pa.array(np.arange(offset, offset + rows) + 10**11, t)
        elif f.role == "patient_categorical":
            per_patient = rng.choice(["1", "2", "9"], size=rows + offset + 1, p=[0.48, 0.5, 0.02])
            values = per_patient[patients]
            flip = rng.random(rows) < 0.02
            values[flip] = "0"
            columns[f.name] = pa.array(values)
        elif f.role == "patient_date":
            months = rng.integers(1, 13, rows + offset + 1)
            years = rng.integers(1920, 2021, rows + offset + 1)
            text = np.char.add(np.char.zfill(months.astype(str), 2), years.astype(str))
            columns[f.name] = pa.array(text[patients])
        elif f.time_of_day:
            minutes = rng.integers(0, 1440, rows)
            text = [f"{m // 60:02d}{m % 60:02d}" for m in minutes]
            columns[f.name] = pc.if_else(pa.array(rng.random(rows) < 0.05), None, pa.array(text))
        elif pa.types.is_date32(t):
            days = rng.integers(0, 365, rows)
            columns[f.name] = pa.array(start + days.astype("timedelta64[D]"), t)
        elif pa.types.is_string(t):
            columns[f.name] = _codes(rng, f.name, rows)
        elif pa.types.is_decimal(t):
            columns[f.name] = pa.array(np.round(rng.random(rows), 3)).cast(t)
        elif pa.types.is_floating(t):
            columns[f.name] = pa.array(np.round(rng.random(rows), 2))
        else:  # int / long: durations, counts, small coded numbers
            values = (
                rng.geometric(0.2, rows) - 1
                if f.role == "continuous"
                else rng.integers(0, 12, rows)
            )
            mask = rng.random(rows) < 0.05
            columns[f.name] = pa.array(values, t, mask=mask)
    return pa.table(columns, schema=schema)


def _chunks(spec: DatasetSpec, rows: int, seed: int):
    try:
        from artificial_data.simulator import simulate_chunks
    except ImportError:
        simulate_chunks = None
    if simulate_chunks is not None:
        print("data: artificial_data.simulator.simulate_chunks")
        yield from simulate_chunks(spec, YEAR, rows, seed)
        return
    print("data: benchmark's own synthetic generator (simulator not importable)")
    for offset in range(0, rows, CHUNK_ROWS):
        yield _synthetic_chunk(spec, min(CHUNK_ROWS, rows - offset), offset, seed)


def write_parquet(spec: DatasetSpec, rows: int, folder: Path, seed: int = 7) -> float | None:
    """Write ``rows`` rows one chunk (one file) at a time; ``None`` if ``folder`` already holds
    a complete earlier write (marked by ``_COMPLETE``), which is then reused."""
    done = folder / "_COMPLETE"
    if done.exists():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    started = time.perf_counter()
    for i, table in enumerate(_chunks(spec, rows, seed)):
        pq.write_table(table, folder / f"part-{i:05d}.parquet", row_group_size=CHUNK_ROWS)
        del table
    done.write_text(str(rows))
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------
# Baseline: the same frequency tables with single-process pyarrow
# ------------------------------------------------------------------------------------------


def pyarrow_frequencies(spec: DatasetSpec, folder: Path) -> dict[str, pa.Table]:
    names = [
        f.name
        for f in spec.scraped_fields
        if mc.value_type_of(f) in (mc.CATEGORICAL, mc.DISCRETE, mc.DATE)
    ]
    partials: dict[str, list[pa.Table]] = {n: [] for n in names}
    for batch in ds.dataset(folder, format="parquet").to_batches(
        columns=names, batch_size=CHUNK_ROWS
    ):
        for n in names:
            counted = pc.value_counts(batch.column(n))
            partials[n].append(
                pa.table({"KEY": counted.field("values"), "COUNT": counted.field("counts")})
            )
    return {
        n: pa.concat_tables(t).group_by("KEY").aggregate([("COUNT", "sum")])
        for n, t in partials.items()
    }


# ------------------------------------------------------------------------------------------
# Memory sampling and timing
# ------------------------------------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children + [d for c in children for d in _descendants(c)]


def _kind(pid: int, me: int) -> str:
    """``driver`` (this process), ``jvm`` (Spark's java) or ``workers`` (Python workers)."""
    if pid == me:
        return "driver"
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "workers"
    return "jvm" if comm == "java" else "workers"


KINDS = ("driver", "jvm", "workers")


class PeakMemory:
    """Peak RSS of this process (driver), Spark's JVM and the Python workers, each on its own
    and summed at the same instant (``total``); ``reset`` starts a new measurement."""

    def __init__(self) -> None:
        self.peak_kb = dict.fromkeys((*KINDS, "total"), 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def reset(self) -> None:
        self.peak_kb = dict.fromkeys(self.peak_kb, 0)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            now = dict.fromkeys(KINDS, 0)
            for pid in [me, *_descendants(me)]:
                now[_kind(pid, me)] += _rss_kb(pid)
            now["total"] = sum(now.values())
            self.peak_kb = {k: max(v, now[k]) for k, v in self.peak_kb.items()}
            time.sleep(0.2)

    def report(self) -> str:
        return ", ".join(f"{k} {self.peak_kb[k] / 1024:,.0f} MB" for k in self.peak_kb)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def check_same_counts(ours, baseline: dict[str, pa.Table]) -> None:
    """The scraper's exact raw counts equal the baseline's (before suppression)."""
    for name, table in baseline.items():
        expected = sorted(int(c) for c in table.column("COUNT_sum").to_pylist())
        got = sorted(int(c) for c in ours.loc[ours["FIELD_NAME"] == name, "COUNT"])
        if expected != got:
            raise SystemExit(f"frequency mismatch in {name}")


def spark_floor(df, casts) -> tuple[float, float]:
    """What Spark costs before any counting, on the frequency pass's own projection
    (``frequency_projection``: the columns the pass hands over, its marker columns included):
    ``(scan, scan + hand-over to Python)``. The first reads and decodes the Parquet columns in
    the JVM and discards them; the second also converts every row to Arrow and sends it to the
    Python workers, which discard it. No implementation of the pass can be faster than these."""
    from artificial_data.scraper.scrape.frequencies import _SPARK_SCHEMA, frequency_projection

    projection, _ = frequency_projection(df, casts)

    def discard(batches):
        for _ in batches:
            pass
        yield from ()

    _, scan = timed(lambda: projection.write.format("noop").mode("overwrite").save())
    _, handover = timed(lambda: projection.mapInArrow(discard, _SPARK_SCHEMA).collect())
    return scan, handover


def patient_floor(spec: DatasetSpec, df, casts) -> tuple[float, float, float]:
    """What Spark costs for the patient pass's shape with nothing computed per patient:
    ``(grouped, shuffled, handed)``; *handed* is the floor the target is measured against.

    Whatever it computes, the pass must read the patient key and the patient-level fields
    (through the same casts), derive the grouping key (``patient_id``: an episode without a key
    is its own patient) and bring every patient's episodes together, which in Spark is one
    exchange hashed by that key. *grouped* is that exchange under the cheapest aggregate that
    still reads every field: a per-patient count of each field (Spark's hash aggregation,
    combined map-side, so only partial counts cross the shuffle). *shuffled* instead moves every
    projected row across the exchange, as the pass's per-patient lists must when map-side
    combining saves nothing. Both results are discarded in the JVM. The second aggregation of
    the pass (counting patients per pattern) is left out: it is part of what the pass computes.

    *handed* is the same exchange with every row then handed over to the Python workers as
    Arrow and discarded there: the patient pass's counterpart of the frequency pass's floor,
    which issue 16 defines as scan + hand-over to Python with no counting. The pass computes
    its patterns in Python, as the frequency pass counts there, so this is its floor; the
    JVM-only two are printed beside it (on 1M APC rows the hand-over alone made the floor
    1.6x the exchange, session 11, docs/performance.md)."""
    from pyspark.sql import functions as F

    from artificial_data.scraper.scrape.patients import exchange_partitions, patient_id

    names = [f"f{i}" for i in range(len(casts))]
    projection = df.select(
        patient_id(spec).alias("pid"),
        *[
            (c.value if c.text is None else c.text).alias(n)
            for c, n in zip(casts, names, strict=True)
        ],
    )
    grouped = projection.groupBy("pid").agg(
        F.count(F.lit(1)).alias("episodes"), *[F.count(n).alias(n) for n in names]
    )
    shuffled = projection.repartition("pid")

    def discard(batches):
        for _ in batches:
            pass
        yield from ()

    handed = projection.repartition(exchange_partitions(df), "pid").mapInArrow(
        discard, "pid string"
    )
    _, t_grouped = timed(lambda: grouped.write.format("noop").mode("overwrite").save())
    _, t_shuffled = timed(lambda: shuffled.write.format("noop").mode("overwrite").save())
    _, t_handed = timed(lambda: handed.collect())
    return t_grouped, t_shuffled, t_handed


def _target(label: str, seconds: float, floor: float, limit: float) -> None:
    ratio = seconds / floor
    verdict = "met" if ratio <= limit else "NOT met"
    print(f"  {label:52s} {ratio:5.2f}x its floor (target <= {limit}x: {verdict})")


PARTS = ("freq", "passes", "floors")


def bench(
    spark,
    spec: DatasetSpec,
    rows: int,
    root: Path,
    memory: PeakMemory,
    parts=PARTS,
    repeats: int = 3,
) -> dict[str, float]:
    """Time one size; the baseline and the full scrape always run, ``parts`` chooses the rest:
    ``freq`` (the frequency pass, its counts checked against the baseline's), ``passes`` (the
    percentile and patient passes), ``floors`` (Spark's floors of the two passes)."""
    from artificial_data.scraper.scrape import read_source, scrape
    from artificial_data.scraper.scrape.casts import plan_casts
    from artificial_data.scraper.scrape.continuous import summarise_continuous
    from artificial_data.scraper.scrape.frequencies import count_values
    from artificial_data.scraper.scrape.patients import count_patient_patterns

    folder = root / f"{spec.dataset}_{rows}"
    generated = write_parquet(spec, rows, folder)
    size_mb = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 1e6
    how = "reused" if generated is None else f"wrote in {generated:.1f} s"
    print(f"\n{rows:,} rows: {size_mb:.0f} MB of Parquet ({how})")
    print(f"  load average before: {_load()}")
    memory.reset()

    baseline, t_base = timed(pyarrow_frequencies, spec, folder)
    out = {"base": t_base}

    def line(label: str, seconds: float) -> None:  # printed as measured: a long run shows progress
        print(f"  {label:52s} {seconds:6.1f} s  ratio {seconds / t_base:5.2f}", flush=True)

    print(f"  {'pyarrow baseline (frequencies, 1 process)':52s} {t_base:6.1f} s", flush=True)
    df = read_source(spark, spec, YEAR, str(folder))
    all_casts = plan_casts(spec, df.schema, YEAR)
    casts = [c for c in all_casts if c.field.name in baseline]
    continuous = [c for c in all_casts if c.value_type == mc.CONTINUOUS]
    patient = [c for c in all_casts if c.value_type in _PATIENT_TYPES]
    result, out["scrape"] = timed(scrape, df, spec, YEAR, True)
    line(f"full scrape ({len(result.rows):,} metadata rows)", out["scrape"])
    del result
    print(f"  peak resident memory (baseline, full scrape): {memory.report()}", flush=True)
    if "freq" in parts:
        counts = count_values(df, casts)
        check_same_counts(counts, baseline)
        del counts
    del baseline
    # Each pass and its floor are timed `repeats` times, one after the other in turn, so that
    # the machine's drift hits both alike; medians are reported.
    runs: dict[str, list[float]] = {}

    def measure(key: str, fn, *args) -> None:
        runs.setdefault(key, []).append(timed(fn, *args)[1])

    for _ in range(repeats):
        if "freq" in parts:
            measure("freq", count_values, df, casts)
        if "floors" in parts:
            scan, handover = spark_floor(df, casts)
            runs.setdefault("scan", []).append(scan)
            runs.setdefault("handover", []).append(handover)
        if "passes" in parts:
            measure("cont", summarise_continuous, df, continuous)
            measure("patients", count_patient_patterns, spec, df, patient)
        if "floors" in parts:
            grouped, shuffled, handed = patient_floor(spec, df, patient)
            runs.setdefault("pgrouped", []).append(grouped)
            runs.setdefault("pshuffled", []).append(shuffled)
            runs.setdefault("phanded", []).append(handed)
    med = {key: statistics.median(times) for key, times in runs.items()}
    out.update(med)

    def timed_line(label: str, key: str) -> None:
        shown = ", ".join(f"{t:.1f}" for t in runs[key])
        line(f"{label} [{shown}]", med[key])

    print(f"  medians of {repeats}, each run in brackets:")
    if "freq" in parts:
        timed_line(f"scraper frequency pass ({len(casts)} fields)", "freq")
    if "passes" in parts:
        timed_line(f"percentiles of {len(continuous)} continuous fields", "cont")
        timed_line(f"patient-level patterns ({len(patient)} fields + episodes)", "patients")
    if "floors" in parts:
        print("  Spark's floor for the frequency pass (no counting at all):")
        timed_line("  scan of the projection in the JVM, discarded", "scan")
        timed_line("  scan + hand-over of every row to Python, discarded", "handover")
        print("  Spark's floor for the patient pass (nothing computed per patient):")
        timed_line("  key + fields grouped by patient, counts discarded", "pgrouped")
        timed_line("  key + fields shuffled by patient, discarded", "pshuffled")
        timed_line("  shuffled by patient + hand-over to Python, discarded", "phanded")
        if "freq" in med:
            _target("frequency pass / (scan + hand-over)", med["freq"], med["handover"], 1.2)
        if "patients" in med:
            _target("patient pass / (exchange + hand-over)", med["patients"], med["phanded"], 1.5)
            jvm = min(med["pgrouped"], med["pshuffled"])
            ratio = med["patients"] / jvm
            print(f"  {'patient pass / JVM-only floor':52s} {ratio:5.2f}x (not the target)")
    print(f"  peak resident memory (all parts): {memory.report()}")
    print(f"  load average after: {_load()}", flush=True)
    return out


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="hes_apc")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="0: run --rows only")
    parser.add_argument("--workdir", default=None, help="where to write temporary Parquet data")
    parser.add_argument("--data", default=None, help="keep the Parquet data here and reuse it")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each pass and floor (medians)"
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated, of {', '.join(PARTS)}; baseline and full scrape always run",
    )
    args = parser.parse_args()
    parts = {p for p in args.parts.split(",") if p}
    if parts - set(PARTS):
        parser.error(f"unknown parts {sorted(parts - set(PARTS))}; choose from {PARTS}")

    from artificial_data.common.spark import get_spark

    spec = load_spec(args.dataset)
    with (
        tempfile.TemporaryDirectory(dir=args.workdir) as tmp,
        PeakMemory() as memory,
    ):
        root = Path(args.data) if args.data else Path(tmp)
        spark = get_spark("local[2]", app_name="bench_scraper")
        spark.sparkContext.setLogLevel("ERROR")
        bench(spark, spec, 20_000, root, memory, parts, 1)  # warm-up: JVM JIT, Python workers
        small = (
            bench(spark, spec, args.small, root, memory, parts, args.repeats)
            if args.small
            else None
        )
        large = bench(spark, spec, args.rows, root, memory, parts, args.repeats)
        spark.stop()
    if small is not None:
        factor = args.rows / args.small
        print(f"\nscaling {args.small:,} -> {args.rows:,} rows ({factor:.0f}x):")
        for key, label in (  # the parts that ran
            ("freq", "frequency pass"),
            ("patients", "patient pass"),
            ("scrape", "full scrape"),
            ("base", "pyarrow baseline"),
            ("scan", "Spark scan floor"),
        ):
            if key in large:
                print(f"  {label:17s} {large[key] / small[key]:5.1f}x time")
    print(f"cpus: {os.cpu_count()}, load average at end: {_load()}")


if __name__ == "__main__":
    main()
