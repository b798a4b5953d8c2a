"""Publication of artificial HES in the NHS artificial-data format (DESIGN §9). Dagster-free."""

from artificial_data.generator.publish.api import PublicationError, PublishedRelease, publish
from artificial_data.generator.publish.csv_format import column_types, format_column, write_csv
from artificial_data.generator.publish.releases import (
    ReleaseOutcome,
    ReleaseRace,
    publish_release,
    read_index,
)

__all__ = [
    "PublicationError",
    "PublishedRelease",
    "ReleaseOutcome",
    "ReleaseRace",
    "column_types",
    "format_column",
    "publish",
    "publish_release",
    "read_index",
    "write_csv",
]
