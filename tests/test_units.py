"""Human units: parsed once into SI base units, formatted back for people."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ridgeline.errors import RidgelineError, ScenarioError
from ridgeline.units import DIMENSIONS, format_value, parse, parse_count, unit_of


@pytest.mark.parametrize("text, dimension, expected", [
    ("80 GB", "bytes", 8e10),
    ("80 GiB", "bytes", 80 * 2**30),
    ("80GiB", "bytes", 80 * 2**30),
    ("512 MiB", "bytes", 512 * 2**20),
    ("3.35 TB/s", "bytes_per_s", 3.35e12),
    ("400 Gb/s", "bytes_per_s", 5e10),          # lower-case b is a bit
    ("900 GB/s", "bytes_per_s", 9e11),
    ("989 TFLOP/s", "flops_per_s", 9.89e14),
    ("1979 TOP/s", "flops_per_s", 1.979e15),
    ("3.2 TFLOP", "flops", 3.2e12),
    ("700 W", "w", 700.0),
    ("1.2 kW", "w", 1200.0),
    ("2.49 USD/h", "usd_per_hour", 2.49),
    ("2.49 $/h", "usd_per_hour", 2.49),
    ("27 ms", "s", 0.027),
    ("10 us", "s", 1e-5),
    ("2 h", "s", 7200.0),
    ("1.5 kJ", "j", 1500.0),
    ("100 USD", "usd", 100.0),
])
def test_parse_human_units(text, dimension, expected):
    assert parse(text, dimension) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text, expected", [
    ("300B", 3e11), ("1.4T", 1.4e12), ("1e9", 1e9), ("7M", 7e6), ("15k", 1.5e4),
    ("1,000,000", 1e6), ("1_000", 1e3), (42, 42.0), (2.5e9, 2.5e9),
])
def test_parse_counts(text, expected):
    assert parse_count(text) == pytest.approx(expected, rel=1e-12)


def test_numbers_pass_through_in_si_units():
    assert parse(8e10, "bytes") == 8e10
    assert parse(700, "w") == 700.0
    assert isinstance(parse(700, "w"), float)


def test_decimal_and_binary_prefixes_differ():
    assert parse("1 GiB", "bytes") / parse("1 GB", "bytes") == pytest.approx(2**30 / 1e9)


@pytest.mark.parametrize("value, dimension", [
    ("80 furlongs", "bytes"),
    ("3.35 TB", "bytes_per_s"),       # bytes where a rate is expected
    ("3.35 TB/s", "bytes"),           # a rate where bytes are expected
    ("700 W", "flops_per_s"),
    ("fast", "bytes_per_s"),
    ("", "bytes"),
    ("GB", "bytes"),
    ("1e999 B", "bytes"),             # overflows to inf
    ("nan GB", "bytes"),
    (float("nan"), "bytes"),
    (float("inf"), "w"),
    (-float("inf"), "s"),
    (True, "bytes"),
    (False, "count"),
    ([80], "bytes"),
    ({"value": 80}, "bytes"),
    (None, "w"),
])
def test_bad_values_give_scenario_error_naming_the_value(value, dimension):
    with pytest.raises(ScenarioError) as info:
        parse(value, dimension, what="capacity_bytes")
    message = str(info.value)
    assert "capacity_bytes" in message
    if isinstance(value, (str, bool, float)) and value != "":
        assert repr(value) in message or str(value) in message


def test_scenario_error_is_a_value_error_and_a_ridgeline_error():
    with pytest.raises(ValueError):
        parse("80 furlongs", "bytes")
    with pytest.raises(RidgelineError):
        parse("80 furlongs", "bytes")


def test_unit_error_suggests_an_example():
    with pytest.raises(ScenarioError, match="3.35 TB/s"):
        parse("3.35 TB", "bytes_per_s")


@settings(max_examples=150)
@given(text=st.text(max_size=20), dimension=st.sampled_from(sorted(DIMENSIONS)))
def test_any_string_parses_to_a_finite_number_or_scenario_error(text, dimension):
    try:
        value = parse(text, dimension)
    except ScenarioError:
        return
    assert isinstance(value, float) and math.isfinite(value)


@pytest.mark.parametrize("name, unit", [
    ("decode_step_s", "s"), ("weight_bytes", "B"), ("memory_bandwidth_bytes_per_s", "B/s"),
    ("peak_flops_per_s", "FLOP/s"), ("prefill_flops", "FLOP"), ("power_w", "W"),
    ("energy_j", "J"), ("price_usd_per_hour", "USD/h"), ("cost_usd", "USD"),
    ("decode_tokens_per_s", "tokens/s"), ("batch", ""),
])
def test_unit_of_reads_the_name(name, unit):
    assert unit_of(name) == unit


@pytest.mark.parametrize("value, unit, text", [
    (3.35e12, "B/s", "3.35 TB/s"),
    (8e10, "B", "80 GB"),
    (9.89e14, "FLOP/s", "989 TFLOP/s"),
    (700.0, "W", "700 W"),
    (0.027, "s", "27 ms"),
    (2.49, "USD/h", "2.49 USD/h"),
    (7, "", "7"),
])
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


# format_value's unit symbol -> the dimension parse() reads it back with
_ROUND_TRIP = {"B": "bytes", "B/s": "bytes_per_s", "FLOP/s": "flops_per_s", "FLOP": "flops",
               "W": "w", "J": "j", "s": "s", "USD/h": "usd_per_hour", "USD": "usd"}


@settings(max_examples=200)
@given(unit=st.sampled_from(sorted(_ROUND_TRIP)),
       exponent=st.floats(-8, 24), mantissa=st.floats(1.0, 9.999))
def test_format_value_round_trips_to_three_significant_digits(unit, exponent, mantissa):
    value = mantissa * 10.0 ** exponent
    text = format_value(value, unit)
    back = parse(text, _ROUND_TRIP[unit], what=text)
    # three significant digits: at most half a unit in the third digit
    assert back == pytest.approx(value, rel=5.1e-3), text


def test_format_value_of_non_numbers():
    assert format_value(True, "") == "yes"
    assert format_value("n/a", "s") == "n/a"


@pytest.mark.parametrize("text", ["1,8,64", "1,0", "12,34", "1,000,00"])
def test_commas_that_do_not_group_thousands_are_refused(text):
    with pytest.raises(ScenarioError, match="commas may only separate thousands"):
        parse_count(text, what="batch")


def test_commas_that_group_thousands_are_read():
    assert parse_count("1,024", what="batch") == 1024
    assert parse_count("1,000,000", what="tokens") == 1e6
