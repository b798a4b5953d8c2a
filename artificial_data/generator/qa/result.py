"""The outcome of QA on one artificial table-year: named checks plus a readable report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from artificial_data.generator.qa.consistency import AGE_FRACTION_TOLERANCE
from artificial_data.generator.qa.distances import FALSE_FAILURE_RATE, NOISE_FACTOR
from artificial_data.generator.qa.fields import COVERAGE_MIN_EXPECTED, NULL_RATE_Z
from artificial_data.generator.qa.independence import MAX_CATEGORIES, RANDOM_PAIRS, WARNING_RATE
from artificial_data.generator.qa.patients import WARNING_Z

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


def power_of_ten(x: float) -> str:
    """``1e-06`` as ``10⁻⁶`` (the way the design writes rates); other numbers as ``%g``."""
    exponent = math.log10(x) if x > 0 else math.nan
    if math.isfinite(exponent) and exponent == round(exponent):
        digits = str(round(exponent)).translate(str.maketrans("-0123456789", _SUPERSCRIPT))
        return f"10{digits}"
    return f"{x:g}"


_SUPERSCRIPT = "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"
_ALPHA = power_of_ten(FALSE_FAILURE_RATE)
_EXACT = "0 rows may break it"
_DISTANCE_LIMITS = (
    f"warns above the noise threshold {NOISE_FACTOR:g}·E[TVD] (the distance a correct "
    f"generator's sampling noise gives), fails above the threshold plus McDiarmid's margin "
    f"√(ln(1/α)/2N) at α = {_ALPHA}"
)

#: What each check compares and against which threshold: the description Dagster shows for it,
#: the reviewer guide's "what each check means" and the report's check table. The thresholds are
#: the QA code's own constants, formatted in (one source of truth).
CHECK_DESCRIPTIONS: dict[str, str] = {
    "schema": "Every spec field present, in spec order, with the spec's exact type "
    "(0 differences allowed).",
    "primary_key": f"The record key is never null and never repeated ({_EXACT}).",
    "identifiers": "Identifier fields have their declared format and length on every row; "
    f"the record and patient keys are never null ({_EXACT}).",
    "value_domain": "No value outside the reviewed metadata or the field's declared value "
    f"domain ({_EXACT}).",
    "derived_fields": "Every derived field (truncations, concatenations, counts, ages) equals "
    f"its derivation from its sources on every row, fractional ages within "
    f"±{AGE_FRACTION_TOLERANCE:g} years ({_EXACT}).",
    "date_chains": f"Dates of a chain are in order on every row (placeholders and nulls "
    f"excepted; {_EXACT}).",
    "durations": "Each duration equals the days between its dates, and is null exactly where "
    f"one of them is null or a placeholder ({_EXACT}).",
    "field_distributions": "Each field's distribution against its released one (TVD; for "
    "integer-valued continuous fields the distance to the released quantile bracket): "
    f"{_DISTANCE_LIMITS}.",
    "date_distributions": "Each date and duration against its own released distribution (dates "
    "placed on the released days compared as two samples): "
    f"{_DISTANCE_LIMITS}; and no duration's share of 0-day values outside the released grid's "
    f"bracket by more than Bernstein's margin at α = {_ALPHA}.",
    "patient_consistency": "Share of patients whose episodes hold mixed values of each "
    f"patient-level field against the released share: warns beyond {WARNING_Z:g} standard "
    f"errors (two-sided 99.9%), fails beyond Bernstein's bound at α = {_ALPHA}; and no birth "
    f"month after the date its age is computed at ({_EXACT}).",
    "field_independence": "Fields the design keeps independent show no association: Pearson's "
    f"χ² of each tested pair (fields cut into at most {MAX_CATEGORIES} categories; key-field "
    f"pairs plus {RANDOM_PAIRS} random ones) warns above the χ² quantile at "
    f"{power_of_ten(WARNING_RATE)} / pairs and fails above the quantile at α / pairs "
    f"(Bonferroni), α = {_ALPHA}; Cramér's V shown.",
    "episodes_per_patient": "Episodes per patient against the released RELATIONSHIP "
    f"distribution (bands and top-coded bucket): TVD {_DISTANCE_LIMITS}; no episode count "
    "outside the released ones.",
    "null_rates": f"Informational (never blocks): each field's null share within {NULL_RATE_Z:g} "
    "binomial standard errors (+2/N) of the released share; for a date of a chain, of the "
    "range from the source's share (released share times the unsuppressed share) to the "
    "released one, as suppression thins its released days but not its nulls.",
    "category_coverage": "Informational (never blocks): every released category expected "
    f"{COVERAGE_MIN_EXPECTED:g} or more times in the artificial rows is present.",
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
