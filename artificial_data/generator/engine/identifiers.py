"""Artificial identifiers: never learnt from data, shaped by the spec's identifier formats.

* Record keys in ``digits`` format (EPIKEY, ATTENDKEY, AEKEY, SUSRECID): a bijective affine
  scramble of the global row index, ``10**(L-1) + (a * i + b) mod 9 * 10**(L-1)``, so keys are
  unique within the table, exactly ``L`` digits long, and computable in any chunk without
  coordination. ``a`` and ``b`` come from the table seed.
* Patient identifiers (PSEUDO_HESID, ``per: patient``): the spec prefix (``TEST``), random
  alphanumerics and, last, a bijective scramble of the patient's global slot written in base
  36, so two patients never share an identifier, even across chunks.
* Other record identifiers in ``alphanumeric`` format (ATTENDID, PREFERER): random
  alphanumerics of the declared length.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from artificial_data.common.dataset_spec import FieldSpec
from artificial_data.common.schema import arrow_type
from artificial_data.generator.engine.errors import GenerationError
from artificial_data.generator.engine.sampling import (
    ALPHANUMERIC,
    base_characters,
    digit_characters,
    fixed_width_strings,
    random_characters,
)
from artificial_data.generator.engine.seeding import table_rng

#: Base-36 characters that make a patient identifier unique (36**11 ~ 1.3e17 patients).
_UNIQUE_CHARS = 11


def mulmod(x: np.ndarray, a: int, modulus: int) -> np.ndarray:
    """``(a * x) mod modulus`` for ``0 <= x < modulus < 2**62`` without 64-bit overflow.

    ``a`` is consumed in limbs small enough that every partial product fits in uint64.
    """
    x = np.asarray(x, dtype=np.uint64)
    limb_bits = max(1, 63 - modulus.bit_length())
    limbs = []
    a %= modulus
    while a:
        limbs.append(a & ((1 << limb_bits) - 1))
        a >>= limb_bits
    m = np.uint64(modulus)
    result = np.zeros_like(x)
    for limb in reversed(limbs):
        result = (result << np.uint64(limb_bits)) % m
        result = (result + np.uint64(limb) * x) % m
    return result


def affine_parameters(seed: int, stream: int, modulus: int) -> tuple[int, int]:
    """A multiplier coprime with ``modulus`` and an offset, both from the table seed."""
    rng = table_rng(seed, stream)
    a = int(rng.integers(modulus // 3, modulus))
    while math.gcd(a, modulus) != 1:
        a += 1
    b = int(rng.integers(0, modulus))
    return a, b


def scramble(index: np.ndarray, seed: int, stream: int, modulus: int) -> np.ndarray:
    """A bijection of ``[0, modulus)`` applied to ``index`` (which must lie in that range)."""
    a, b = affine_parameters(seed, stream, modulus)
    return (mulmod(index, a, modulus) + np.uint64(b)) % np.uint64(modulus)


def digit_identifier(field: FieldSpec, index: np.ndarray, seed: int, dataset: str) -> pa.Array:
    """Unique ``length``-digit numbers (after the prefix) for distinct ``index`` values."""
    ident = field.identifier
    width = ident.length - len(ident.prefix)
    if width < 1 or width > 18:
        raise GenerationError(
            dataset, field.name, ident.length, "digit identifiers need 1-18 digits"
        )
    low = 10 ** (width - 1) if width > 1 else 0
    modulus = 10**width - low
    if len(index) and int(index.max()) >= modulus:
        raise GenerationError(
            dataset, field.name, int(index.max()), f"more rows than {width}-digit keys"
        )
    keys = scramble(index, seed, field.position, modulus) + np.uint64(low)
    target = arrow_type(field.spark_type)
    if pa.types.is_integer(target) and not ident.prefix:
        return pa.array(keys.astype(np.int64)).cast(target)
    chars = digit_characters(keys, width)
    return _with_prefix(chars, ident.prefix).cast(target)


def patient_identifier(
    field: FieldSpec, rng: np.random.Generator, slot: np.ndarray, seed: int, dataset: str
) -> pa.Array:
    """One identifier per patient slot: prefix + random part + unique base-36 part."""
    ident = field.identifier
    if ident.format == "digits":
        return digit_identifier(field, slot, seed, dataset)
    width = ident.length - len(ident.prefix)
    if width < _UNIQUE_CHARS:
        raise GenerationError(
            dataset,
            field.name,
            ident.length,
            f"patient identifiers need at least {_UNIQUE_CHARS} characters after the prefix",
        )
    modulus = len(ALPHANUMERIC) ** _UNIQUE_CHARS
    unique = base_characters(
        scramble(slot, seed, field.position, modulus), _UNIQUE_CHARS, ALPHANUMERIC
    )
    free = random_characters(rng, len(slot), width - _UNIQUE_CHARS)
    chars = np.concatenate([free, unique], axis=1)
    return _with_prefix(chars, ident.prefix).cast(arrow_type(field.spark_type))


def random_identifier(field: FieldSpec, rng: np.random.Generator, n: int) -> pa.Array:
    """Random alphanumerics (or digits) of the declared length, after the prefix."""
    ident = field.identifier
    width = ident.length - len(ident.prefix)
    alphabet = ALPHANUMERIC if ident.format == "alphanumeric" else ALPHANUMERIC[:10]
    chars = random_characters(rng, n, width, alphabet)
    return _with_prefix(chars, ident.prefix).cast(arrow_type(field.spark_type))


def _with_prefix(chars: np.ndarray, prefix: str) -> pa.Array:
    if prefix:
        head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
        chars = np.concatenate([np.broadcast_to(head, (len(chars), len(head))), chars], axis=1)
    return fixed_width_strings(chars)
