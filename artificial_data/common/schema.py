"""The exact physical schema of a dataset, from its spec, for Arrow/Parquet and for Spark.

Every table that leaves a stage (raw stand-in, artificial output, published files) is coerced
to this schema, so that analysts get the same column order and types as real HES.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from artificial_data.common.dataset_spec import DatasetSpec

_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "double": pa.float64(),
    "date": pa.date32(),
    "boolean": pa.bool_(),
}


def arrow_type(spark_type: str) -> pa.DataType:
    if spark_type in _ARROW_TYPES:
        return _ARROW_TYPES[spark_type]
    match = _DECIMAL.match(spark_type)
    if match:
        return pa.decimal128(int(match[1]), int(match[2]))
    raise ValueError(f"no Arrow type for Spark type {spark_type!r}")


def arrow_schema(spec: DatasetSpec) -> pa.Schema:
    """The Arrow schema of ``spec``'s table: every field, in schema order."""
    return pa.schema([pa.field(f.name, arrow_type(f.spark_type)) for f in spec.fields])


def spark_type(spark_type_name: str) -> Any:
    from pyspark.sql import types as T

    simple = {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "date": T.DateType(),
        "boolean": T.BooleanType(),
    }
    if spark_type_name in simple:
        return simple[spark_type_name]
    match = _DECIMAL.match(spark_type_name)
    if match:
        return T.DecimalType(int(match[1]), int(match[2]))
    raise ValueError(f"unknown Spark type {spark_type_name!r}")


def spark_schema(spec: DatasetSpec) -> Any:
    """The Spark ``StructType`` of ``spec``'s table: every field, in schema order."""
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField(f.name, spark_type(f.spark_type), True) for f in spec.fields]
    )


def schema_differences(spec: DatasetSpec, actual: pa.Schema) -> list[str]:
    """Human-readable differences between ``actual`` and the spec's schema ([] if equal)."""
    expected = arrow_schema(spec)
    problems = []
    if actual.names != expected.names:
        missing = [n for n in expected.names if n not in actual.names]
        extra = [n for n in actual.names if n not in expected.names]
        if missing:
            problems.append(f"{spec.dataset}: missing fields {missing}")
        if extra:
            problems.append(f"{spec.dataset}: fields not in the spec {extra}")
        if not missing and not extra:
            problems.append(f"{spec.dataset}: fields out of schema order")
    for f in expected:
        if f.name in actual.names and actual.field(f.name).type != f.type:
            problems.append(
                f"{spec.dataset}.{f.name}: type {actual.field(f.name).type}, expected {f.type}"
            )
    return problems
