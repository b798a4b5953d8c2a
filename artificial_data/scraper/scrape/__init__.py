"""Raw HES partition -> suppressed aggregate metadata (DESIGN §5-§6). Dagster-free.

``check_source`` refuses unsafe input, ``read_source`` opens a raw partition, ``scrape`` turns
it into contract-valid metadata with the dataset's disclosure policy applied.
"""

from artificial_data.scraper.scrape.api import ScrapeResult, read_source, scrape
from artificial_data.scraper.scrape.casts import ScrapeInputError
from artificial_data.scraper.scrape.checks import check_source

__all__ = ["ScrapeInputError", "ScrapeResult", "check_source", "read_source", "scrape"]
