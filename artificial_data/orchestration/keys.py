"""Asset keys of the lineage raw -> metadata -> reviewed -> artificial (DESIGN §2).

Every location builds keys through these functions so that a downstream location's ``deps``
name exactly the upstream asset and the UI joins them into one graph.
"""

from __future__ import annotations

from dagster import AssetKey


def raw_key(dataset: str) -> AssetKey:
    return AssetKey(["raw", dataset])


def suppressed_key(dataset: str) -> AssetKey:
    return AssetKey(["metadata", "suppressed", dataset])


def review_report_key(dataset: str) -> AssetKey:
    return AssetKey(["review", "report", dataset])


def reviewed_key(dataset: str) -> AssetKey:
    return AssetKey(["metadata", "reviewed", dataset])


def artificial_key(dataset: str) -> AssetKey:
    return AssetKey(["artificial", dataset])


def qa_key(dataset: str) -> AssetKey:
    return AssetKey(["qa", dataset])


def published_key(dataset: str) -> AssetKey:
    return AssetKey(["published", dataset])
