"""The steps a code location can run away from its own process (a Databricks task).

Dagster-free names shared by the orchestrating side (``orchestration/compute.py``) and the task
side (``compute/pipes_task.py``, the CLI's ``pipes-task``).
"""

SCRAPE, GENERATE, QA = "scrape", "generate", "qa"

#: Each step and the asset key prefix it materialises (the dataset is the key's last part).
STEP_ASSET_PREFIX: dict[str, tuple[str, ...]] = {
    SCRAPE: ("metadata", "suppressed"),
    GENERATE: ("artificial",),
    QA: ("qa",),
}
STEPS = tuple(STEP_ASSET_PREFIX)

#: How the task is told one of its location's settings: ``--setting NAME=VALUE``.
SETTING_ARGUMENT = "--setting"
#: Only project settings may be passed to a task (never a credential).
SETTING_PREFIX = "ARTIFICIAL_DATA_"
