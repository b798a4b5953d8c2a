"""QA of artificial HES against the released metadata only (DESIGN §9).

Dagster-free: the generator's asset checks call :func:`run_qa_rows` (a partition read in
record batches; :func:`run_qa` checks a table in memory, with the same results) and map each
:class:`QACheck` to an asset check (the names in :data:`CHECK_NAMES` never change, whatever the
fields).
"""

from artificial_data.generator.qa.api import run_qa, run_qa_rows
from artificial_data.generator.qa.result import CHECK_NAMES, QACheck, QAResult

__all__ = ["CHECK_NAMES", "QACheck", "QAResult", "run_qa", "run_qa_rows"]
