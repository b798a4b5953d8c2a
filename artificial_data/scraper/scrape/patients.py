"""Patient-level summaries in one grouping by the patient key (DESIGN §6, §8).

The generator creates patients first, so it needs, per dataset: the distribution of episodes
per patient (RELATIONSHIP), the pattern of each patient-level categorical across a patient's
episodes (e.g. SEX always '1', or ETHNOS 70% 'A' / 30% 'Z') and, for a patient-level date
(MYDOB), the modal value with the share of episodes that agree with it.

All of this comes from one exchange hashed by the patient key, so that every episode of a
patient is in one partition. Its episodes go to the Python workers as Arrow, where
``patient_arrays`` computes each partition's patterns with integer array operations and counts
patients per pattern; the driver adds the partitions' counts (a small Arrow table). Only pattern
counts leave a worker and reach the driver, never a patient. The earlier design (per-patient
``collect_list`` and SQL higher-order functions, which Spark interprets row by row) took 5-7x
longer on 1M APC rows (docs/performance.md).

An episode without a patient key cannot be linked to any other episode, so it counts as a
patient with one episode (grouping all of them together would invent one huge patient).

Text that is not valid UTF-8 counts as null in the patterns. Text fields reach the worker as
read, and the worker checks their distinct values (``unchecked_text``); the same pass counts the
invalid values per partition and keeps the least as hex, under a marked field name, so that the
scrape fails naming the field and the first invalid byte without another scan.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.scraper.scrape.casts import FieldCast
from artificial_data.scraper.scrape.errors import invalid_utf8_error
from artificial_data.scraper.scrape.frequencies import INVALID_PREFIX
from artificial_data.scraper.scrape.patient_arrays import (
    INVALID,
    PatternField,
    map_partitions,
    sum_partials,
)

#: :data:`SCHEMA` as Spark declares it for ``mapInArrow``.
_SPARK_SCHEMA = (
    "FIELD_NAME string, VALUE_TYPE string, VALUES array<string>, SHARES array<double>, "
    "VALUE string, NUMBER double, COUNT bigint"
)


def patient_id(spec: DatasetSpec) -> Column:
    """The grouping key: the patient key as text, or a key of its own for an episode without
    one (a unique id behind a NUL, which no real key can contain)."""
    return F.coalesce(
        F.col(spec.patient_key).cast("string"),
        F.concat(F.lit("\u0000episode-"), F.monotonically_increasing_id().cast("string")),
    )


def exchange_partitions(df: DataFrame) -> int:
    """Partitions of the patient exchange: at least one per scanned input split.

    A Python worker holds one whole partition of episodes (a patient's rows may be
    in any of its batches), so the partition count must grow with the data: with the session's
    few shuffle partitions alone (4 locally), 10M rows would put 2.5M in each worker. Spark
    Connect exposes no input splits; its sessions run on clusters whose shuffle partitions are
    sized for the data already.
    """
    shuffle = int(df.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    try:
        splits = df.rdd.getNumPartitions()
    except Exception:  # Spark Connect: no RDD API
        return shuffle
    return max(shuffle, splits)


def count_patient_patterns(
    spec: DatasetSpec, df: DataFrame, casts: list[FieldCast]
) -> pd.DataFrame:
    """Raw counts of patients per pattern: columns FIELD_NAME, VALUE_TYPE, VALUES, SHARES,
    VALUE, NUMBER, COUNT. RELATIONSHIP rows carry the episodes per patient in NUMBER."""
    names = [f"f{i}" for i in range(len(casts))]
    # Text is handed over as read and checked in the worker, on its distinct values (Spark's
    # per-row check cost about a fifth of the pass); other casts bring Spark's hex column.
    checked = [(i, c) for i, c in enumerate(casts) if c.text is None and c.invalid is not None]
    projection = [patient_id(spec).alias("pid")]
    projection += [
        (c.value if c.text is None else c.text).alias(n) for c, n in zip(casts, names, strict=True)
    ]
    projection += [c.invalid.alias(f"u{i}") for i, c in checked]
    invalid = {i: f"u{i}" for i, _ in checked}
    fields = [
        PatternField(
            cast.field.name,
            cast.value_type,
            names[i],
            invalid.get(i),
            INVALID_PREFIX + cast.field.name if cast.invalid is not None else None,
            unchecked=cast.text is not None,
        )
        for i, cast in enumerate(casts)
    ]
    # One exchange: every episode of a patient lands in one partition, and its rows go to
    # Python as Arrow as they are. Counting the episodes that agree on every field in the JVM
    # first halved the rows handed over, but on 1M APC rows that count plus the hand-over of
    # its 497,403 combinations took 1.48 s against 1.3 s for handing over every row
    # (docs/performance.md, sessions 11 and 12).
    episodes = df.select(*projection).repartition(exchange_partitions(df), "pid")
    partial = episodes.mapInArrow(map_partitions(spec.patient_key, fields), _SPARK_SCHEMA)
    out = sum_partials(partial.toArrow())
    _raise_for_invalid_text(out, [c for c in casts if c.invalid is not None])
    return out


def _raise_for_invalid_text(patterns: pd.DataFrame, casts: list[FieldCast]) -> None:
    """Raise naming the first field (schema order) with values that are not UTF-8."""
    invalid = patterns[patterns["VALUE_TYPE"] == INVALID]
    for cast in casts:
        rows = invalid[invalid["FIELD_NAME"] == INVALID_PREFIX + cast.field.name]
        if not rows.empty:
            values = int((rows["NUMBER"] * rows["COUNT"]).sum())
            raise invalid_utf8_error(cast, min(rows["VALUE"]), values)
