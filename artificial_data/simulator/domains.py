"""Value domains of HES fields: which codes a field takes and how often.

A :class:`Domain` is a list of values with relative weights, a null share and a few *rare*
values that are never drawn normally; the simulator plants each rare value 1-7 times in a
partition, so that tests can prove that small-number suppression removes them. The codes and
their rough frequencies follow the public HES data dictionary (admission methods, sources,
discharge codes, specialties, regions, org-code shapes, the HES unknown codes ``&``/``-``/
``99``, padded dashes such as ``--``); the numbers are invented.

Fields without a specific domain get a generic one drawn inside their *declared* value domain
(the spec's ``domain:``, from ``common/specs/domains/hes.yaml``), seeded by the field name, so
that any new dataset spec can be simulated without code changes and every simulated value is one
the disclosure review and QA accept. Specific domains here must lie inside the declared ones too
(a test checks every value).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa

from artificial_data.common.arrow_buffers import masked_array
from artificial_data.common.dataset_spec import FieldSpec
from artificial_data.common.patterns import distinct_matches
from artificial_data.simulator import arrays as A

_DOMAIN_SEED = 7_310_031


@dataclass(frozen=True)
class Domain:
    """A categorical value domain. ``kind`` is ``string``, ``int`` or ``float``."""

    values: tuple
    weights: tuple[float, ...]
    null_share: float = 0.0
    rare: tuple = ()
    kind: str = "string"

    @property
    def cum(self) -> np.ndarray:
        return _cum(self.weights)

    def sample_index(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Indices into ``values`` (never a rare value)."""
        return A.weighted_index(rng, self.cum, n)

    def null_mask(self, rng: np.random.Generator, n: int) -> np.ndarray | None:
        return rng.random(n) < self.null_share if self.null_share > 0 else None

    def array(self, index: np.ndarray, mask_null: np.ndarray | None = None) -> pa.Array:
        """``values[index]`` as an Arrow array (nulls where ``mask_null``)."""
        return _dictionary(self.values, self.kind).take(
            masked_array(np.asarray(index, dtype=np.int32), mask_null)
        )

    def sample(self, rng: np.random.Generator, n: int) -> pa.Array:
        idx = self.sample_index(rng, n)
        return self.array(idx, self.null_mask(rng, n))

    def code(self, value) -> int:
        """The index of ``value`` in ``values``."""
        return self.values.index(value)


@cache
def _dictionary(values: tuple, kind: str) -> pa.Array:
    dtype = {"string": pa.string(), "int": pa.int64(), "float": pa.float64()}[kind]
    return pa.array(list(values), type=dtype)


@cache
def _cum(weights: tuple[float, ...]) -> np.ndarray:
    return A.cumulative(weights)


def codes(text: str, null_share: float = 0.0, rare: str = "", kind: str = "string") -> Domain:
    """A domain from ``"code:weight code:weight ..."`` (weight defaults to 1)."""
    values, weights = [], []
    for token in text.split():
        value, _, weight = token.partition(":")
        values.append(
            value if kind == "string" else (int(value) if kind == "int" else float(value))
        )
        weights.append(float(weight) if weight else 1.0)
    rare_values = tuple(
        r if kind == "string" else (int(r) if kind == "int" else float(r)) for r in rare.split()
    )
    return Domain(tuple(values), tuple(weights), null_share, rare_values, kind)


def _zipf_domain(values: list, null_share: float, rare: int, exponent: float = 1.0) -> Domain:
    """Common values first with Zipf weights; the last ``rare`` values kept for planting."""
    common, tail = values[: len(values) - rare], values[len(values) - rare :]
    return Domain(
        tuple(common), tuple(A.zipf_weights(len(common), exponent)), null_share, tuple(tail)
    )


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([_DOMAIN_SEED, zlib.crc32(name.encode())])


def _alnum_codes(rng: np.random.Generator, n: int, pattern: str) -> list[str]:
    """Distinct codes from a pattern: ``L`` letter, ``D`` digit, ``A`` either, else literal."""
    letters, digit = "ABCDEFGHJKLMNPQRSTVWXYZ", "0123456789"
    pools = {"L": letters, "D": digit, "A": letters + digit}
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(list(pools[c])) if c in pools else c for c in pattern))
    return sorted(out)


# --------------------------------------------------------------------------------------------
# Organisations and geography (shared so that related fields use one coherent code list)
# --------------------------------------------------------------------------------------------

REGIONS = tuple("ABCDEFGHJK")  # former Government Office Regions in HES (RESGOR)
REGION_ONS = (*tuple(f"E120000{i:02d}" for i in range(1, 10)), "W99999999")
NHS_REGIONS = ("Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63")


@cache
def providers() -> tuple[np.ndarray, np.ndarray]:
    """Trust codes (``RXH``) and the region index of each, most frequent first."""
    rng = _rng("providers")
    trusts = [f"R{c}" for c in _alnum_codes(rng, 140, "AA")]
    trusts = [trusts[i] for i in rng.permutation(len(trusts))]
    region = rng.integers(0, len(REGIONS), size=len(trusts))
    return np.array(trusts, dtype=object), region


@cache
def catalogue() -> dict[str, Domain]:
    """Specific domains by HES field name."""
    d: dict[str, Domain] = {}
    d["ADMIMETH"] = codes(
        "11:20 12:17 13:6 21:26 22:4 23:1 24:2 25:0.5 28:3 2A:1 2B:2 2C:0.2 2D:2 31:3 32:0.5 "
        "81:1 82:2.5 83:0.3 99:0.2",
        rare="26 27 84",
    )
    d["CLASSPAT"] = codes("1:60 2:35 3:2 4:0.5 5:0.3 8:0.1 9:0.2", rare="6")
    d["EPIORDER"] = codes(
        "1:85 2:9 3:3 4:1.3 5:0.7 6:0.4 7:0.3 8:0.2 9:0.1 10:0.05 11:0.03 12:0.02", kind="int"
    )
    d["PRIORITY"] = codes("1:70 2:20 3:7 9:3", rare="4")
    d["ATTENDED"] = codes("5:80 6:3 3:6 2:5 4:4 7:1 0:0.5 9:0.5", rare="8")
    d["ADMINCAT"] = codes("01:95 02:3 03:1 04:0.5 98:0.2 99:0.5", rare="05")
    d["ADMINCATST"] = codes("01:94 02:3 03:1 04:0.5 98:0.3 99:1", 0.01, rare="05")
    d["ADMISORC"] = codes(
        "19:88 29:1 39:0.5 49:1 51:2 52:0.5 53:0.5 54:2 65:1 66:0.2 69:0.3 79:1 85:0.5 "
        "87:0.3 88:0.1 98:0.5 99:0.8",
        rare="86",
    )
    d["CANNET"] = _zipf_domain([f"N{i:02d}" for i in range(1, 38)], 0.85, 3)
    d["CANREG"] = _zipf_domain([f"Y{i:04d}" for i in range(201, 1300, 100)], 0.85, 2)
    d["DISDEST"] = codes(
        "19:85 29:1 30:0.3 37:0.3 38:0.5 48:0.3 49:1 50:0.3 51:1.5 52:0.3 53:0.2 54:2 65:1 "
        "66:0.2 69:0.2 79:2 84:0.1 85:0.3 87:0.2 98:0.5 99:0.8",
        rare="86 88",
    )
    d["DISMETH"] = codes("1:92 2:1.5 3:0.2 4:2 5:0.2 8:0.5 9:0.8", rare="6")
    d["EPISTAT"] = codes("3:99.7 1:0.3", rare="9")
    d["EPITYPE"] = codes("1:93 2:3 3:2.5 4:0.5 5:0.5 6:0.3", rare="9")
    d["FAE"] = codes("1:80 0:20", kind="int")
    d["FCE"] = codes("1:99 0:1", kind="int")
    d["FDE"] = codes("1:80 0:20", kind="int")
    d["FAE_EMERGENCY"] = codes("0:70 1:30", kind="int")
    d["NEODUR"] = codes(" ".join(f"{i}:{30 / (i + 1):.2f}" for i in range(28)), 0.97, kind="int")
    d["RANK_ORDER"] = codes("1:70 2:15 3:7 4:4 5:2 6:1 7:0.5 8:0.3", rare="25 31", kind="int")
    d["SPELBGIN"] = codes("2:88 0:11 1:1", rare="9")
    d["SPELEND"] = codes("Y:90 N:10", rare="9")
    d["WAITLIST"] = Domain(
        tuple(range(0, 400)), tuple(A.zipf_weights(400, 0.8)), 0.6, (401, 455, 512), "int"
    )
    d["SUSHRG"] = _hrg("SUSHRG")
    d["HRG40"] = _hrg("HRG40")
    d["HRGLATE35"] = _zipf_domain([*_alnum_codes(_rng("HRG35"), 400, "LDD"), "U01"], 0.05, 5)
    d["SITEDIST"] = Domain(
        tuple(str(i) for i in range(0, 120)),
        tuple(np.exp(-np.arange(120) / 15.0)),
        0.05,
        ("243", "318", "402"),
    )
    d["PROVDIST"] = d["SITEDIST"]
    d["SITEDIST_FLAG"] = codes("N:93 Y:7", 0.05)
    d["PROVDIST_FLAG"] = d["SITEDIST_FLAG"]
    # Geography and commissioners
    d["RESGOR"] = codes(
        " ".join(
            f"{r}:{w}" for r, w in zip(REGIONS, (5, 13, 10, 9, 11, 11, 16, 18, 11, 6), strict=False)
        )
        + " U:0.4 X:0.3 Y:0.4 Z:0.05",
        rare="W",
    )
    d["RESGOR_ONS"] = codes(
        " ".join(
            f"{r}:{w}"
            for r, w in zip(REGION_ONS, (5, 13, 10, 9, 11, 11, 16, 18, 11, 1), strict=False)
        )
        + " L99999999:0.1 M99999999:0.05 S99999999:0.2 X:0.2",
        rare="N99999999",
    )
    d["GORTREAT"] = codes(
        " ".join(
            f"{r}:{w}" for r, w in zip(REGIONS, (5, 13, 10, 9, 11, 11, 16, 18, 11, 6), strict=False)
        ),
        rare="W",
    )
    ccg = _alnum_codes(_rng("CCG"), 210, "DDL")
    d["CCG"] = _zipf_domain([*ccg, "&", "-", "X98"], 0.005, 3, 0.4)
    d["AT"] = _zipf_domain([f"Q{i}" for i in range(44, 77)] + ["&", "X24"], 0.01, 2, 0.3)
    d["CR"] = _zipf_domain([f"Y{i}" for i in range(54, 64)] + ["&", "Y99"], 0.01, 1, 0.3)
    d["NER"] = _zipf_domain([*list(NHS_REGIONS), "&", "Y99"], 0.01, 1, 0.2)
    d["PCT"] = _zipf_domain([*_alnum_codes(_rng("PCT"), 150, "DLL"), "Q99", "X98"], 0.02, 2, 0.4)
    d["STHA"] = _zipf_domain([f"Q{i}" for i in range(30, 40)] + ["Q99", "X98"], 0.01, 1, 0.3)
    d["PURCODE"] = _zipf_domain([*ccg, "13Q", "VPP00", "YDD82", "TDH00", "X98"], 0.01, 3, 0.6)
    d["PCON"] = _zipf_domain([*_alnum_codes(_rng("PCON"), 530, "LDD"), "Z99", "X98"], 0.01, 3, 0.2)
    d["PCON_ONS"] = _zipf_domain(
        [f"E14{i:06d}" for i in range(530, 1063)] + ["W07000080", "Z99999999"], 0.01, 3, 0.2
    )
    d["RESCTY"] = _zipf_domain([f"{i:02d}" for i in range(11, 48)] + ["&", "ZZ"], 0.01, 1, 0.4)
    d["RESCTY_ONS"] = _zipf_domain(
        [f"E10000{i:03d}" for i in range(2, 35)] + ["E99999999", "Y99999999"], 0.01, 1, 0.4
    )
    d["RESLADST"] = _zipf_domain([*_alnum_codes(_rng("LAD"), 320, "DDLL"), "Y", "Z"], 0.01, 3, 0.3)
    d["RESLADST_ONS"] = _zipf_domain(
        [f"E0{t}000{i:03d}" for t in (6, 7, 8, 9) for i in range(1, 80)] + ["W06000001", "X"],
        0.01,
        3,
        0.3,
    )
    d["GPPRAC"] = _zipf_domain(
        ["V81999", "V81998", "&", *_alnum_codes(_rng("GP"), 6500, "LDDDDD"), "V81997"],
        0.005,
        40,
        0.35,
    )
    d["REFERORG"] = _zipf_domain(
        _alnum_codes(_rng("REFERORG"), 900, "LDDDDD")
        + [f"{t}0{i}" for t in providers()[0][:40] for i in (1, 2)]
        + ["X99998", "R9999"],
        0.02,
        10,
        0.5,
    )
    # Specialties (MAINSPEF is the consultant's main specialty; TRETSPEF the treatment one)
    d["MAINSPEF"] = codes(
        "100:14 101:5 110:9 120:3 130:4 140:1 150:1 160:1 170:0.5 171:1 300:14 301:3 302:1 "
        "303:1.5 320:5 330:1 340:2 350:0.5 360:0.4 370:2 400:2 410:1 420:6 430:4 500:1 501:6 "
        "502:3 560:0.5 600:0.5 650:0.3 700:0.5 710:1 800:0.5 810:0.5 820:0.3 822:0.2 "
        "&:0.1",
        rare="191 901 950",
    )
    d["TRETSPEF"] = codes(
        "100:10 101:5 102:1 103:1 104:2 105:1 106:1 107:1 108:1 110:9 120:3 130:4 140:1 "
        "143:1 150:1 160:1 171:1 180:6 300:8 301:3 302:1 303:1.5 307:0.5 320:5 330:1 340:2 "
        "361:0.4 370:2 400:2 410:1 420:6 424:0.5 430:4 501:6 502:3 560:0.5 650:0.3 710:1 "
        "&:0.2",
        rare="199 229 902",
    )
    # Outpatients
    d["ATENTYPE"] = codes("1:30 2:62 3:0.5 4:0.3 5:1 21:3 22:3", rare="6")
    d["FIRSTATT"] = codes("1:30 2:62 3:1 4:3 5:1 X:1 9:0.5", rare="6")
    d["LOCCLASS"] = codes("01:96 02:2 03:1 04:0.5 05:0.3 08:0.2 99:0.2", rare="06")
    d["LOCTYPE"] = codes("1:1 2:2 3:1 4:0.5 5:0.5 6:0.3 7:0.2 8:0.2 9:0.1", 0.7, rare="A1")
    d["OUTCOME"] = codes("1:42 2:52 3:4 8:1 9:1", 0.02, rare="7")
    d["REFSOURC"] = codes(
        "01:1 02:0.5 03:45 04:3 05:3 06:0.5 07:0.3 10:20 11:15 12:2 13:2 14:0.5 15:0.3 16:0.3 "
        "17:1 92:1 93:0.5 97:1",
        0.01,
        rare="08 09",
    )
    d["SERVTYPE"] = codes("1:93 2:5 3:2", 0.2, rare="4")
    d["STAFFTYP"] = codes("01:40 02:20 03:25 04:5 05:3 06:2 07:2 08:1 09:1 99:1", 0.05, rare="10")
    d["WAIT_IND"] = codes("0:70 1:25 9:5", kind="int")
    d["ATTENDKEY_FLAG"] = codes("0:99 1:1", kind="int")
    d["AEKEY_FLAG"] = codes("0:99 1:1", kind="int")
    # A&E
    d["AEARRIVALMODE"] = codes("1:20 2:78 9:2", rare="3")
    d["AEATTEND_EXC_PLANNED"] = codes("1:95 0:5", kind="int")
    d["AEATTENDCAT"] = codes("1:90 2:7 3:2 9:1", rare="4")
    d["AEATTENDDISP"] = codes(
        "01:25 02:25 03:25 04:3 05:1 06:1 07:0.3 10:0.2 11:0.3 12:3 13:1 14:5 99:1", rare="08 09"
    )
    d["AEDEPTTYPE"] = codes("01:80 02:3 03:15 04:1 99:1", rare="05")
    d["AEINCLOCTYPE"] = codes("10:70 40:8 50:7 60:2 91:10 99:3", 0.05, rare="20")
    d["AEPATGROUP"] = codes("10:5 20:6 30:3 40:2 50:2 60:2 70:1 80:77 99:2", rare="90")
    d["AEREFSOURCE"] = codes(
        "00:60 01:14 02:2 03:2 04:8 05:3 06:1 07:6 08:2 92:1 93:0.5 99:0.5", rare="09"
    )
    d["DIAGSCHEME"] = codes("01:96 02:4", 0.01, rare="03")
    d["INVESTSCHEME"] = codes("01:96 02:4", 0.05, rare="03")
    d["TREATSCHEME"] = codes("01:96 02:4", 0.05, rare="03")
    d["PROCSCHEME"] = codes("1:60 2:30", 0.3, rare="3", kind="int")
    return d


def _hrg(name: str) -> Domain:
    rng = _rng(name)
    chapters = [
        "AA",
        "AB",
        "BZ",
        "CA",
        "CB",
        "CZ",
        "DZ",
        "EB",
        "EY",
        "FD",
        "FE",
        "FZ",
        "GA",
        "GC",
        "HC",
        "HD",
        "HE",
        "HN",
        "HR",
        "JA",
        "JC",
        "KA",
        "KB",
        "LA",
        "LB",
        "MA",
        "MB",
        "NZ",
        "PA",
        "PB",
        "PC",
        "PD",
        "PE",
        "PV",
        "PW",
        "SA",
        "SB",
        "UZ",
        "VA",
        "VC",
        "WA",
        "WD",
        "WH",
        "WJ",
        "YA",
        "YD",
        "YF",
        "YQ",
        "YR",
    ]
    out: list[str] = []
    for ch in chapters:
        for num in rng.choice(100, size=int(rng.integers(5, 40)), replace=False):
            for split in rng.choice(
                list("ABCDEFGHJKZ"), size=int(rng.integers(1, 5)), replace=False
            ):
                out.append(f"{ch}{num:02d}{split}")
    out = [out[i] for i in rng.permutation(len(out))]
    return _zipf_domain(["UZ01Z", *out, "WF01A"], 0.01, 25, 0.9)


_PREFIX_DOMAINS = (("CCG_", "CCG"), ("AT_", "AT"), ("CR_", "CR"), ("NER_", "NER"))
_SAME_AS = {
    "PCTCODE_HIS": "PCT",
    "PCTORIG_HIS": "PCT",
    "PCTTREAT": "PCT",
    "RESPCT_HIS": "PCT",
    "STHATRET": "STHA",
    "RESSTHA_HIS": "STHA",
}


def domain_for(field: FieldSpec) -> Domain:
    """The value domain of ``field``: a specific HES domain, else a generic one by type."""
    cat = catalogue()
    if field.name in cat:
        return cat[field.name]
    if field.name in _SAME_AS:
        return cat[_SAME_AS[field.name]]
    for prefix, key in _PREFIX_DOMAINS:
        if field.name.startswith(prefix):
            return cat[key]
    return generic_domain(field)


#: HES "not known / not applicable" codes: drawn rarely wherever a declared domain allows them.
HES_UNKNOWN_CODES = frozenset(["&", "-", "--", "9", "99", "X", "XX", "Z", "ZZ"])


def _value_kind(field: FieldSpec) -> str:
    if field.spark_type in ("int", "long"):
        return "int"
    if field.is_numeric:
        return "float"
    return "string"


@cache
def generic_domain(field: FieldSpec) -> Domain:
    """A plausible fallback drawn inside the field's declared value domain (DESIGN §6).

    A closed code list gives its own codes (Zipf weights, unknown codes rarest, the last real
    codes kept as rare values for planting); a range gives small whole numbers from its minimum
    (decimals for non-integral decimal fields); a pattern gives codes generated to match it,
    plus the domain's extra codes (the HES unknown codes) at low weight. Seeded by the field
    name, so the same field always gets the same domain. A field without a declared domain (a
    bare :class:`FieldSpec`) gets short codes by type.
    """
    rng = _rng("generic:" + field.name)
    null_share = float(rng.choice([0.0, 0.02, 0.1, 0.5]))
    declared = field.domain
    kind = _value_kind(field)
    if declared is None or declared.kind == "dates":
        return _untyped_domain(field, rng, null_share)
    if declared.kind == "codes":
        return _closed_domain(declared.codes, kind, null_share)
    if declared.kind == "range":
        return _range_domain(declared, kind, rng, null_share)
    return _pattern_domain(declared, rng, null_share)


def _typed(values, kind: str) -> tuple:
    cast = {"string": str, "int": int, "float": float}[kind]
    return tuple(cast(v) for v in values)


def _layout(
    common: list, unknown: list, rare: list, kind: str, null_share: float, exponent: float
) -> Domain:
    """Common values with Zipf weights, then unknown codes far rarer than any common value."""
    weights = list(A.zipf_weights(len(common), exponent))
    floor = min(weights) if weights else 1.0
    weights += [floor * 0.2 / (i + 1) for i in range(len(unknown))]
    return Domain(
        _typed(common + unknown, kind), tuple(weights), null_share, _typed(rare, kind), kind
    )


def _closed_domain(codes_: tuple, kind: str, null_share: float) -> Domain:
    real = [c for c in codes_ if str(c) not in HES_UNKNOWN_CODES]
    unknown = [c for c in codes_ if str(c) in HES_UNKNOWN_CODES]
    if not real:
        real, unknown = unknown, []
    n_rare = min(2, max(0, (len(real) - 2) // 2))
    common, rare = real[: len(real) - n_rare], real[len(real) - n_rare :]
    return _layout(common, unknown, rare, kind, null_share, 1.0)


def _range_domain(declared, kind: str, rng: np.random.Generator, null_share: float) -> Domain:
    lo, hi = declared.minimum, declared.maximum
    # Numeric codes outside the range (e.g. the HES infant age codes) are drawn rarely.
    extra = [c for c in declared.codes if not lo <= c <= hi]
    if kind == "float" and not declared.integral:
        width = min(hi - lo, 100.0)
        points = np.unique(np.round(lo + width * np.sort(rng.random(14)) ** 2, 3))
        points = [float(p) for p in points if lo <= p <= hi]
        n_rare = 2 if len(points) >= 4 else 0
        common, rare = points[: len(points) - n_rare], points[len(points) - n_rare :]
        return _layout(common, extra, rare, kind, max(null_share, 0.5), 1.0)
    first, last = int(np.ceil(lo)), int(np.floor(hi))
    span = last - first + 1
    k = min(span, int(rng.integers(3, 12)))
    n_rare = min(2, span - k)
    values = list(range(first, first + k + n_rare))
    return _layout(values[:k], extra, values[k:], kind, null_share, 1.2)


def _pattern_domain(declared, rng: np.random.Generator, null_share: float) -> Domain:
    k = int(rng.integers(3, 12))
    drawn = distinct_matches(declared.pattern, rng, k + 3, exclude=frozenset(declared.codes))
    n_rare = min(3, max(0, len(drawn) - 2))
    common, rare = drawn[: len(drawn) - n_rare], drawn[len(drawn) - n_rare :]
    return _layout(common, list(declared.codes), rare, "string", null_share, 1.0)


def _untyped_domain(field: FieldSpec, rng: np.random.Generator, null_share: float) -> Domain:
    """Short codes by type, for a field that declares no domain."""
    if field.spark_type in ("int", "long"):
        k = int(rng.integers(3, 12))
        return Domain(tuple(range(k)), tuple(A.zipf_weights(k, 1.2)), null_share, (97, 98), "int")
    if field.is_numeric:
        vals = tuple(np.round(np.sort(rng.random(12)), 3).tolist())
        return Domain(vals, tuple(A.zipf_weights(12, 1.0)), max(null_share, 0.5), (0.999,), "float")
    width = int(rng.integers(1, 3))
    k = int(rng.integers(3, 10))
    values = [str(i).zfill(width) for i in range(1, k + 1)]
    unknown = ["9" * width, "&", "-" * width]
    rare = [str(i).zfill(width) for i in range(k + 1, k + 3)]
    weights = [*list(A.zipf_weights(k, 1.0)), 0.02, 0.01, 0.005]
    return Domain(tuple(values + unknown), tuple(weights), null_share, tuple(rare))
