"""Patient-level summaries in one grouping by the patient key (DESIGN §6, §8).

The generator creates patients first, so it needs, per dataset: the distribution of episodes
per patient (RELATIONSHIP), the pattern of each patient-level categorical across a patient's
episodes (e.g. SEX always '1', or ETHNOS 70% 'A' / 30% 'Z') and, for a patient-level date
(MYDOB), the modal value with the share of episodes that agree with it. All of this comes from
one ``groupBy(patient key)`` whose per-patient results are then counted in one more
aggregation; only pattern counts reach the driver, never a patient. Before that grouping, the
episodes of a patient that agree on every field are counted together (a hash aggregation that
Spark combines before the shuffle), so the grouping lists value combinations, not episodes.

An episode without a patient key cannot be linked to any other episode, so it counts as a
patient with one episode (grouping all of them together would invent one huge patient).

Text that is not valid UTF-8 is null in the values (see ``casts``); the same grouping counts
it per patient and keeps one such value as hex, under a marked field name, so that the scrape
fails naming the field and the first invalid byte without another scan.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.scraper.scrape.casts import FieldCast
from artificial_data.scraper.scrape.errors import invalid_utf8_error
from artificial_data.scraper.scrape.frequencies import INVALID_PREFIX

#: VALUE_TYPE of the entries that count, per patient, the values of a field that are not UTF-8.
_INVALID = "INVALID_UTF8"

_ENTRY = (
    "struct<FIELD_NAME:string,VALUE_TYPE:string,VALUES:array<string>,SHARES:array<double>,"
    "VALUE:string,NUMBER:double>"
)


def _entry(field: str, value_type: str, values=None, shares=None, value=None, number=None):
    return F.struct(
        F.lit(field).alias("FIELD_NAME"),
        F.lit(value_type).alias("VALUE_TYPE"),
        (values if values is not None else F.lit(None)).cast("array<string>").alias("VALUES"),
        (shares if shares is not None else F.lit(None)).cast("array<double>").alias("SHARES"),
        (value if value is not None else F.lit(None)).cast("string").alias("VALUE"),
        (number if number is not None else F.lit(None)).cast("double").alias("NUMBER"),
    )


def patient_id(spec: DatasetSpec) -> Column:
    """The grouping key: the patient key as text, or a key of its own for an episode without
    one (a unique id behind a NUL, which no real key can contain)."""
    return F.coalesce(
        F.col(spec.patient_key).cast("string"),
        F.concat(F.lit("\u0000episode-"), F.monotonically_increasing_id().cast("string")),
    )


def count_patient_patterns(
    spec: DatasetSpec, df: DataFrame, casts: list[FieldCast]
) -> pd.DataFrame:
    """Raw counts of patients per pattern: columns FIELD_NAME, VALUE_TYPE, VALUES, SHARES,
    VALUE, NUMBER, COUNT. RELATIONSHIP rows carry the episodes per patient in NUMBER."""
    names = [f"f{i}" for i in range(len(casts))]
    checked = [(i, c) for i, c in enumerate(casts) if c.invalid is not None]
    projection = [patient_id(spec).alias("pid")]
    projection += [c.value.alias(n) for c, n in zip(casts, names, strict=True)]
    projection += [c.invalid.alias(f"u{i}") for i, c in checked]
    # First the episodes of a patient that agree on every field are counted together: Spark's
    # hash aggregation, combined before the shuffle, and a patient's episodes mostly agree. Only
    # these combinations (with their episode count n) are then listed per patient: collecting
    # one object per episode instead cost several times the scan (benchmarks/bench_scraper.py).
    combinations = (
        df.select(*projection)
        .groupBy("pid", *names, *[f"u{i}" for i, _ in checked])
        .agg(F.count(F.lit(1)).alias("n"))
    )
    aggs = [F.sum("n").alias("episodes"), F.collect_list(F.struct(*names, "n")).alias("c")]
    for i, _ in checked:
        invalid_episodes = F.sum(F.when(F.col(f"u{i}").isNotNull(), F.col("n")))
        aggs += [
            F.coalesce(invalid_episodes, F.lit(0)).alias(f"un{i}"),
            F.min(f"u{i}").alias(f"uv{i}"),
        ]
    per_patient = combinations.groupBy("pid").agg(*aggs)

    def episodes_with(i: int) -> str:  # episodes of the patient whose field i is u (null too)
        return f"aggregate(filter(c, s -> s.f{i} <=> u), 0L, (a, s) -> a + s.n)"

    # Each patient's sorted distinct values, and a date's modal value, get a column of their own
    # that the entries then reference: written inline, every reference re-evaluated them, since
    # Spark interprets higher-order functions row by row. Spark keeps such a column rather than
    # inlining it when it is referenced twice.
    per_patient = per_patient.select(
        "*",
        *[  # nulls sort last
            F.expr(f"array_sort(array_distinct(transform(c, s -> s.f{i})))").alias(f"d{i}")
            for i in range(len(casts))
        ],
    )
    per_patient = per_patient.select(
        "*",
        *[  # modal value (ties: the greatest value) with its number of episodes
            F.expr(
                f"array_max(transform(d{i}, u -> named_struct('c', {episodes_with(i)}, 'v', u)))"
            ).alias(f"m{i}")
            for i, cast in enumerate(casts)
            if cast.value_type == mc.DEMOGRAPHIC_DATE
        ],
    )

    entries = [_entry(spec.patient_key, mc.RELATIONSHIP, number=F.col("episodes"))]
    for i, cast in checked:  # only patients with such values: null entries are dropped below
        invalid = _entry(
            INVALID_PREFIX + cast.field.name,
            _INVALID,
            value=F.col(f"uv{i}"),
            number=F.col(f"un{i}"),
        )
        entries.append(F.when(F.col(f"un{i}") > 0, invalid))
    for i, cast in enumerate(casts):
        if cast.value_type == mc.DEMOGRAPHIC_CATEGORICAL:
            shares = f"transform(d{i}, u -> round({episodes_with(i)} / episodes, 1))"
            entries.append(
                _entry(
                    cast.field.name, cast.value_type, values=F.col(f"d{i}"), shares=F.expr(shares)
                )
            )
        else:  # DEMOGRAPHIC_DATE: modal value and the share of episodes that agree with it
            entries.append(
                _entry(
                    cast.field.name,
                    cast.value_type,
                    value=F.col(f"m{i}.v"),
                    number=F.expr(f"round(m{i}.c / episodes, 2)"),
                )
            )
    patterns = (
        per_patient.select(F.explode(F.array_compact(F.array(*entries))).alias("e"))
        .select("e.*")
        .groupBy("FIELD_NAME", "VALUE_TYPE", "VALUES", "SHARES", "VALUE", "NUMBER")
        .agg(F.count(F.lit(1)).alias("COUNT"))
    )
    out = patterns.toPandas()
    out["COUNT"] = out["COUNT"].astype("int64")
    _raise_for_invalid_text(out, [c for _, c in checked])
    # plain Python values, so that the content hash never sees numpy scalars
    out["VALUES"] = out["VALUES"].map(
        lambda v: None if v is None else [None if x is None else str(x) for x in v]
    )
    out["SHARES"] = out["SHARES"].map(lambda v: None if v is None else [float(x) for x in v])
    out["NUMBER"] = out["NUMBER"].astype(float)
    return out


def _raise_for_invalid_text(patterns: pd.DataFrame, casts: list[FieldCast]) -> None:
    """Raise naming the first field (schema order) with values that are not UTF-8."""
    invalid = patterns[patterns["VALUE_TYPE"] == _INVALID]
    for cast in casts:
        rows = invalid[invalid["FIELD_NAME"] == INVALID_PREFIX + cast.field.name]
        if not rows.empty:
            values = int((rows["NUMBER"] * rows["COUNT"]).sum())
            raise invalid_utf8_error(cast, min(rows["VALUE"]), values)
