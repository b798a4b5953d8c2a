"""What a scrape error says: where it is (dataset, year, field) and what is wrong, never a value.

A scrape fails inside the sensitive scope, but its message is shown in the shared Dagster run
history (failure messages, event logs), which every user and code location can read. So the
messages built here name the dataset, the financial year, the field, its declared type and
role and what was expected, and describe an offending value only by its shape and length
(``common.safe_text``) or, for bytes that are not UTF-8, by the offset of the first bad byte.
Nothing here ever formats a raw value, and the bytes of an invalid value never leave Spark
except as hex, which is decoded on the driver only to find that offset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from artificial_data.common.safe_text import describe_value, first_invalid_utf8_byte

if TYPE_CHECKING:
    from artificial_data.common.dataset_spec import DatasetSpec
    from artificial_data.scraper.scrape.casts import FieldCast


class ScrapeInputError(ValueError):
    """The source cannot be scraped safely. The message names the dataset, year, field and the
    type or the *shape* of the value at fault, never the value itself; nothing is written when
    this is raised (fail closed)."""


def where(spec: DatasetSpec, financial_year: str, field: str | None = None) -> str:
    """``'hes_apc 2223 ADMIMETH'``: the place an error is about, as its message begins."""
    place = f"{spec.dataset} {financial_year}"
    return f"{place} {field}" if field else place


def bad_value_error(cast: FieldCast, example: str, such: str) -> ScrapeInputError:
    """A present value of ``cast``'s field did not cast; ``such`` says how many there are."""
    return ScrapeInputError(
        f"{cast.where}: a value {describe_value(example)} cannot be read as {cast.expects} "
        f"(declared type {cast.field.spark_type}, role {cast.field.role}); {such}"
    )


def invalid_utf8_error(
    cast: FieldCast, example_hex: str, values: int, distinct: int | None = None
) -> ScrapeInputError:
    """``values`` values of ``cast``'s field are not UTF-8; ``example_hex`` is one of them."""
    data = bytes.fromhex(example_hex)
    offset = first_invalid_utf8_byte(data)
    counted = f"{values} value(s)" + (f" ({distinct} distinct)" if distinct is not None else "")
    return ScrapeInputError(
        f"{cast.where}: {counted} are not valid UTF-8 text (declared type "
        f"{cast.field.spark_type}, role {cast.field.role}); in one such value of {len(data)} "
        f"bytes the first invalid byte is at byte offset {offset}. Fix the encoding of the "
        "source column (e.g. re-extract it as UTF-8)"
    )


def outside_domain_error(cast: FieldCast, values: int) -> ScrapeInputError:
    """``values`` values of ``cast``'s field lie outside its declared domain."""
    return ScrapeInputError(
        f"{cast.where}: {values} value(s) lie outside the declared domain "
        f"({cast.field.domain.describe()}); correct the source, or widen the spec's domain "
        "as a reviewed change. Nothing was written"
    )
