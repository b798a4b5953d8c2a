"""Asset keys of the lineage raw -> metadata -> reviewed -> artificial (DESIGN §2).

Every location builds keys through these functions so that a downstream location's ``deps``
name exactly the upstream asset and the UI joins them into one graph.

A key is ``<dataset>/<stage>`` (e.g. ``hes_apc/reviewed_metadata``): the Dagster UI labels a
node in the lineage with the last component of its key, so the stage comes last and the eight
nodes of a dataset have eight different names; the asset catalog shows one folder per dataset.
"""

from __future__ import annotations

from dagster import AssetKey

RAW_STAGE = "raw"
SUPPRESSED_STAGE = "suppressed_metadata"
REVIEW_PACK_STAGE = "review_pack"
SIGN_OFF_STAGE = "sign_off"
REVIEWED_STAGE = "reviewed_metadata"
ARTIFICIAL_STAGE = "artificial"
QA_STAGE = "qa"
PUBLISHED_STAGE = "published"
#: Every stage of a dataset, in lineage order.
STAGES = (
    RAW_STAGE,
    SUPPRESSED_STAGE,
    REVIEW_PACK_STAGE,
    SIGN_OFF_STAGE,
    REVIEWED_STAGE,
    ARTIFICIAL_STAGE,
    QA_STAGE,
    PUBLISHED_STAGE,
)


def stage_key(dataset: str, stage: str) -> AssetKey:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    return AssetKey([dataset, stage])


def raw_key(dataset: str) -> AssetKey:
    return stage_key(dataset, RAW_STAGE)


def suppressed_key(dataset: str) -> AssetKey:
    return stage_key(dataset, SUPPRESSED_STAGE)


def review_report_key(dataset: str) -> AssetKey:
    return stage_key(dataset, REVIEW_PACK_STAGE)


def sign_off_key(dataset: str) -> AssetKey:
    return stage_key(dataset, SIGN_OFF_STAGE)


def reviewed_key(dataset: str) -> AssetKey:
    return stage_key(dataset, REVIEWED_STAGE)


def artificial_key(dataset: str) -> AssetKey:
    return stage_key(dataset, ARTIFICIAL_STAGE)


def qa_key(dataset: str) -> AssetKey:
    return stage_key(dataset, QA_STAGE)


def published_key(dataset: str) -> AssetKey:
    return stage_key(dataset, PUBLISHED_STAGE)


def step_config(key: AssetKey, **config: object) -> dict:
    """Run config giving the step of asset ``key`` its ``config`` (the op is named after the
    key: ``hes_op/raw`` -> ``hes_op__raw``)."""
    return {"ops": {key.to_python_identifier(): {"config": config}}}
