"""Declared value domains: the allowlist of what each field's values may look like (DESIGN §6).

Suppression removes rare values, and pattern scans catch the identifiers someone thought of
(NHS numbers, postcodes, e-mails, phones). Neither stops a value nobody anticipated: a name in a
cause-code field, free text in a diagnosis field, an identifier stored as a number. So every
scraped field declares, in its dataset spec, the shape its values may take, and anything outside
it is a blocking finding at review and never released:

``codes``    a closed list of codes (text fields, or numbers for numeric fields);
``pattern``  a regular expression each text value must match as a whole (plus any ``codes``,
             typically the HES null codes ``&``, ``-``, ``99``);
``range``    inclusive numeric bounds, ``integral`` when only whole numbers are valid (plus any
             numeric ``codes`` outside the range, e.g. the HES infant age codes 7001-7007);
``dates``    inclusive date bounds plus the HES ``placeholders`` (1800-01-01, 1801-01-01).

Null is always allowed: it is a value of every field. The same declared domain is used by the
disclosure review (``disclosure_checks``), by the simulator (values it draws must lie inside it)
and by QA (artificial values must lie inside it): one list, not three.

Named domains shared by all datasets (ICD-10 and OPCS-4 code shapes, org codes, ONS area codes,
HES dates) live in ``specs/domains/hes.yaml``; a spec names one or declares its own inline.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from artificial_data.common.patterns import random_match

KINDS = ("codes", "pattern", "range", "dates")
_DOMAIN_KEYS = {"codes", "pattern", "range", "integral", "dates", "placeholders", "description"}


class DomainError(ValueError):
    """A domain declaration is malformed. The message names where it was declared."""


@dataclass(frozen=True)
class ValueDomain:
    """The values one field may take. Build with :func:`parse_domain`."""

    name: str
    kind: str
    codes: tuple[Any, ...] = ()
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    integral: bool = False
    first: date | None = None
    last: date | None = None
    placeholders: tuple[date, ...] = ()
    description: str = ""

    @property
    def is_text(self) -> bool:
        return self.kind == "pattern" or (
            self.kind == "codes" and all(isinstance(c, str) for c in self.codes)
        )

    @property
    def is_numeric(self) -> bool:
        return self.kind == "range" or (
            self.kind == "codes" and all(_is_number(c) for c in self.codes)
        )

    @property
    def is_date(self) -> bool:
        return self.kind == "dates"

    # --------------------------------------------------------------------------- membership

    def allows_text(self, values: Iterable[Any]) -> np.ndarray:
        """Which text values are inside the domain (null is always inside)."""
        compiled = _compile(self.pattern) if self.pattern else None
        codes = {c for c in self.codes if isinstance(c, str)}
        out = []
        for v in values:
            if _is_null(v):
                out.append(True)
            elif not isinstance(v, str) or not self.is_text:
                out.append(False)
            else:
                out.append(v in codes or bool(compiled and compiled.fullmatch(v)))
        return np.asarray(out, dtype=bool)

    def allows_numbers(self, values: Iterable[Any]) -> np.ndarray:
        """Which numbers are inside the domain (null/NaN is always inside)."""
        codes = {float(c) for c in self.codes if _is_number(c)}
        out = []
        for v in values:
            if _is_null(v):
                out.append(True)
                continue
            if not _is_number(v) or not self.is_numeric or math.isinf(float(v)):
                out.append(False)
                continue
            x = float(v)
            if x in codes:
                out.append(True)
            elif self.kind != "range":
                out.append(False)
            else:
                ok = self.minimum <= x <= self.maximum
                out.append(bool(ok and (not self.integral or x.is_integer())))
        return np.asarray(out, dtype=bool)

    def allows_dates(self, values: Iterable[Any]) -> np.ndarray:
        """Which dates are inside the domain (null/NaT is always inside)."""
        out = []
        for v in values:
            if _is_null(v):
                out.append(True)
            elif not isinstance(v, date) or not self.is_date:
                out.append(False)
            else:
                d = v.date() if hasattr(v, "date") and callable(v.date) else v
                out.append(d in self.placeholders or self.first <= d <= self.last)
        return np.asarray(out, dtype=bool)

    def examples(self, n: int, seed: int = 0) -> list[Any]:
        """``n`` distinct-where-possible values inside the domain, deterministic for ``seed``:
        for tests and for simulating fields that have no specific HES code list."""
        rng = np.random.default_rng([seed, zlib.crc32(self.name.encode())])
        if self.kind == "codes":
            return [self.codes[i % len(self.codes)] for i in range(n)]
        if self.kind == "range":
            low, high = self.minimum, min(self.maximum, self.minimum + 1000)
            if self.integral:
                return [float(v) for v in rng.integers(int(low), int(high) + 1, size=n)]
            return [round(float(v), 3) for v in rng.uniform(low, high, size=n)]
        if self.kind == "dates":
            span = (self.last - self.first).days
            return [
                date.fromordinal(self.first.toordinal() + int(d))
                for d in rng.integers(0, span + 1, size=n)
            ]
        return [random_match(self.pattern, rng) for _ in range(n)]

    def describe(self) -> str:
        """One line for review packs, the data dictionary and error messages."""
        extra = f" or one of {list(self.codes)}" if self.codes and self.kind != "codes" else ""
        if self.kind == "codes":
            shown = list(self.codes)
            body = f"one of {shown[:20]}" + (
                f" (+{len(shown) - 20} more)" if len(shown) > 20 else ""
            )
        elif self.kind == "pattern":
            body = f"text matching /{self.pattern}/{extra}"
        elif self.kind == "range":
            what = "whole numbers" if self.integral else "numbers"
            body = f"{what} from {self.minimum:g} to {self.maximum:g}{extra}"
        else:
            held = ", ".join(d.isoformat() for d in self.placeholders)
            body = f"dates from {self.first} to {self.last}" + (
                f" or a placeholder ({held})" if held else ""
            )
        return f"{self.name}: {body}"


def _is_null(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        import pandas as pd

        return bool(v is pd.NaT or (not isinstance(v, str | bytes | list) and pd.isna(v)))
    except (TypeError, ValueError):
        return False


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


@cache
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise DomainError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc


def parse_domain(name: str, raw: Mapping[str, Any], where: str) -> ValueDomain:
    """Validate one domain declaration (see the module docstring for its keys)."""
    if not isinstance(raw, Mapping):
        raise DomainError(f"{where}: a domain must be a mapping or a named domain, got {raw!r}")
    unknown = sorted(set(raw) - _DOMAIN_KEYS)
    if unknown:
        raise DomainError(
            f"{where}: unknown domain key(s) {unknown}; allowed {sorted(_DOMAIN_KEYS)}"
        )
    codes = tuple(raw.get("codes") or ())
    for c in codes:
        if not isinstance(c, str) and not _is_number(c):
            raise DomainError(f"{where}: code {c!r} must be text or a number")
    description = str(raw.get("description", ""))
    if "pattern" in raw:
        if "range" in raw or "dates" in raw:
            raise DomainError(f"{where}: a domain has one of pattern, range or dates")
        pattern = str(raw["pattern"])
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DomainError(f"{where}: pattern {pattern!r} is not a regular expression") from exc
        if not all(isinstance(c, str) for c in codes):
            raise DomainError(f"{where}: codes next to a pattern must be text")
        return ValueDomain(name, "pattern", codes, pattern=pattern, description=description)
    if "range" in raw:
        bounds = raw["range"]
        if (
            not isinstance(bounds, list | tuple)
            or len(bounds) != 2
            or not all(_is_number(b) for b in bounds)
            or bounds[0] > bounds[1]
        ):
            raise DomainError(f"{where}: range must be [minimum, maximum] numbers, got {bounds!r}")
        if not all(_is_number(c) for c in codes):
            raise DomainError(f"{where}: codes next to a range must be numbers")
        return ValueDomain(
            name,
            "range",
            codes,
            minimum=float(bounds[0]),
            maximum=float(bounds[1]),
            integral=bool(raw.get("integral", False)),
            description=description,
        )
    if "dates" in raw:
        bounds = raw["dates"]
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise DomainError(f"{where}: dates must be [first, last], got {bounds!r}")
        first, last = (_date(b, where) for b in bounds)
        if first > last:
            raise DomainError(f"{where}: dates [{first}, {last}] are in the wrong order")
        held = tuple(_date(p, where) for p in raw.get("placeholders") or ())
        return ValueDomain(
            name, "dates", first=first, last=last, placeholders=held, description=description
        )
    if not codes:
        raise DomainError(f"{where}: a domain needs codes, a pattern, a range or dates")
    kinds = {isinstance(c, str) for c in codes}
    if len(kinds) > 1:
        raise DomainError(f"{where}: a closed code list is all text or all numbers")
    return ValueDomain(name, "codes", codes, description=description)


@cache
def named_domains() -> dict[str, ValueDomain]:
    """The shared library of HES domains (``specs/domains/hes.yaml``), by name."""
    text = (
        resources.files("artificial_data.common") / "specs" / "domains" / "hes.yaml"
    ).read_text()
    document = yaml.safe_load(text) or {}
    return {
        str(name): parse_domain(str(name), raw, f"specs/domains/hes.yaml ({name})")
        for name, raw in document.items()
    }


def resolve_domain(
    declared: Any, local: Mapping[str, ValueDomain], field_name: str, where: str
) -> ValueDomain:
    """A field's ``domain:`` entry: a name (the spec's own ``domains`` first, then the shared
    library) or an inline declaration."""
    if isinstance(declared, str):
        if declared in local:
            return local[declared]
        library = named_domains()
        if declared in library:
            return library[declared]
        raise DomainError(
            f"{where}: unknown domain {declared!r}; name one in the spec's 'domains' or in "
            f"specs/domains/hes.yaml"
        )
    return parse_domain(f"{field_name} (inline)", declared, where)
