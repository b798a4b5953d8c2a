"""Dagster definitions of the review code location (admin scope).

May read: metadata_sensitive, admin, metadata_released. May write: admin, metadata_released.
"""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from artificial_data.common.dataset_spec import load_all_specs
from artificial_data.common.stores import REVIEW
from artificial_data.orchestration.keys import review_report_key, reviewed_key
from artificial_data.orchestration.policy import with_location_policy
from artificial_data.orchestration.resources import ReviewStores
from artificial_data.review.assets import build_review_report_asset, build_reviewed_asset
from artificial_data.review.jobs import build_release_sensor, sign_off_job, sign_off_status_job


def build_definitions() -> Definitions:
    specs = load_all_specs()
    assets, jobs, release_jobs = [], [sign_off_job, sign_off_status_job], {}
    for spec in specs:
        assets += [build_review_report_asset(spec), build_reviewed_asset(spec)]
        jobs.append(
            define_asset_job(
                f"review_pack_{spec.dataset}",
                selection=AssetSelection.assets(review_report_key(spec.dataset)),
                description=f"Build the review pack of {spec.dataset} for one financial year.",
            )
        )
        release_jobs[spec.dataset] = define_asset_job(
            f"release_{spec.dataset}",
            selection=AssetSelection.assets(reviewed_key(spec.dataset)),
            description=f"Release signed-off {spec.dataset} metadata (one financial year).",
        )
    jobs += list(release_jobs.values())
    return Definitions(
        assets=with_location_policy(REVIEW, assets),
        jobs=jobs,
        sensors=[build_release_sensor([s.dataset for s in specs], release_jobs)],
        resources={"stores": ReviewStores()},
        executor=in_process_executor,
    )


defs = build_definitions()
