"""Safe renderings of values and the recognition of a dead Spark session, without Spark."""

from __future__ import annotations

import pytest
from py4j.protocol import Py4JNetworkError

from artificial_data.common.safe_text import (
    describe_value,
    first_invalid_utf8_byte,
    value_shape,
)
from artificial_data.common.spark import (
    SparkSessionStopped,
    explain_dead_spark,
    is_dead_spark_error,
)


def test_value_shape_keeps_the_kind_of_each_character_only():
    assert value_shape("AB-1") == "AA?9"
    assert value_shape("12:3x") == "99?9A"
    assert value_shape("a b\tc") == "A_A_A"
    assert value_shape("é£") == "A?"
    assert value_shape("") == ""


def test_value_shape_is_cut_and_the_length_stated():
    text = "SECRETVALUE12" * 3
    assert value_shape(text) == "AAAAAAAAAAA99AAAAAAA..."
    assert describe_value(text) == "of shape 'AAAAAAAAAAA99AAAAAAA...' (39 characters)"
    assert describe_value("x") == "of shape 'A' (1 character)"


def test_first_invalid_utf8_byte():
    assert first_invalid_utf8_byte(b"\xff\xfeBAD\xff") == 0
    assert first_invalid_utf8_byte("né".encode() + b"\xe9t\xc3") == 3
    assert first_invalid_utf8_byte("né".encode()) is None


def test_dead_spark_errors_are_recognised_through_the_chain():
    assert is_dead_spark_error(ConnectionRefusedError(111, "Connection refused"))
    assert is_dead_spark_error(Py4JNetworkError("Error while sending or receiving"))
    assert is_dead_spark_error(RuntimeError("Cannot call methods on a stopped SparkContext."))
    # PySpark reports a refused connection in df.schema as a parse error raised while handling it
    disguised = ValueError("[CANNOT_PARSE_DATATYPE] Unable to parse datatype.")
    disguised.__context__ = ConnectionRefusedError(111, "Connection refused")
    assert is_dead_spark_error(disguised)
    assert not is_dead_spark_error(ValueError("toy 2122 CODE: a value of shape 'A'"))


def test_explain_dead_spark_names_the_partition_and_passes_other_errors():
    with (
        pytest.raises(SparkSessionStopped, match=r"^hes_apc 2223: Spark session is not running"),
        explain_dead_spark("hes_apc", "2223"),
    ):
        raise ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(KeyError), explain_dead_spark("hes_apc", "2223"):
        raise KeyError("not Spark")
    with (  # nested guards do not wrap twice
        pytest.raises(SparkSessionStopped) as raised,
        explain_dead_spark("a", "1"),
        explain_dead_spark("b", "2"),
    ):
        raise BrokenPipeError()
    assert str(raised.value).startswith("b 2: ")
