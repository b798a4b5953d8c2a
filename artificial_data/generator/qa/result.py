"""The outcome of QA on one artificial table-year: named checks plus a readable report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Every check QA runs, in report order, and whether its failure blocks publication. The set is
#: fixed (it does not depend on the fields) so that it can be declared as Dagster asset checks.
CHECK_NAMES: dict[str, bool] = {
    "schema": True,
    "primary_key": True,
    "identifiers": True,
    "value_domain": True,
    "derived_fields": True,
    "date_chains": True,
    "durations": True,
    "field_distributions": True,
    "date_distributions": True,
    "patient_consistency": True,
    "field_independence": True,
    "episodes_per_patient": True,
    "null_rates": False,
    "category_coverage": False,
}


@dataclass(frozen=True)
class QACheck:
    """One named check; ``blocking`` checks that fail stop publication."""

    name: str
    passed: bool
    blocking: bool
    details: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QAResult:
    """All checks of one dataset-year plus the report (HTML with inline SVG, and Markdown)."""

    dataset: str
    financial_year: str
    checks: list[QACheck]
    html: str
    markdown: str

    @property
    def passed(self) -> bool:
        """True when every blocking check passed (informational checks never block)."""
        return all(c.passed for c in self.checks if c.blocking)

    @property
    def blocking_failures(self) -> list[QACheck]:
        return [c for c in self.checks if c.blocking and not c.passed]

    def check(self, name: str) -> QACheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"{self.dataset} {self.financial_year}: no QA check named {name!r}")
