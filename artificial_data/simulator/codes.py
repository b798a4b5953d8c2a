"""Clinical code books in the shape of ICD-10 (diagnoses) and OPCS-4 (procedures).

The code books are *made up* but shaped like the real ones: ICD-10 style ``I10X``/``K358``
(chapter letter, two digits, a fourth character or ``X``), OPCS-4 style ``W401``. Each chapter
has a Zipf-like frequency over its codes, so a few codes are common and thousands are rare:
exactly what small-number suppression has to cope with. They are built from a fixed seed, so
the domain is the same whatever seed the user picks; only the draws depend on the seed.

Diagnoses carry planted clinical structure that tests (and the privacy argument) rely on:
the chapter depends on age band, pregnancy codes (chapter O) only occur in women of
child-bearing age, perinatal codes (chapter P) only in infants, and prostate/male genital codes
(N40-N51) only in men.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from artificial_data.simulator.arrays import cumulative, zipf_weights

_CODEBOOK_SEED = 20_240_401

ICD_CHAPTERS = tuple("ABCDEFGHIJKLMNOPQRSTVWXYZ")
#: Age bands (upper bounds in years, exclusive) used for the age/diagnosis correlation.
AGE_BANDS = (1, 16, 45, 65, 80, 200)

# Chapter weights of the primary diagnosis per age band (<1, 1-15, 16-44, 45-64, 65-79, 80+).
# External causes (V-Y) are never primary diagnoses in HES.
_PRIMARY = {
    "A": (3, 4, 2, 1, 1, 1),
    "B": (2, 3, 1, 1, 1, 1),
    "C": (0.2, 1, 3, 12, 15, 10),
    "D": (1, 2, 3, 5, 4, 3),
    "E": (1, 2, 2, 4, 3, 3),
    "F": (0.1, 3, 5, 3, 2, 3),
    "G": (1, 3, 3, 4, 3, 3),
    "H": (1, 4, 2, 4, 6, 4),
    "I": (0.3, 0.5, 2, 10, 16, 20),
    "J": (12, 20, 5, 5, 8, 14),
    "K": (2, 10, 12, 13, 10, 7),
    "L": (1, 3, 2, 2, 2, 2),
    "M": (0.2, 3, 7, 9, 7, 4),
    "N": (2, 4, 6, 6, 6, 8),
    "O": (0, 0.2, 18, 0.3, 0, 0),
    "P": (45, 0, 0, 0, 0, 0),
    "Q": (8, 4, 0.5, 0.2, 0.1, 0.05),
    "R": (12, 15, 14, 12, 10, 12),
    "S": (1, 12, 8, 4, 3, 9),
    "T": (1, 3, 3, 2, 2, 2),
    "V": (0, 0, 0, 0, 0, 0),
    "W": (0, 0, 0, 0, 0, 0),
    "X": (0, 0, 0, 0, 0, 0),
    "Y": (0, 0, 0, 0, 0, 0),
    "Z": (10, 5, 8, 10, 10, 8),
}
# Secondary diagnoses: comorbidities and history codes are more frequent.
_SECONDARY_BOOST = {"Z": 3.0, "I": 1.8, "E": 2.0, "F": 1.5, "N": 1.2, "J": 1.2}

# Well-known codes placed at the head of their chapter's frequency ranking.
_HEAD_CODES = (
    (
        "A099 A419 B349 C509 C61X C349 C189 D649 D509 E119 E871 E860 F103 F329 F419 G409 G459 "
        "H269 H251 I10X I489 I214 I500 I639 J189 J459 J440 J069 J210 K358 K802 K590 K573 K529 "
        "L031 L089 M179 M199 M545 N390 N179 N400 N201 O800 O829 O470 O021 P599 P070 P220 Q210 "
        "Q620 R074 R104 R69X R55X R060 S720 S062 S525 T814 T510 Z511 Z501 Z38.0 Z867 Z922"
    )
    .replace("Z38.0", "Z380")
    .split()
)

FEMALE_ONLY_RANGES = (("O", 0, 99), ("N", 70, 98), ("C", 51, 58), ("D", 25, 28))
MALE_ONLY_RANGES = (("N", 40, 51), ("C", 60, 63))


@dataclass(frozen=True)
class CodeBook:
    """Codes grouped by chapter, each chapter with its own Zipf-like frequency ranking.

    ``cum`` is a cumulative weight over all codes in which every chapter holds a mass of 1, so
    that drawing code ``searchsorted(cum, chapter + u)`` picks a code of ``chapter``.
    """

    codes: np.ndarray  # str, grouped by chapter
    chapter_of: np.ndarray  # chapter index of each code
    chapters: tuple[str, ...]
    cum: np.ndarray
    sex_only: np.ndarray  # 0 any, 1 male only, 2 female only

    def draw(self, rng: np.random.Generator, chapter: np.ndarray) -> np.ndarray:
        """One code index per row from the given chapter indices."""
        target = chapter + rng.random(len(chapter))
        idx = np.searchsorted(self.cum, target, side="right")
        return np.minimum(idx, len(self.codes) - 1)

    def chapter_index(self, letter: str) -> int:
        return self.chapters.index(letter)


def _build(
    chapters: tuple[str, ...],
    fourth: str,
    head: tuple[str, ...],
    rng: np.random.Generator,
    exponent: float,
) -> CodeBook:
    codes: list[str] = []
    chapter_of: list[int] = []
    cum_parts: list[np.ndarray] = []
    for ci, letter in enumerate(chapters):
        categories = np.sort(rng.choice(100, size=int(rng.integers(45, 90)), replace=False))
        chapter_codes: list[str] = []
        for cat in categories:
            if fourth == "icd" and rng.random() < 0.25:
                chapter_codes.append(f"{letter}{cat:02d}X")
            else:
                subs = np.sort(rng.choice(10, size=int(rng.integers(2, 10)), replace=False))
                chapter_codes.extend(f"{letter}{cat:02d}{s}" for s in subs)
        heads = [c for c in head if c[0] == letter]
        rest = [c for c in chapter_codes if c not in heads]
        order = rng.permutation(len(rest))
        ranked = heads + [rest[i] for i in order]
        weights = zipf_weights(len(ranked), exponent)
        cum_parts.append(ci + np.cumsum(weights) / weights.sum())
        codes.extend(ranked)
        chapter_of.extend([ci] * len(ranked))
    cum = np.concatenate(cum_parts)
    cum[-1] = len(chapters)
    sex_only = np.zeros(len(codes), dtype=np.int8)
    for i, code in enumerate(codes):
        letter, cat = code[0], int(code[1:3])
        for only, ranges in ((2, FEMALE_ONLY_RANGES), (1, MALE_ONLY_RANGES)):
            if fourth == "icd" and any(letter == lt and lo <= cat <= hi for lt, lo, hi in ranges):
                sex_only[i] = only
    return CodeBook(
        codes=np.array(codes, dtype=object),
        chapter_of=np.array(chapter_of, dtype=np.int16),
        chapters=chapters,
        cum=cum,
        sex_only=sex_only,
    )


@cache
def icd10() -> CodeBook:
    """ICD-10 style diagnosis code book (about ten thousand codes)."""
    rng = np.random.default_rng(_CODEBOOK_SEED)
    return _build(ICD_CHAPTERS, "icd", tuple(_HEAD_CODES), rng, exponent=1.15)


OPCS_CHAPTERS = tuple("ABCDEFGHJKLMNOPQRSTUVWXYZ")
_OPCS_HEAD = tuple(
    [
        "A521",
        "B281",
        "C751",
        "C712",
        "D151",
        "E031",
        "F091",
        "G451",
        "G459",
        "H011",
        "H221",
        "H251",
        "J183",
        "K634",
        "K651",
        "L912",
        "M459",
        "M421",
        "N303",
        "O141",
        "P273",
        "Q071",
        "R182",
        "R172",
        "S571",
        "T202",
        "U051",
        "U212",
        "V252",
        "W401",
        "W381",
        "X292",
        "X403",
        "X352",
        "Y534",
        "Y981",
        "Z942",
        "Z943",
        "Z941",
    ]
)
#: OPCS-4 Y (methods) and Z (sites) are supplementary codes: never the main procedure.
OPCS_SUPPLEMENTARY = ("Y", "Z")


@cache
def opcs4() -> CodeBook:
    """OPCS-4 style procedure code book (a few thousand codes)."""
    rng = np.random.default_rng(_CODEBOOK_SEED + 1)
    return _build(OPCS_CHAPTERS, "opcs", _OPCS_HEAD, rng, exponent=1.1)


@cache
def primary_chapter_cum() -> np.ndarray:
    """(age band, chapter) cumulative weights of the primary diagnosis chapter."""
    w = np.array([_PRIMARY[c] for c in ICD_CHAPTERS], dtype=np.float64).T
    return np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)


@cache
def secondary_chapter_cum() -> np.ndarray:
    """Secondary positions: the primary mix, comorbidities boosted, a little of everything."""
    boost = np.array([_SECONDARY_BOOST.get(c, 1.0) for c in ICD_CHAPTERS])
    baseline = np.array([0.0 if c in "OP" else 0.2 for c in ICD_CHAPTERS])
    w = np.array([_PRIMARY[c] for c in ICD_CHAPTERS], dtype=np.float64).T * boost + baseline
    return np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)


def age_band(age_years: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(AGE_BANDS), age_years, side="right")


def draw_diagnoses(
    rng: np.random.Generator,
    age_years: np.ndarray,
    female: np.ndarray,
    male: np.ndarray,
    secondary: bool,
) -> np.ndarray:
    """ICD-10 code indices with the planted age, sex and pregnancy-age structure."""
    book = icd10()
    band = age_band(age_years)
    cum = (secondary_chapter_cum() if secondary else primary_chapter_cum())[band]
    chapter = (rng.random(len(band))[:, None] > cum).sum(axis=1)
    chapter = np.minimum(chapter, len(ICD_CHAPTERS) - 1)
    idx = book.draw(rng, chapter)
    # Enforce the clinical rules by redrawing violators from the symptoms chapter (R).
    sex_only = book.sex_only[idx]
    letter_o = book.chapter_of[idx] == book.chapter_index("O")
    letter_p = book.chapter_of[idx] == book.chapter_index("P")
    bad = (
        ((sex_only == 2) & ~female)
        | ((sex_only == 1) & ~male)
        | (letter_o & ((age_years < 12) | (age_years >= 56)))
        | (letter_p & (age_years >= 1))
    )
    if bad.any():
        idx[bad] = book.draw(rng, np.full(int(bad.sum()), book.chapter_index("R")))
    return idx


def draw_procedures(rng: np.random.Generator, n: int, main: bool) -> np.ndarray:
    """OPCS-4 code indices; the main procedure is never a supplementary Y/Z code."""
    book = opcs4()
    weights = np.ones(len(OPCS_CHAPTERS))
    weights[[OPCS_CHAPTERS.index(c) for c in OPCS_SUPPLEMENTARY]] = 0.0 if main else 6.0
    weights[OPCS_CHAPTERS.index("U")] = 1.5 if main else 0.5
    weights[OPCS_CHAPTERS.index("X")] = 2.0
    chapter = np.searchsorted(cumulative(weights), rng.random(n), side="right")
    return book.draw(rng, np.minimum(chapter, len(OPCS_CHAPTERS) - 1))


# Alcohol-attributable diagnoses with a fixed attributable fraction each (as in the published
# alcohol-related admissions method; the numbers here are illustrative).
ALCOHOL_CODES = (
    ("F100", 1.0),
    ("F101", 1.0),
    ("F102", 1.0),
    ("F103", 1.0),
    ("K700", 1.0),
    ("K703", 1.0),
    ("K709", 1.0),
    ("G312", 1.0),
    ("G621", 1.0),
    ("I426", 1.0),
    ("K292", 1.0),
    ("K860", 0.84),
    ("I10X", 0.27),
    ("I489", 0.2),
    ("C220", 0.19),
    ("C509", 0.09),
    ("C150", 0.35),
    ("K859", 0.25),
    ("S062", 0.07),
    ("W19X", 0.09),
    ("X599", 0.17),
    ("R55X", 0.07),
    ("E119", 0.03),
    ("C189", 0.1),
    ("I639", 0.05),
    ("K746", 0.8),
)

EXTERNAL_CAUSES = tuple(
    [
        "W19X",
        "W010",
        "W180",
        "W06X",
        "W108",
        "X599",
        "V892",
        "V435",
        "W540",
        "X590",
        "W220",
        "W450",
        "Y831",
        "Y848",
        "X600",
        "X420",
        "W011",
        "W050",
        "V031",
        "W200",
        "Y838",
        "W260",
        "X580",
        "W100",
        "W013",
    ]
)
