"""Patient-level summaries in one grouping by the patient key (DESIGN §6, §8).

The generator creates patients first, so it needs, per dataset: the distribution of episodes
per patient (RELATIONSHIP), the pattern of each patient-level categorical across a patient's
episodes (e.g. SEX always '1', or ETHNOS 70% 'A' / 30% 'Z') and, for a patient-level date
(MYDOB), the modal value with the share of episodes that agree with it. All of this comes from
one ``groupBy(patient key)`` whose per-patient results are then counted in one more
aggregation; only pattern counts reach the driver, never a patient.

An episode without a patient key cannot be linked to any other episode, so it counts as a
patient with one episode (grouping all of them together would invent one huge patient).

Text that is not valid UTF-8 is null in the values (see ``casts``); the same grouping counts
it per patient and keeps one such value as hex, under a marked field name, so that the scrape
fails naming the field and the first invalid byte without another scan.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
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


def count_patient_patterns(
    spec: DatasetSpec, df: DataFrame, casts: list[FieldCast]
) -> pd.DataFrame:
    """Raw counts of patients per pattern: columns FIELD_NAME, VALUE_TYPE, VALUES, SHARES,
    VALUE, NUMBER, COUNT. RELATIONSHIP rows carry the episodes per patient in NUMBER."""
    key = F.coalesce(
        F.col(spec.patient_key).cast("string"),
        F.concat(F.lit("\u0000episode-"), F.monotonically_increasing_id().cast("string")),
    )
    projection = [key.alias("pid")] + [c.value.alias(f"f{i}") for i, c in enumerate(casts)]
    # collect_list drops nulls, so each value is wrapped in a struct to keep null as a value.
    aggs = [F.count(F.lit(1)).alias("episodes")] + [
        F.collect_list(F.struct(F.col(f"f{i}").alias("v"))).alias(f"f{i}")
        for i in range(len(casts))
    ]
    checked = [(i, c) for i, c in enumerate(casts) if c.invalid is not None]
    projection += [c.invalid.alias(f"u{i}") for i, c in checked]
    for i, _ in checked:
        aggs += [F.count(f"u{i}").alias(f"un{i}"), F.min(f"u{i}").alias(f"uv{i}")]
    per_patient = df.select(*projection).groupBy("pid").agg(*aggs)

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
        vals = f"transform(f{i}, s -> s.v)"
        distinct = f"array_sort(array_distinct({vals}))"  # nulls sort last
        if cast.value_type == mc.DEMOGRAPHIC_CATEGORICAL:
            shares = (
                f"transform({distinct}, u -> "
                f"round(size(filter({vals}, x -> x <=> u)) / size({vals}), 1))"
            )
            entries.append(
                _entry(
                    cast.field.name, cast.value_type, values=F.expr(distinct), shares=F.expr(shares)
                )
            )
        else:  # DEMOGRAPHIC_DATE: modal value (ties: the greatest value) and agreement share
            modal = (
                f"array_max(transform({distinct}, u -> "
                f"named_struct('c', size(filter({vals}, x -> x <=> u)), 'v', u)))"
            )
            entries.append(
                _entry(
                    cast.field.name,
                    cast.value_type,
                    value=F.expr(f"{modal}.v"),
                    number=F.expr(f"round({modal}.c / size({vals}), 2)"),
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
