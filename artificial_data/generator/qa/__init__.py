"""QA of artificial HES against the released metadata only (DESIGN §9).

Dagster-free: the generator's asset checks call :func:`run_qa` and map each :class:`QACheck` to
an asset check (the names in :data:`CHECK_NAMES` never change, whatever the fields).
"""

from artificial_data.generator.qa.api import run_qa
from artificial_data.generator.qa.result import CHECK_NAMES, QACheck, QAResult

__all__ = ["CHECK_NAMES", "QACheck", "QAResult", "run_qa"]
