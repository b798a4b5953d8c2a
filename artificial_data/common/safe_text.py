"""A rendering of a raw value that can be shown anywhere: its shape, never its content.

Error messages of the sensitive scope end up in the shared Dagster run history (failure
messages, event logs), which every user and every code location can read. A raw HES value in
such a message, even a single malformed code, would carry patient data across the boundary
(issue 11). What a person needs to fix a bad value is its *shape* (``'12:3x'`` is
``'99?9A'``, five characters: a typo in a time of day), so that is all the scraper ever says
about a value: letters become ``A``, digits ``9``, whitespace ``_`` and any other character
``?``, cut to a few characters, with the full length stated.
"""

from __future__ import annotations

#: Characters of a shape shown before it is cut; the length is always stated in full.
SHAPE_LIMIT = 20


def _shape_of(char: str) -> str:
    if char.isalpha():
        return "A"
    if char.isdigit():
        return "9"
    if char.isspace():
        return "_"
    return "?"


def value_shape(text: str, limit: int = SHAPE_LIMIT) -> str:
    """The shape of ``text`` (``'AA?9'`` for ``'AB-1'``), cut to ``limit`` characters + '...'."""
    shape = "".join(_shape_of(c) for c in text[:limit])
    return shape + "..." if len(text) > limit else shape


def describe_value(text: str, limit: int = SHAPE_LIMIT) -> str:
    """``"of shape 'AA?9' (4 characters)"``: the words an error message uses for a value."""
    unit = "character" if len(text) == 1 else "characters"
    return f"of shape {value_shape(text, limit)!r} ({len(text)} {unit})"


def first_invalid_utf8_byte(data: bytes) -> int | None:
    """The offset of the first byte of ``data`` that is not valid UTF-8, or None if all are.

    An offset says where to look in the source without showing any of its bytes.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return None
