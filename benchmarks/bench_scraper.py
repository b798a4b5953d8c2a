"""Benchmark of the metadata scraper on local Spark (not a test; run it by hand).

    PYTHONPATH=. python benchmarks/bench_scraper.py [--rows 1000000] [--small 100000]

For each size it writes a simulated APC year as Parquet (the project's simulator if importable,
otherwise a simple generator in this script: every field of the spec, plausible values, rare
values), then in the same run:
  * scrapes it with ``artificial_data.scraper.scrape.scrape`` on local Spark (session start-up
    excluded, one warm-up scrape first);
  * times the frequency pass alone (``count_values``), the part comparable to the baseline,
    and the percentile and patient passes separately;
  * times Spark's floor for the frequency pass: the same projection scanned and discarded in
    the JVM, and scanned and handed over to the Python workers, with no counting at all;
  * computes the same frequency tables with plain single-process pyarrow (read the Parquet
    columns, ``value_counts`` per column, merge) as the baseline.
It prints the times, the ratios against the baseline, the scaling ratio between the two sizes
(target: 10x rows costs <= 11x time) and the peak resident memory of the driver, the JVM and
the Python workers (sampled from /proc).
"""

from __future__ import annotations

import argparse
import os
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


def write_parquet(spec: DatasetSpec, rows: int, folder: Path, seed: int = 7) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for i, table in enumerate(_chunks(spec, rows, seed)):
        pq.write_table(table, folder / f"part-{i:05d}.parquet", row_group_size=CHUNK_ROWS)
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


class PeakMemory:
    """Peak summed RSS of this process and all its descendants (JVM, Python workers)."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            total = sum(_rss_kb(p) for p in [me, *_descendants(me)])
            self.peak_kb = max(self.peak_kb, total)
            time.sleep(0.2)

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
    """What Spark costs before any counting, on the frequency pass's own projection:
    ``(scan, scan + hand-over to Python)``. The first reads and decodes the Parquet columns in
    the JVM and discards them; the second also converts every row to Arrow and sends it to the
    Python workers, which discard it. No implementation of the pass can be faster than these."""
    from artificial_data.scraper.scrape.frequencies import _SPARK_SCHEMA

    projection = df.select(*[c.value.alias(f"v{i}") for i, c in enumerate(casts)])

    def discard(batches):
        for _ in batches:
            pass
        yield from ()

    _, scan = timed(lambda: projection.write.format("noop").mode("overwrite").save())
    _, handover = timed(lambda: projection.mapInArrow(discard, _SPARK_SCHEMA).collect())
    return scan, handover


def bench(spark, spec: DatasetSpec, rows: int, root: Path) -> dict[str, float]:
    from artificial_data.scraper.scrape import read_source, scrape
    from artificial_data.scraper.scrape.casts import plan_casts
    from artificial_data.scraper.scrape.continuous import summarise_continuous
    from artificial_data.scraper.scrape.frequencies import count_values
    from artificial_data.scraper.scrape.patients import count_patient_patterns

    folder = root / f"{spec.dataset}_{rows}"
    generated = write_parquet(spec, rows, folder)
    size_mb = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 1e6
    print(f"\n{rows:,} rows: wrote {size_mb:.0f} MB of Parquet in {generated:.1f} s")

    baseline, t_base = timed(pyarrow_frequencies, spec, folder)
    df = read_source(spark, spec, YEAR, str(folder))
    all_casts = plan_casts(spec, df.schema, YEAR)
    casts = [c for c in all_casts if c.field.name in baseline]
    counts, t_freq = timed(count_values, df, casts)
    check_same_counts(counts, baseline)
    continuous = [c for c in all_casts if c.value_type == mc.CONTINUOUS]
    patient = [c for c in all_casts if c.value_type in _PATIENT_TYPES]
    _, t_cont = timed(summarise_continuous, df, continuous)
    _, t_pat = timed(count_patient_patterns, spec, df, patient)
    t_scan, t_handover = spark_floor(df, casts)
    result, t_scrape = timed(scrape, df, spec, YEAR, True)

    def line(label: str, seconds: float) -> None:
        print(f"  {label:52s} {seconds:6.1f} s  ratio {seconds / t_base:5.2f}")

    print(f"  {'pyarrow baseline (frequencies, 1 process)':52s} {t_base:6.1f} s")
    line(f"scraper frequency pass ({len(casts)} fields, Spark local[2])", t_freq)
    line(f"full scrape ({len(result.rows):,} metadata rows)", t_scrape)
    print("  of which, measured separately:")
    line(f"  percentiles of {len(continuous)} continuous fields", t_cont)
    line(f"  patient-level patterns ({len(patient)} fields + episodes)", t_pat)
    print("  Spark's floor for the frequency pass (no counting at all):")
    line("  scan of the projection in the JVM, discarded", t_scan)
    line("  scan + hand-over of every row to Python, discarded", t_handover)
    return {
        "base": t_base,
        "freq": t_freq,
        "scrape": t_scrape,
        "scan": t_scan,
        "handover": t_handover,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="hes_apc")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--workdir", default=None, help="where to write the Parquet data")
    args = parser.parse_args()

    from artificial_data.common.spark import get_spark

    spec = load_spec(args.dataset)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp, PeakMemory() as memory:
        spark = get_spark("local[2]", app_name="bench_scraper")
        spark.sparkContext.setLogLevel("ERROR")
        warm = bench(spark, spec, 20_000, Path(tmp))  # warm-up: JVM JIT, Python workers
        del warm
        small = bench(spark, spec, args.small, Path(tmp))
        large = bench(spark, spec, args.rows, Path(tmp))
        spark.stop()
    factor = args.rows / args.small
    print(f"\nscaling {args.small:,} -> {args.rows:,} rows ({factor:.0f}x):")
    for key, label in (
        ("freq", "frequency pass"),
        ("scrape", "full scrape"),
        ("base", "pyarrow baseline"),
        ("scan", "Spark scan floor"),
    ):
        print(f"  {label:17s} {large[key] / small[key]:5.1f}x time")
    print(f"peak resident memory (driver + JVM + workers): {memory.peak_kb / 1024:.0f} MB")
    print(f"cpus: {os.cpu_count()}, load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
