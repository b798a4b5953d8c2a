"""Dagster definitions of the review code location (admin scope).

May read: metadata_sensitive, admin, metadata_released. May write: admin, metadata_released.

Automation: ``review_pack`` is rebuilt when the scraper materialises new suppressed metadata
and ``reviewed_metadata`` is released once per sign-off materialisation, both by their
automation conditions, evaluated by ``review_automation`` (declared running: Dagster's own
``default_automation_condition_sensor`` starts stopped).
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    in_process_executor,
)

from artificial_data.common.dataset_spec import load_all_specs
from artificial_data.common.stores import REVIEW
from artificial_data.orchestration.keys import review_report_key, reviewed_key
from artificial_data.orchestration.policy import with_location_policy
from artificial_data.orchestration.resources import ReviewStores
from artificial_data.review.assets import (
    build_approved_check,
    build_review_report_asset,
    build_reviewed_asset,
    build_sign_off_spec,
)
from artificial_data.review.jobs import build_sign_off_sensor, sign_off_job, sign_off_status_job

#: The sensor that evaluates this location's automation conditions.
AUTOMATION_SENSOR = "review_automation"


def build_definitions() -> Definitions:
    specs = load_all_specs()
    assets, checks, jobs = [], [], [sign_off_job, sign_off_status_job]
    automated = []
    for spec in specs:
        assets += [
            build_review_report_asset(spec),
            build_sign_off_spec(spec),
            build_reviewed_asset(spec),
        ]
        checks.append(build_approved_check(spec))
        automated += [review_report_key(spec.dataset), reviewed_key(spec.dataset)]
        jobs.append(
            define_asset_job(
                f"review_pack_{spec.dataset}",
                selection=AssetSelection.assets(review_report_key(spec.dataset)),
                description=f"Build the review pack of {spec.dataset} for one financial year.",
            )
        )
        jobs.append(
            define_asset_job(
                f"release_{spec.dataset}",
                selection=AssetSelection.assets(reviewed_key(spec.dataset)),
                description=f"Release signed-off {spec.dataset} metadata (one financial year).",
            )
        )
    automation = AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=AssetSelection.assets(*automated),
        default_status=DefaultSensorStatus.RUNNING,
        description="Rebuilds review packs after a scrape and releases each approved sign-off.",
    )
    return Definitions(
        assets=with_location_policy(REVIEW, assets),
        asset_checks=checks,
        jobs=jobs,
        sensors=[build_sign_off_sensor([s.dataset for s in specs]), automation],
        resources={"stores": ReviewStores()},
        executor=in_process_executor,
    )


defs = build_definitions()
