"""The explicit cast of every scraped field, by declared role and source type (DESIGN §6).

A field is summarised in one canonical type per role: text for string categoricals, double for
numeric ones and for continuous fields, a date for date fields. When the source column already
has a compatible type the cast cannot fail. When it does not (text holding numbers, text
holding dates, HHMM times of day) the cast is *checked*: a value that is present but does not
cast is reported, so that a role/type mismatch is an error rather than a column of silent
nulls. A source type that no cast can bridge (a date where a number is declared) is refused
before any data is read.

Text that is not valid UTF-8 (a latin-1 extract, a truncated multi-byte character) must never
reach Arrow: it fails there with an error that names no field and echoes the bytes. So every
text source is read through ``is_valid_utf8``: an invalid value is null in the canonical and
the checked column, and its hex appears in ``invalid``, which each pass counts in the same
scan so that the scrape fails naming the field and a byte offset (see ``errors``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec
from artificial_data.scraper.scrape.errors import ScrapeInputError, where

#: HHMM or HH:MM, 00:00 to 23:59. Anything else in a time-of-day field is an error.
TIME_OF_DAY_PATTERN = r"^([01][0-9]|2[0-3]):?([0-5][0-9])$"


__all__ = ["TIME_OF_DAY_PATTERN", "FieldCast", "ScrapeInputError", "plan_cast", "plan_casts"]


@dataclass(frozen=True)
class FieldCast:
    """How one field is read: ``value`` is the canonical column; ``bad`` (if the cast can fail)
    is the raw text of values that are present but did not cast, else null; ``invalid`` (for a
    text source) is the hex of values that are not valid UTF-8, else null.

    ``text`` is the source column itself when ``value`` is nothing but that text once checked
    as UTF-8 (text codes, dates held as text, patient-level text). Spark's UTF-8 check costs
    about as much as reading the column, so a pass that counts distinct values may read ``text``
    instead of ``value`` and ``invalid`` and check the distinct values itself (``frequencies``,
    ``patient_arrays``); it must
    then never let one that is not UTF-8 out of its worker except as hex."""

    field: FieldSpec
    value_type: str
    value: Column
    bad: Column | None
    expects: str  # human wording of what the values must be, for error messages
    where: str  # 'dataset year field', how error messages begin
    invalid: Column | None = None
    text: Column | None = None


def _family(data_type: T.DataType) -> str:
    if isinstance(data_type, T.StringType | T.VarcharType | T.CharType):
        return "string"
    if isinstance(data_type, T.NumericType):
        return "numeric"
    if isinstance(data_type, T.DateType):
        return "date"
    if isinstance(data_type, T.TimestampType | T.TimestampNTZType):
        return "timestamp"
    if isinstance(data_type, T.BooleanType):
        return "boolean"
    return data_type.simpleString()


def _checked(raw: Column, cast: Column) -> Column:
    """The raw value where it is present but the cast gave null."""
    return F.when(raw.isNotNull() & cast.isNull(), raw.cast("string"))


def _type_error(place: str, field: FieldSpec, source_type: T.DataType) -> ScrapeInputError:
    return ScrapeInputError(
        f"{place}: source type {source_type.simpleString()} cannot be read "
        f"as declared type {field.spark_type} (role {field.role})"
    )


def plan_cast(
    spec: DatasetSpec, field: FieldSpec, source_type: T.DataType, financial_year: str
) -> FieldCast:
    """The explicit cast of ``field`` from ``source_type``; raise if no cast can bridge them."""
    place = where(spec, financial_year, field.name)
    source = F.col(field.name)
    family = _family(source_type)
    value_type = mc.value_type_of(field)
    if family == "string":
        # Every cast below reads ``raw``, so bytes that are not UTF-8 reach no later stage.
        raw = F.when(F.is_valid_utf8(source), source)
        invalid = F.when(~F.is_valid_utf8(source), F.hex(source))
    else:
        raw, invalid = source, None

    def result(value: Column, bad: Column | None, expects: str) -> FieldCast:
        text = source if family == "string" and value is raw and bad is None else None
        return FieldCast(field, value_type, value, bad, expects, place, invalid, text)

    def type_error() -> ScrapeInputError:
        return _type_error(place, field, source_type)

    if value_type == mc.CONTINUOUS:
        if field.time_of_day:
            if family != "string":
                raise type_error()
            text = F.trim(raw)
            ok = text.rlike(TIME_OF_DAY_PATTERN)
            hours = F.regexp_extract(text, TIME_OF_DAY_PATTERN, 1).cast("int")
            minutes = F.regexp_extract(text, TIME_OF_DAY_PATTERN, 2).cast("int")
            value = F.when(ok, (hours * 60 + minutes).cast("double"))
            return result(value, F.when(raw.isNotNull() & ~ok, raw), "a time of day HHMM")
        if family == "numeric":
            return result(raw.cast("double"), None, "a number")
        if family == "string":
            value = raw.try_cast("double")
            return result(value, _checked(raw, value), "a number")
        raise type_error()

    if value_type in (mc.DEMOGRAPHIC_CATEGORICAL, mc.DEMOGRAPHIC_DATE):
        if family not in ("string", "numeric", "boolean"):
            raise type_error()
        if field.spark_type == "string" and family != "string":
            raise type_error()
        # text is kept as it is (so that a pass may read it unchecked, ``text``)
        return result(raw if family == "string" else raw.cast("string"), None, "text")

    if value_type == mc.DATE:
        if field.spark_type != "date":  # a date held as text (e.g. SUSLDDATE_HIS): kept as text
            if family != "string":
                raise type_error()
            return result(raw, None, "text")
        if family == "date":
            return result(raw, None, "a date")
        if family == "timestamp":
            return result(F.to_date(raw), None, "a date")
        if family == "string":
            value = raw.try_cast("date")
            return result(value, _checked(raw, value), "a date (YYYY-MM-DD)")
        raise type_error()

    if value_type == mc.DISCRETE:
        if family == "numeric":
            return result(raw.cast("double"), None, "a number")
        if family == "string":
            value = raw.try_cast("double")
            return result(value, _checked(raw, value), "a number")
        raise type_error()

    # CATEGORICAL: codes are text; a numeric source would lose leading zeros, so it is refused.
    if field.spark_type == "boolean":
        if family != "boolean":
            raise type_error()
        return result(raw.cast("string"), None, "true/false")
    if family != "string":
        raise type_error()
    return result(raw, None, "text")


def plan_casts(spec: DatasetSpec, schema: T.StructType, financial_year: str) -> list[FieldCast]:
    """The cast of every scraped field of ``spec``, in schema order."""
    by_name = {f.name.upper(): f.dataType for f in schema.fields}
    return [plan_cast(spec, f, by_name[f.name], financial_year) for f in spec.scraped_fields]
