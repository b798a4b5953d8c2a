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

#: What each check compares and against which threshold: the description Dagster shows for it.
CHECK_DESCRIPTIONS: dict[str, str] = {
    "schema": "Every spec field present, in spec order, with the spec's exact type.",
    "primary_key": "The record key is never null and never repeated.",
    "identifiers": "Identifier fields have their declared format and length on every row; "
    "the record and patient keys are never null (0 rows may differ).",
    "value_domain": "No value outside the reviewed metadata or the field's declared value "
    "domain (0 rows allowed).",
    "derived_fields": "Every derived field (truncations, concatenations, counts, ages) equals "
    "its derivation from its sources on every row (0 rows may differ).",
    "date_chains": "Dates of a chain are in order on every row (placeholders and nulls "
    "excepted; 0 rows may break it).",
    "durations": "Each duration equals the days between its dates, and is null exactly where "
    "one of them is null or a placeholder (0 rows may differ).",
    "field_distributions": "Each field's distribution against its released one: TVD (or the "
    "quantile bracket for integer values) within the noise threshold 1.5·E[TVD] warns, beyond "
    "it plus the McDiarmid margin at α = 10⁻⁶ fails.",
    "date_distributions": "Each date and duration against its own released distribution (same "
    "limits; placed dates on the released days as two samples) and no duration collapsed to "
    "0 days beyond the released grid's bracket.",
    "patient_consistency": "Share of patients with mixed values of each patient-level field "
    "within Bernstein's bound (α = 10⁻⁶) of the released share; no birth month after the date "
    "its age is computed at (0 rows).",
    "field_independence": "Fields the design keeps independent show no association: Pearson χ² "
    "per field pair fails beyond the quantile at 10⁻⁶ / pairs (Bonferroni), Cramér's V shown.",
    "episodes_per_patient": "Episodes per patient against the released RELATIONSHIP "
    "distribution (bands and top-coded bucket), noise-aware TVD.",
    "null_rates": "Informational: each field's null share within 4 standard errors of the "
    "released share (never blocks).",
    "category_coverage": "Informational: every released category expected 10 or more times "
    "is present (never blocks).",
}
assert set(CHECK_DESCRIPTIONS) == set(CHECK_NAMES)


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
