"""Codes that match a declared domain pattern (``specs/domains/hes.yaml``).

The value-domain library describes code shapes with a small regular-expression subset:
literals, character classes with ranges (``[A-Z0-9]``, ``[V-Y]``), ``\\d``, repeats
(``{2}``, ``{1,3}``, ``?``, ``*``, ``+``), groups with alternation (``(0[1-9]|1[0-2])``,
``(?:...)``) and top-level alternation (``[A-Z]|[0-9]|99``). This module parses that subset and
draws random strings from it, so that the simulator (and ``ValueDomain.examples``) can invent
codes that lie inside a field's declared domain by construction. Anything outside the subset
(anchors, negated classes, look-arounds, backreferences) raises :class:`PatternError` instead
of guessing.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache

import numpy as np

#: Unbounded repeats (``*``, ``+``, ``{m,}``) draw at most this many extra copies.
_OPEN_REPEAT = 3
_CLASS_ESCAPES = {"d": string.digits, "w": string.ascii_letters + string.digits + "_"}


class PatternError(ValueError):
    """A pattern uses regular-expression syntax outside the supported subset."""


@dataclass(frozen=True)
class _Chars:
    chars: str


@dataclass(frozen=True)
class _Repeat:
    item: object  # _Chars or _Alt
    low: int
    high: int


@dataclass(frozen=True)
class _Alt:
    branches: tuple[tuple[_Repeat, ...], ...]


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.i = 0

    def fail(self, why: str) -> PatternError:
        return PatternError(f"pattern {self.text!r}: {why} at position {self.i}")

    def peek(self) -> str | None:
        return self.text[self.i] if self.i < len(self.text) else None

    def take(self) -> str:
        if self.i >= len(self.text):
            raise self.fail("unexpected end")
        c = self.text[self.i]
        self.i += 1
        return c

    def alternation(self) -> _Alt:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence())
        return _Alt(tuple(branches))

    def sequence(self) -> tuple[_Repeat, ...]:
        items: list[_Repeat] = []
        while self.peek() not in (None, "|", ")"):
            atom = self.atom()
            low, high = self.quantifier()
            items.append(_Repeat(atom, low, high))
        return tuple(items)

    def atom(self) -> object:
        c = self.take()
        if c == "(":
            if self.text.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                raise self.fail("only plain and (?:...) groups are supported")
            inner = self.alternation()
            if self.take() != ")":
                raise self.fail("unclosed group")
            return inner
        if c == "[":
            return _Chars(self.char_class())
        if c == "\\":
            return _Chars(self.escape())
        if c in "^$.*+?{}]":
            raise self.fail(f"unsupported or misplaced {c!r}")
        return _Chars(c)

    def escape(self) -> str:
        c = self.take()
        if c in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[c]
        if c.isalnum():
            raise self.fail(f"unsupported escape \\{c}")
        return c

    def char_class(self) -> str:
        if self.peek() == "^":
            raise self.fail("negated classes are not supported")
        chars: list[str] = []
        while True:
            c = self.take()
            if c == "]" and chars:
                break
            if c == "\\":
                chars.extend(self.escape())
                continue
            if self.peek() == "-" and self.i + 1 < len(self.text) and self.text[self.i + 1] != "]":
                self.i += 1
                end = self.take()
                if ord(end) < ord(c):
                    raise self.fail(f"bad range {c}-{end}")
                chars.extend(chr(k) for k in range(ord(c), ord(end) + 1))
            else:
                chars.append(c)
        return "".join(dict.fromkeys(chars))

    def quantifier(self) -> tuple[int, int]:
        c = self.peek()
        if c == "?":
            self.i += 1
            return 0, 1
        if c == "*":
            self.i += 1
            return 0, _OPEN_REPEAT
        if c == "+":
            self.i += 1
            return 1, 1 + _OPEN_REPEAT
        if c != "{":
            return 1, 1
        m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.text, self.i)
        if not m:
            raise self.fail("bad repeat")
        self.i = m.end()
        low = int(m[1])
        high = low if m[2] is None else (int(m[3]) if m[3] else low + _OPEN_REPEAT)
        if high < low:
            raise self.fail("repeat bounds in the wrong order")
        return low, high


@cache
def parse_pattern(pattern: str) -> _Alt:
    """Parse ``pattern`` (raising :class:`PatternError` for unsupported syntax)."""
    parser = _Parser(pattern)
    tree = parser.alternation()
    if parser.i != len(pattern):
        raise parser.fail("unbalanced ')'")
    return tree


def _draw(node: object, rng: np.random.Generator, out: list[str]) -> None:
    if isinstance(node, _Chars):
        out.append(node.chars[int(rng.integers(len(node.chars)))])
    elif isinstance(node, _Alt):
        for item in node.branches[int(rng.integers(len(node.branches)))]:
            _draw(item, rng, out)
    else:
        for _ in range(int(rng.integers(node.low, node.high + 1))):
            _draw(node.item, rng, out)


def random_match(pattern: str, rng: np.random.Generator) -> str:
    """One random string that ``re.fullmatch(pattern, ...)`` accepts."""
    out: list[str] = []
    _draw(parse_pattern(pattern), rng, out)
    return "".join(out)


def distinct_matches(
    pattern: str, rng: np.random.Generator, n: int, exclude: frozenset[str] = frozenset()
) -> list[str]:
    """Up to ``n`` distinct random matches of ``pattern`` (fewer if the pattern allows fewer),
    none of them in ``exclude``, in the order drawn."""
    seen: dict[str, None] = {}
    for _ in range(40 * n + 100):
        if len(seen) >= n:
            break
        code = random_match(pattern, rng)
        if code not in exclude:
            seen.setdefault(code, None)
    return list(seen)
