"""Small hand-written specs of the tests: the key fields they start with, and the document.

Fresh dictionaries on each call: spec parsing and domain drafting may add entries to them.
"""

from __future__ import annotations

from artificial_data.common.dataset_spec import DatasetSpec, parse_spec
from artificial_data.common.spec_import import draft_missing_domains


def record_key() -> dict:
    """KEY: the record key, 12 digits."""
    return {
        "name": "KEY",
        "type": "long",
        "role": "identifier",
        "identifier": {"format": "digits", "length": 12},
    }


def patient_key(**identifier: str) -> dict:
    """PID: the patient pseudonym, 32 alphanumeric characters per patient (``identifier``
    entries such as ``prefix`` added or overriding)."""
    return {
        "name": "PID",
        "type": "string",
        "role": "identifier",
        "identifier": {"format": "alphanumeric", "length": 32, "per": "patient", **identifier},
    }


def toy_spec(fields: list[dict], **overrides) -> DatasetSpec:
    """The spec of a made-up dataset ``toy`` with ``fields`` (their value domains drafted),
    keyed by KEY and PID, for 2122; ``overrides`` replace entries of the document."""
    document = {
        "dataset": "toy",
        "spec_version": 3,
        "financial_years": ["2122"],
        "primary_key": "KEY",
        "patient_key": "PID",
        "source_table": "toy_source_{fyear}",
        "published_table": "artificial_toy_{fyear}",
        "forbidden_identifiers": ["NHS_NUMBER", "HESID"],
        "fields": draft_missing_domains(fields),
    }
    document.update(overrides)
    return parse_spec(document)
