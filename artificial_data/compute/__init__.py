"""The steps a code location can run away from its own process (a Databricks task).

Dagster-free names shared by the orchestrating side (``orchestration/compute.py``) and the task
side (``compute/pipes_task.py``, the CLI's ``pipes-task``).
"""

SCRAPE, GENERATE, QA = "scrape", "generate", "qa"

#: Each step and the stage it materialises: its asset key is ``<dataset>/<stage>``
#: (``orchestration/keys.py``).
STEP_ASSET_STAGE: dict[str, str] = {
    SCRAPE: "suppressed_metadata",
    GENERATE: "artificial",
    QA: "qa",
}
STEPS = tuple(STEP_ASSET_STAGE)

#: How the task is told one of its location's settings: ``--setting NAME=VALUE``.
SETTING_ARGUMENT = "--setting"
#: Only project settings may be passed to a task (never a credential).
SETTING_PREFIX = "ARTIFICIAL_DATA_"
