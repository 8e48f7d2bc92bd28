"""Code the tests run in worker processes (importable by spawned children), and the generator of
varied records whose drained messages are compared with ``record.getMessage()``."""

import enum
import logging
import math
import random
import struct

import ringlog

LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL, 25]


class Obj:
    """An object that is not a plain type: the producer sends its str()/repr()/ascii()."""

    def __init__(self, i):
        self.i = i

    def __str__(self):
        return "Obj#%d" % self.i

    def __repr__(self):
        return "<Obj %d 'é'>" % self.i


class Color(enum.IntEnum):
    RED = 1
    GREEN = 2


class MyFloat(float):
    def __str__(self):
        return "MyFloat!"


class MyInt(int):
    def __repr__(self):
        return "MyInt!"


class Message:
    """A non-str ``msg``: getMessage() calls str() on it."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


STRINGS = [
    "plain", "it's", 'say "hi"', "both ' and \"", "tab\there", "new\nline", "cr\r\nlf",
    "back\\slash", "héllo wörld", "日本語", "emoji 😀", "nul\x00byte", "\x7f\x80\xa0\u2028",
    "", " spaces ", "%s not a hole", "\u200b zero width", "\ue000 private", "{braces}",
]
FLOATS = [
    0.0, -0.0, 1.5, 1e20, 1e-7, 1e16, 1e15, 9999999999999998.0, 1.5e-5, 1e-4, 1e-5,
    float("nan"), float("inf"), float("-inf"), 0.1 + 0.2, 123456.789, 2.675, 5e-324,
    1.7976931348623157e308, -2.5, 1e22, 0.5,
]
INTS = [0, -1, 1, 42, -42, 255, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, 10**18]
BYTES = [b"", b"abc", b"it's", b'q"', b"\x00\xff\n\\", "é".encode()]


def _float(rng):
    r = rng.random()
    if r < 0.5:
        return rng.choice(FLOATS)
    if r < 0.8:
        return rng.uniform(-1e6, 1e6)
    return struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]


def _finite(rng):
    v = _float(rng)
    return v if math.isfinite(v) else 1.25


def _int(rng):
    return rng.choice(INTS) if rng.random() < 0.5 else rng.randint(-(10**12), 10**12)


def _str(rng):
    if rng.random() < 0.7:
        return rng.choice(STRINGS)
    # Random code points: ASCII, Latin-1, BMP (no surrogates), astral.
    out = []
    for _ in range(rng.randint(0, 12)):
        band = rng.choice([(0x20, 0x7E), (0, 0x20), (0x80, 0xFF), (0x100, 0xD7FF), (0xE000, 0xFFFF),
                           (0x10000, 0x10FFFF)])
        out.append(chr(rng.randint(*band)))
    return "".join(out)


GENERATORS = {
    "int": _int,
    "float": _float,
    "finite": _finite,
    "str": _str,
    "bool": lambda rng: rng.random() < 0.5,
    "none": lambda rng: None,
    "bytes": lambda rng: rng.choice(BYTES),
    "obj": lambda rng: Obj(rng.randint(0, 9)),
    "bigint": lambda rng: rng.choice([2**64, -(2**63) - 1, 2**70 + 3, -(10**30)]),
    "list": lambda rng: [1, "a", None],
    "enum": lambda rng: rng.choice(list(Color)),
    "myfloat": lambda rng: MyFloat(_finite(rng)),
    "myint": lambda rng: MyInt(_int(rng)),
    "uint": lambda rng: rng.randint(0, 2**64 - 1),
    "char": lambda rng: rng.choice([65, 0x1F600, 0xE9]),
}

# (template after the "#W.I " prefix, argument kinds). The drain formats all of these except the
# last few (formatted by the producer: %c, mapping arguments).
TEMPLATES = [
    ("int %d and %s", ["int", "str"]),
    ("float %s %r %f", ["float", "float", "float"]),
    ("%5.2f|%-8s|%x|%%", ["float", "str", "int"]),
    ("%r %a", ["str", "str"]),
    ("%s %r %a", ["bool", "none", "bool"]),
    ("%s %r %.4s", ["bytes", "bytes", "bytes"]),
    ("%e %E %g %G", ["float", "float", "float", "float"]),
    ("%.3e %.0e %#.0e %.10g %#g", ["float", "float", "float", "float", "float"]),
    ("%+d %05d % d %.3d %-6d|", ["int", "int", "int", "int", "int"]),
    ("%#x %#o %X %#08x", ["int", "int", "int", "uint"]),
    ("truncated %d %i %u", ["finite", "finite", "finite"]),
    ("objects %s %r %a %-12r|", ["obj", "obj", "obj", "obj"]),
    ("big %s %r %a", ["bigint", "bigint", "bigint"]),
    ("list %s %r", ["list", "list"]),
    ("%-10.3s|%10r|%.2r", ["str", "str", "str"]),
    ("%.2f%% done, %010.3f, %+.1f, % .0f, %#.0f", ["float", "float", "float", "float", "float"]),
    ("enum %d %x %s %r", ["enum", "enum", "enum", "enum"]),
    ("subclasses %f %s %d %r %e", ["myfloat", "myfloat", "myint", "myint", "myfloat"]),
    ("mixed %s %s %s %s %s %s", ["int", "float", "bool", "none", "str", "bytes"]),
    ("%ld %hd %Lf", ["int", "int", "float"]),
    ("u64 %d %s %x", ["uint", "uint", "uint"]),
    ("%d of a big int", ["bigint"]),
    ("char %c", ["char"]),
]


def make_record(w, i, rng):
    """(level, msg, args) of record ``i`` of worker ``w``; ``rng`` is the worker's generator."""
    level = rng.choice(LEVELS)
    r = rng.random()
    if r < 0.04:
        # No arguments: the message is used as is (no % processing).
        return level, "#%d.%d literal %%s %%%% text %s" % (w, i, rng.choice(STRINGS)), ()
    if r < 0.06:
        return level, Message("#%d.%d message object" % (w, i)), ()
    if r < 0.08:
        return level, "#%(w)d.%(i)d mapping %(v)r", ({"w": w, "i": i, "v": _str(rng)},)
    template, kinds = rng.choice(TEMPLATES)
    args = (w, i) + tuple(GENERATORS[k](rng) for k in kinds)
    return level, "#%d.%d " + template, args


def expected_message(level, msg, args):
    return logging.LogRecord("w", level, __file__, 1, msg, args, None).getMessage()


def fast_logger(name):
    """``logging.getLogger(name)`` as it is after ``ringlog.install()``, without installing it
    for the whole test process (the tests compare both paths in one process)."""
    manager = logging.Logger.manager
    old = manager.loggerClass
    manager.loggerClass = ringlog._fast_class(logging.Logger)
    try:
        logger = logging.getLogger(name)
    finally:
        manager.loggerClass = old
    assert isinstance(logger, ringlog._FastLogger), "%s existed before" % name
    return logger


def setup_logger(name, handler, fast=False):
    logger = fast_logger(name) if fast else logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def log_varied(ring, w, n, install=False):
    """Worker: logs ``n`` varied records through a fresh handler on ``ring`` (after
    ``ringlog.install()`` if ``install``)."""
    if install:
        ringlog.install()
    logger = setup_logger("w", ringlog.Handler(ring))
    if install:
        # Prove the fast path is what runs: no LogRecord may be made for these records except
        # those the fast path hands over (custom levels, messages it cannot defer).
        assert isinstance(logger, ringlog._FastLogger)
        full_path = count_full_path(logger)
    rng = random.Random(w)
    for i in range(n):
        level, msg, args = make_record(w, i, rng)
        logger.log(level, msg, *args)
    if install:
        # Custom levels (1 in 6), message objects, mapping arguments, %c, big ints under %d:
        # about a quarter. Everything else went by the fast path.
        assert 0 < full_path[0] < n * 0.4, (full_path[0], n)


def count_full_path(logger):
    """Counts the calls of ``logger`` that take the full path (``Logger._log``); returns the
    one-element list that holds the count."""
    calls = [0]
    full = logger._log

    def counted(level, msg, args, stacklevel=1, **kwargs):
        calls[0] += 1
        return full(level, msg, args, stacklevel=stacklevel + 1, **kwargs)

    logger._log = counted
    return calls


def log_numbered(name, handler, w, n):
    """Worker: logs ``n`` records ``#W.I`` through ``handler`` (or the inherited logger's)."""
    logger = setup_logger(name, handler) if handler is not None else logging.getLogger(name)
    for i in range(n):
        logger.info("#%d.%d numbered %s %r", w, i, "x" * (i % 7), i / 4)
    return w


def init_pool(ring):
    """ProcessPoolExecutor initializer."""
    setup_logger("pool", ringlog.Handler(ring))


def pool_task(w, n):
    return log_numbered("pool", None, w, n)
