"""The drain's rendering of Python templates against Python's own ``%``, without a ring:
``ringlog.format_percent`` runs the producer's argument handling, the binary encoding and the
drain's renderer (ringlog-wire's pyfmt) on one template."""

import math
import random
import struct

import pytest

from ringlog import format_percent

import workers

SPECS = [
    "%s", "%r", "%a", "%d", "%i", "%u", "%x", "%X", "%o", "%e", "%E", "%f", "%F", "%g", "%G",
    "%5s", "%-5s|", "%.2s", "%8.3r|", "%-8a|", "%+d", "% d", "%05d", "%-5d|", "%.3d", "%+.4d",
    "%08.3d", "%#x", "%#X", "%#o", "%#08x", "%#.4x", "%+x", "%.2f", "%5.2f", "%05.2f", "%-8.1f|",
    "%+.3f", "% f", "%#.0f", "%.0f", "%.f", "%010.4f", "%.3e", "%#.0e", "%+E", "%012.3e",
    "%.0g", "%.1g", "%.3g", "%#g", "%#.3g", "%.10g", "%.17g", "%-12g|", "%+G", "%ld", "%hd",
    "%Lf", "%0-5d|", "%- 8.2f|", "%.20f", "%.15e",
]


def values(rng):
    kinds = ["int", "float", "str", "bool", "none", "bytes", "obj", "bigint", "enum", "myfloat",
             "myint", "uint", "list"]
    return workers.GENERATORS[rng.choice(kinds)](rng)


def python(spec, value):
    try:
        return spec % (value,)
    except (TypeError, ValueError, OverflowError):
        return None


def test_every_spec_with_random_values_renders_as_python_or_is_left_to_python():
    rng = random.Random(1234)
    python_ok = left_to_python = 0
    for n in range(60_000):
        spec = rng.choice(SPECS)
        value = values(rng)
        want = python(spec, value)
        got = format_percent(spec, (value,))
        python_ok += want is not None
        if got is None:
            # The producer formats it: an argument % rejects, or one of the rare cases left to
            # Python (an int beyond 64 bits under %d/%x, a float subclass under %d).
            left_to_python += want is not None
            continue
        assert want is not None, "%r %% %r: Python raises, the drain rendered %r" % (spec, value, got)
        assert got == want, "%r %% (%r,)" % (spec, value)
    # Big ints are 1 in 13 of the values here; in real logs far fewer.
    assert left_to_python < python_ok * 0.1


def test_float_repr_is_shortest_round_trip_for_random_bit_patterns():
    rng = random.Random(99)
    for _ in range(100_000):
        v = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        assert format_percent("%s|%r", (v, v)) == "%s|%r" % (v, v)
    for e in range(-330, 310):
        for m in (1.0, 1.5, 9.999999999999998, 2.2250738585072014):
            v = m * 10.0**e if abs(e) < 300 else float("%se%d" % (m, e))
            assert format_percent("%r %g %e %.3f", (v, v, v, v)) == "%r %g %e %.3f" % (v, v, v, v)


def test_fixed_exponent_and_general_forms_round_like_python():
    rng = random.Random(7)
    for _ in range(30_000):
        v = rng.choice([rng.uniform(-10, 10), rng.uniform(-1e9, 1e9), rng.random() * 10.0 ** rng.randint(-30, 30)])
        p = rng.randint(0, 20)
        for conv in "efgEFG":
            spec = "%%.%d%s" % (p, conv)
            assert format_percent(spec, (v,)) == spec % (v,)
    # Exact ties round half to even on the binary value, as Python does.
    for v in (0.5, 1.5, 2.5, 0.125, 0.375, 2.675, 1e23):
        for p in range(0, 4):
            assert format_percent("%%.%df" % p, (v,)) == "%%.%df" % p % (v,)


@pytest.mark.parametrize(
    "value",
    ["", "plain", "it's", 'a "b"', "'\"", "\\", "\t\n\r\x00\x1b\x7f", "é", "\x80\x9f\xa0\xad",
     "\u2028\u200b\ufeff", "😀", "\U000e0001", "\ue000", "日本語 text"],
)
def test_str_repr_and_ascii_match_python(value):
    assert format_percent("%s|%r|%a|%-12r|%.3a", (value,) * 5) == "%s|%r|%a|%-12r|%.3a" % ((value,) * 5)


def test_random_unicode_strings_match_python():
    rng = random.Random(5)
    for _ in range(20_000):
        s = workers._str(rng)
        assert format_percent("%s %r %a", (s, s, s)) == "%s %r %a" % (s, s, s)


@pytest.mark.parametrize(
    "value", [b"", b"abc", b"it's", b'"', b"'\"", b"\\", bytes(range(256))]
)
def test_bytes_match_python(value):
    assert format_percent("%s|%r|%a|%.5s", (value,) * 4) == "%s|%r|%a|%.5s" % ((value,) * 4)


def test_integers_at_the_64_bit_edges_match_python():
    for v in [0, 1, -1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1, True, False]:
        for spec in ["%d", "%x", "%X", "%o", "%#x", "%+d", "%020d", "%f", "%e", "%g", "%s", "%r"]:
            assert format_percent(spec, (v,)) == spec % (v,), (spec, v)


def test_templates_the_drain_cannot_render_are_left_to_python():
    assert format_percent("%c", (65,)) is None
    assert format_percent("%*d", (5, 3)) is None
    assert format_percent("%(a)s", ({"a": 1},)) is None
    assert format_percent("%5%", (1,)) is None
    assert format_percent("%y", (1,)) is None
    assert format_percent("%s %s", (1,)) is None
    assert format_percent("%d", ("x",)) is None
    assert format_percent("%x", (1.5,)) is None
    assert format_percent("%d", (math.nan,)) is None
    assert format_percent("%d", (2**64,)) is None
    assert format_percent("%.2000f", (1.0,)) is None
    assert format_percent("%s", (2**64,)) == str(2**64)


def test_nan_and_infinities_match_python():
    for v in (math.nan, -math.nan, math.inf, -math.inf):
        for spec in ["%f", "%F", "%e", "%E", "%g", "%G", "%05f", "%+f", "%-8f|", "%s", "%r", "%010.2e"]:
            assert format_percent(spec, (v,)) == spec % (v,), (spec, v)
