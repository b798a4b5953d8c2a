"""Regenerate, check and publish after each release (DESIGN §7), by declarative automation.

The generator's three assets carry Dagster ``AutomationCondition``s, evaluated on the daemon's
clock by the ``generator_automation`` sensor (running by default) in this location's code
server:

- ``<ds>/artificial`` is requested for a year once for every new materialisation of that year of
  ``<ds>/reviewed_metadata`` (a release, made by the review location: the generator sees it as
  an external asset and reads its events from the shared instance);
- ``<ds>/qa`` is requested when its artificial partition is (in the same tick, so the same run)
  or was updated by a run that did not include QA;
- ``<ds>/published`` likewise after QA, and only while every *blocking* check of the year's QA
  passed or is part of the same request. Within a run, a failed blocking check stops
  ``published`` (Dagster does not start the step); across ticks, a year whose latest QA failed
  is not requested.

Why this gives exactly one generation per release: each condition is Dagster's ``eager()``,
whose trigger ("a dependency updated") holds *since it was last handled*, i.e. until the asset
is requested or materialised. A request resets it, so the next evaluation requests nothing
(whether the run then succeeds, fails or has not started); a manual run (``make demo``, the
Launchpad) after the release also resets it, so the release is not generated twice; a
dependency update made by a run that already included the asset (the one-run chain
artificial -> qa -> published) does not trigger it. Repeating a release makes no new
materialisation (``review/release.py``), so it triggers nothing.

What ``eager()`` alone would miss: a release made before the sensor's first evaluation (its
first tick counts as handled). ``catch_up`` covers it: on the first evaluation, a year whose
asset is missing while its dependency exists is requested once. This replaces the cursor sensor
``regenerate_after_release`` and its content-hash comparison: the cursor is Dagster's own.

Not covered (reasoned from Dagster's semantics, not tested): a second release of a year that
lands while that year's generation run is in progress counts as handled by that run if the run
materialises ``artificial`` after it. If the run read the earlier release, publication then
refuses the year (its metadata hash differs from the released one) and says to materialise
``artificial`` again.
"""

import warnings

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    BetaWarning,
    DefaultSensorStatus,
)

from artificial_data.orchestration.keys import artificial_key, published_key, qa_key

#: The name of the sensor that evaluates the generator's automation conditions.
SENSOR_NAME = "generator_automation"


def catch_up() -> AutomationCondition:
    """On the first evaluation only: a missing year whose dependencies exist (or are requested
    in the same tick), e.g. released before the automation first ran."""
    return (
        AutomationCondition.initial_evaluation()
        & AutomationCondition.missing()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.in_progress()
    ).with_label("catch_up")


def after_upstream() -> AutomationCondition:
    """``<ds>/artificial`` and ``<ds>/qa``: once per update of the year upstream."""
    return AutomationCondition.eager() | catch_up()


def after_passed_qa() -> AutomationCondition:
    """``<ds>/published``: as ``after_upstream``, and only while QA's blocking checks pass."""
    return after_upstream() & AutomationCondition.all_deps_blocking_checks_passed()


def build_automation_sensor(datasets: list[str]) -> AutomationConditionSensorDefinition:
    """The generator's own automation sensor, explicit so that it starts running (Dagster's
    ``default_automation_condition_sensor`` starts stopped) and names only this location's
    assets. It is evaluated in the location's code server (``use_user_code_server``), so the
    conditions evaluated are always this code's, and a test evaluates a tick exactly as the
    daemon does (``SensorDefinition.evaluate_tick``)."""
    keys = [f(ds) for ds in datasets for f in (artificial_key, qa_key, published_key)]
    with warnings.catch_warnings():
        # `use_user_code_server` is marked beta in Dagster 1.13; chosen deliberately (above).
        warnings.simplefilter("ignore", BetaWarning)
        return AutomationConditionSensorDefinition(
            SENSOR_NAME,
            target=AssetSelection.assets(*keys),
            default_status=DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=30,
            use_user_code_server=True,
            description=(
                "Generates, checks and publishes a financial year once for every new release "
                "of its metadata (<dataset>/reviewed_metadata); publishes only after QA's "
                "blocking checks passed."
            ),
        )
