"""Dagster definitions of the scraper code location (sensitive scope).

May read: raw. May write: metadata_sensitive (and raw only where raw is simulated).
"""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from artificial_data.common.dataset_spec import load_all_specs
from artificial_data.common.settings import load_settings
from artificial_data.common.stores import SCRAPER
from artificial_data.orchestration.keys import raw_key, suppressed_key
from artificial_data.orchestration.metadata_checks import build_disclosure_checks
from artificial_data.orchestration.policy import with_location_policy
from artificial_data.orchestration.resources import scraper_stores, spark_resource
from artificial_data.scraper.assets import build_raw_asset, build_suppressed_asset
from artificial_data.scraper.schedules import build_scrape_schedule


def build_definitions() -> Definitions:
    settings = load_settings()
    assets, checks, jobs, schedules = [], [], [], []
    for spec in load_all_specs():
        assets += [
            build_raw_asset(spec, simulated=settings.uses_simulated_raw),
            build_suppressed_asset(spec),
        ]
        checks += build_disclosure_checks(spec)
        keys = [suppressed_key(spec.dataset)]
        if settings.uses_simulated_raw:
            keys.insert(0, raw_key(spec.dataset))
        job = define_asset_job(
            f"scrape_{spec.dataset}",
            selection=AssetSelection.assets(*keys) | AssetSelection.checks_for_assets(*keys),
            description=f"Scrape {spec.dataset} into suppressed metadata (one financial year).",
        )
        jobs.append(job)
        schedules.append(
            build_scrape_schedule(spec.dataset, job, spec.financial_years[-1], settings.scrape_cron)
        )
    return Definitions(
        assets=with_location_policy(SCRAPER, assets),
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        resources={
            "stores": scraper_stores(settings.uses_simulated_raw),
            "spark": spark_resource("artificial_data_scraper"),
        },
        executor=in_process_executor,
    )


defs = build_definitions()
