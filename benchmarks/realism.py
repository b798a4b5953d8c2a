"""Realism of artificial HES against its (simulated) raw source: issue 13's table.

    PYTHONPATH=. python benchmarks/realism.py [--rows 200000] [--datasets hes_apc,hes_ae]
                                              [--year 2223] [--cache /tmp/realism_cache]

Not a test and not timed. For each dataset it simulates ``rows`` raw rows, scrapes them on
local Spark (the scraper's own code, so the metadata is exactly what would be released), then
generates ``rows`` artificial rows from that metadata (the generator's numpy path) and prints
the same measures on both: median SPELDUR / EPIDUR, same-day episodes, Jan-Mar share of
ADMIDATE / DISDATE, EPIDUR filled where EPIEND is empty, rows with a gap in positional code
groups, AE EPIKEY fill, patients with mixed SEX / ETHNOS, birth month after admission, the
share of episodes of patients with more than k episodes, chain consistency, and the number of
fields whose distance to the metadata is above QA's noise threshold.

Raw tables and metadata are cached under ``--cache`` (metadata keyed on the scraper's source,
so a scraper change re-scrapes).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DatasetSpec, load_spec

PLACEHOLDER_FLOOR = np.datetime64("1900-01-01")
ROOT = Path(__file__).resolve().parent.parent


def _source_key() -> str:
    """A hash of the code that shapes the metadata (scraper, common, simulator)."""
    digest = hashlib.sha256()
    for folder in ("scraper", "common", "simulator"):
        folder = f"artificial_data/{folder}"
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".yaml"):
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def raw_table(spec: DatasetSpec, year: str, rows: int, cache: Path) -> Path:
    from artificial_data.simulator import simulate_chunks

    sim_key = hashlib.sha256()
    for path in sorted((ROOT / "artificial_data/simulator").rglob("*.py")):
        sim_key.update(path.read_bytes())
    path = cache / f"raw_{spec.dataset}_{year}_{rows}_{sim_key.hexdigest()[:8]}.parquet"
    if not path.exists():
        tables = list(simulate_chunks(spec, year, rows, seed=13))
        pq.write_table(pa.concat_tables(tables), path)
    return path


def scraped_metadata(spec: DatasetSpec, year: str, raw: Path, cache: Path) -> pd.DataFrame:
    path = cache / f"md_{raw.stem}_{_source_key()}.parquet"
    if not path.exists():
        from artificial_data.common.spark import get_spark
        from artificial_data.scraper.scrape import scrape

        spark = get_spark("local[2]", app_name="realism")
        result = scrape(spark.read.parquet(str(raw)), spec, year, simulated_source=True)
        pq.write_table(mc.to_arrow(result.rows), path)
    return mc.from_arrow(pq.read_table(path))


def artificial_table(spec: DatasetSpec, year: str, metadata: pd.DataFrame, rows: int) -> pa.Table:
    from artificial_data.generator.engine import (
        DEFAULT_CHUNK_ROWS,
        chunk_bounds,
        generate_chunk,
        generation_seed,
    )

    seed = generation_seed("realism", spec.dataset, year)
    parts = [
        generate_chunk(metadata, spec, year, index, size, seed, first)
        for index, first, size in chunk_bounds(rows, DEFAULT_CHUNK_ROWS)
    ]
    return pa.concat_tables(parts)


# ------------------------------------------------------------------------------ measures


def _days(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(dates as datetime64[D], real-date mask) of a date column."""
    col = table.column(name)
    if not pa.types.is_date(col.type):
        col = pc.cast(pc.cast(col, pa.string()), pa.date32(), safe=False)
    arr = col.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    real = ~np.isnat(arr)
    real[real] = arr[real] >= PLACEHOLDER_FLOOR
    return arr, real


def _numbers(table: pa.Table, name: str) -> np.ndarray:
    return pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False)


def _q1_share(table: pa.Table, name: str) -> float:
    days, real = _days(table, name)
    month = days[real].astype("datetime64[M]").astype(np.int64) % 12 + 1
    return float(np.isin(month, [1, 2, 3]).mean()) if len(month) else float("nan")


def _filled(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).is_valid().to_numpy(zero_copy_only=False)


def _gap_share(table: pa.Table, names: list[str]) -> float:
    """Rows where some position is empty while a later one is filled."""
    if not names:
        return float("nan")
    filled = np.stack([_non_empty(table, n) for n in names], axis=1)
    later = np.flip(np.logical_or.accumulate(np.flip(filled, axis=1), axis=1), axis=1)
    gap = (~filled[:, :-1]) & later[:, 1:]
    return float(gap.any(axis=1).mean())


def _non_empty(table: pa.Table, name: str) -> np.ndarray:
    col = pc.cast(table.column(name), pa.string())
    return pc.fill_null(pc.not_equal(col, ""), False).to_numpy(zero_copy_only=False)


def _mixed(table: pa.Table, spec: DatasetSpec, name: str) -> float:
    frame = pd.DataFrame(
        {
            "p": table.column(spec.patient_key).to_numpy(zero_copy_only=False),
            "v": pc.fill_null(pc.cast(table.column(name), pa.string()), "\0").to_numpy(
                zero_copy_only=False
            ),
        }
    )
    distinct = frame.groupby("p", sort=False)["v"].nunique()
    return float((distinct > 1).mean())


def _metadata_mixed(metadata: pd.DataFrame, name: str) -> float:
    rows = metadata[metadata["FIELD_NAME"] == name]
    if rows.empty:
        return float("nan")
    sizes = rows["VALUE_STRING_ARRAY"].map(len)
    return float(rows.loc[sizes > 1, "WEIGHT"].sum() / rows["WEIGHT"].sum())


def _birth_after(table: pa.Table, birth: str, at: str) -> float:
    text = pc.cast(table.column(birth), pa.string()).to_numpy(zero_copy_only=False)
    at_days, real = _days(table, at)
    ok = np.array(
        [isinstance(t, str) and re.fullmatch(r"(0[1-9]|1[0-2])\d{4}", t) is not None for t in text]
    )
    use = ok & real
    month = np.array([int(t[:2]) for t in text[use]])
    year = np.array([int(t[2:]) for t in text[use]])
    born = ((year - 1970) * 12 + month - 1).astype("datetime64[M]").astype("datetime64[D]")
    return float((born > at_days[use]).sum() / max(len(text), 1))


def heavy_user_shares(table: pa.Table, spec: DatasetSpec, ks=(1, 2, 5, 10, 20, 50)) -> dict:
    sizes = (
        table.column(spec.patient_key).value_counts().field("counts").to_numpy(zero_copy_only=False)
    )
    total = sizes.sum()
    return {k: float(sizes[sizes > k].sum() / total) for k in ks}


def _chain_consistency(table: pa.Table, spec: DatasetSpec) -> float:
    ok = np.ones(table.num_rows, dtype=bool)
    for chain in spec.date_chains:
        last = np.full(table.num_rows, np.datetime64("1000-01-01"), dtype="datetime64[D]")
        for name in chain:
            days, real = _days(table, name)
            ok &= ~real | (days >= last)
            last = np.where(real, days, last)
    return float(ok.mean())


def _duration_consistency(table: pa.Table, spec: DatasetSpec) -> float:
    ok = np.ones(table.num_rows, dtype=bool)
    for d in spec.durations:
        s, rs = _days(table, d.start)
        e, re_ = _days(table, d.end)
        value = _numbers(table, d.field)
        both = rs & re_
        diff = (e - s).astype(np.float64)
        ok &= np.where(both, value == diff, np.isnan(value))
    return float(ok.mean())


def _minutes(table: pa.Table, name: str) -> np.ndarray:
    text = pc.cast(table.column(name), pa.string()).to_numpy(zero_copy_only=False)
    return np.array([int(t[:2]) * 60 + int(t[2:]) if isinstance(t, str) else np.nan for t in text])


def _clock_consistency(table: pa.Table, spec: DatasetSpec) -> float:
    ok = np.ones(table.num_rows, dtype=bool)
    for d in spec.clock_durations:
        start, end, dur = _minutes(table, d.start), _minutes(table, d.end), _numbers(table, d.field)
        known = ~np.isnan(start) & ~np.isnan(dur)
        ok &= np.where(known, (start + dur) % 1440 == end, np.isnan(end))
    return float(ok.mean())


def _fields_over_threshold(table: pa.Table, spec: DatasetSpec, metadata: pd.DataFrame):
    from artificial_data.generator.qa.expected import build_expectations
    from artificial_data.generator.qa.fields import analyse_fields

    outcomes = analyse_fields(table, spec, build_expectations(metadata, spec))
    over = [o.name for o in outcomes if not o.distance.within_noise]
    failed = [o.name for o in outcomes if o.distance.failed]
    return over, failed


def _median(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else float("nan")


def measures(table: pa.Table, spec: DatasetSpec) -> dict[str, float]:
    names = set(table.column_names)
    out: dict[str, float] = {}
    if "SPELDUR" in names:
        out["median SPELDUR (days)"] = _median(_numbers(table, "SPELDUR"))
    if "EPIDUR" in names:
        epidur = _numbers(table, "EPIDUR")
        out["median EPIDUR (days)"] = _median(epidur)
        out["same-day episodes (EPIDUR 0)"] = float(np.mean(epidur[~np.isnan(epidur)] == 0))
        _, real_end = _days(table, "EPIEND")
        out["EPIDUR filled where EPIEND empty"] = float((~np.isnan(epidur[~real_end])).mean())
    for name in ("ADMIDATE", "DISDATE", "APPTDATE", "REQDATE", "ARRIVALDATE"):
        if name in names:
            out[f"{name} in Jan-Mar"] = _q1_share(table, name)
    if "WAITING" in names:
        out["median WAITING (days)"] = _median(_numbers(table, "WAITING"))
    for group in (r"DIAG_4_\d\d", r"OPERTN_4_\d\d", r"DIAG3_\d\d", r"TREAT3_\d\d", r"INVEST2_\d\d"):
        members = [n for n in spec.field_names if re.fullmatch(group, n)]
        if members:
            out[f"rows with a gap in {group.replace(chr(92) + 'd', '#')}"] = _gap_share(
                table, members
            )
    if "EPIKEY" in names and spec.primary_key != "EPIKEY":
        out["EPIKEY filled"] = float(_filled(table, "EPIKEY").mean())
    if "AEKEY" in names and spec.primary_key != "AEKEY":
        out["AEKEY filled"] = float(_filled(table, "AEKEY").mean())
    for name in ("SEX", "ETHNOS"):
        if name in names:
            out[f"patients with mixed {name}"] = _mixed(table, spec, name)
    if "MYDOB" in names and "ADMIDATE" in names:
        out["rows: birth month after ADMIDATE"] = _birth_after(table, "MYDOB", "ADMIDATE")
    if "STARTAGE" in names:
        out["STARTAGE null"] = float(1 - _filled(table, "STARTAGE").mean())
    for k, share in heavy_user_shares(table, spec).items():
        out[f"episodes of patients with > {k} episodes"] = share
    if spec.clock_durations:
        out["AE times = start + duration (null where either is)"] = _clock_consistency(table, spec)
        durs = [d.field for d in spec.clock_durations]
        values = np.stack([_numbers(table, d) for d in durs], axis=1)
        both = ~np.isnan(values).any(axis=1)
        ordered = (np.diff(values[both], axis=1) >= 0).all(axis=1)
        out[f"AE {' <= '.join(durs)} (where all filled)"] = float(ordered.mean())
    if "INITDUR" in names:
        out["median INITDUR (minutes)"] = _median(_numbers(table, "INITDUR"))
    if spec.date_chains:
        out["date chains consistent"] = _chain_consistency(table, spec)
    if spec.durations:
        out["durations = end - start (null where a date is not real)"] = _duration_consistency(
            table, spec
        )
    return out


def run(dataset: str, year: str, rows: int, cache: Path) -> None:
    spec = load_spec(dataset)
    raw_path = raw_table(spec, year, rows, cache)
    metadata = scraped_metadata(spec, year, raw_path, cache)
    raw = pq.read_table(raw_path)
    art = artificial_table(spec, year, metadata, rows)
    m_raw, m_art = measures(raw, spec), measures(art, spec)
    print(f"\n## {dataset} {year}: {rows:,} raw rows vs {rows:,} artificial rows\n")
    print("| measure | raw | artificial |\n|---|---:|---:|")
    for key in m_raw:
        print(f"| {key} | {_fmt(key, m_raw[key])} | {_fmt(key, m_art[key])} |")
    for name in ("SEX", "ETHNOS"):
        if name in spec.field_names:
            print(
                f"| metadata: patients with mixed {name} | "
                f"{_fmt('share', _metadata_mixed(metadata, name))} | |"
            )
    over, failed = _fields_over_threshold(art, spec, metadata)
    print(f"\nfields above QA's noise threshold: {len(over)} {over[:25]}")
    print(f"fields beyond QA's blocking limit: {len(failed)} {failed[:25]}")


def _fmt(key: str, value: float) -> str:
    if np.isnan(value):
        return "-"
    if "median" in key:
        return f"{value:g}"
    return f"{100 * value:.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--datasets", default="hes_apc,hes_op,hes_ae")
    parser.add_argument("--year", default="2223")
    parser.add_argument("--cache", default="/tmp/realism_cache")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets.split(","):
        run(dataset.strip(), args.year, args.rows, cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
