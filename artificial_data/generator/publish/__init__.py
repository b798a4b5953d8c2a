"""Publication of artificial HES in the NHS artificial-data format (DESIGN §9). Dagster-free."""

from artificial_data.generator.publish.api import PublicationError, PublishedRelease, publish
from artificial_data.generator.publish.csv_format import column_types, format_column, write_csv

__all__ = [
    "PublicationError",
    "PublishedRelease",
    "column_types",
    "format_column",
    "publish",
    "write_csv",
]
