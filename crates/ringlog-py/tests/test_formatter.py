"""The handler's Formatter is honoured: ringdrain's text output holds exactly the lines a
FileHandler with the same Formatter writes (issue 18), whether the drain renders them from the
line layout or the caller formats them (a Formatter the drain cannot reproduce)."""

import datetime
import io
import logging
import os
import re
import subprocess
import sys
import threading
import time

import pytest

import ringlog
import workers

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 240
# logging's default asctime: local time, `,mmm` milliseconds.
ASCTIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}")


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def drain_text(ringdrain_exe, ring, out, env=None):
    subprocess.run(
        [ringdrain_exe, "--ring", ring, "--out", out, "--format", "text", "--once"],
        check=True,
        timeout=120,
        env=env,
    )
    return read_text(out)


def records_of(text):
    """The file split into records: a record starts with an asctime at the start of a line
    (a traceback's lines belong to the record before them)."""
    parts = re.split(r"(?m)^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - )", text)
    return [p for p in parts if p]


@pytest.fixture(params=["full", "fast"])
def logger(ring, request):
    """A logger whose only handler is a ringlog.Handler, on the full path and (after
    ``ringlog.install()``) the fast path."""
    handler = ringlog.Handler(ring, slot_count=4096)
    log = workers.setup_logger("test." + request.node.name, handler, fast=request.param == "fast")
    yield log
    log.handlers.clear()


# --- the seed example ---------------------------------------------------------------------------


def run_seed(mode, target, n):
    subprocess.run(
        [sys.executable, os.path.join(HERE, "seed_example.py"), mode, target, str(n)],
        check=True,
        timeout=TIMEOUT,
    )


def test_the_seed_example_writes_the_lines_a_file_handler_writes(ringdrain_exe, tmp_path):
    n = 300
    started = datetime.datetime.now() - datetime.timedelta(seconds=2)
    file_log = str(tmp_path / "file.log")
    run_seed("file", file_log, n)
    ring = str(tmp_path / "seed.ring")
    run_seed("ringlog", ring, n)
    ring_log = drain_text(ringdrain_exe, ring, str(tmp_path / "ring.log"))
    ended = datetime.datetime.now() + datetime.timedelta(seconds=2)

    file_records = records_of(read_text(file_log))
    ring_records = records_of(ring_log)
    # 2 from the parent; per worker n + 4 of its own, and multiprocessing's own INFO lines.
    assert len(file_records) >= 2 + 5 * (n + 4)
    # The same records, timestamps aside (the workers run concurrently: compared as sets).
    def masked(records):
        return sorted(ASCTIME.sub("<asctime>", r, count=1) for r in records)

    assert masked(ring_records) == masked(file_records)
    # The timestamp format: every record starts with logging's asctime, the local time of the
    # run, then " - LEVEL - ".
    line = re.compile(
        r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d{3} - (INFO|WARNING|ERROR|CRITICAL) - [^\n]+\n"
    )
    for rec in ring_records:
        m = line.match(rec)
        assert m, "not a whole record: %r" % rec
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
        assert started <= t <= ended, rec
    # None interleaved: each worker's numbered records whole, once each, in its own order.
    for k in range(5):
        mine = [r for r in ring_records if " - INFO - Worker-%d: record " % k in r]
        numbers = [int(re.search(r"record (\d+) of", r).group(1)) for r in mine]
        assert numbers == list(range(n))
        tb = [r for r in ring_records if "Worker-%d: an exception" % k in r]
        assert len(tb) == 1 and tb[0].startswith(tb[0][:23] + " - ERROR - Worker-%d: an exception\n"
                                                 "Traceback (most recent call last):\n" % k)
        assert tb[0].endswith("KeyError: 'missing'\n")


# --- formats, compared with logging's own output in the same process ---------------------------

# (style, fmt, datefmt, line mode, pattern of the time-dependent text)
CASES = [
    ("%", "%(asctime)s - %(levelname)s - %(message)s", None, "layout", ASCTIME.pattern),
    (
        "%",
        "%(levelname)-8s|%(levelno)02d|%(name)s|%(filename)s|%(module)s|%(funcName)s|"
        "%(lineno)5d|%(pathname)s|%(process)d|%(thread)d|%(threadName)s|%(processName)s: "
        "%(message)s",
        None,
        "layout",
        None,
    ),
    (
        "%",
        "%(created).3f %(msecs)03d %(msecs)s %(levelname).3s %(levelname)10s %(message)r",
        None,
        "layout",
        r"\d+\.\d{3} \d{3} \d+\.0",
    ),
    (
        "{",
        "{asctime} {levelname:<8} {name:>24.24} {lineno:05d} {process:,} {levelno:^6} "
        "{msecs:03.0f} {{braces}} {message}",
        "%H:%M:%S",
        "layout",
        r"\d\d:\d\d:\d\d|\d{3}(?= \{braces)",
    ),
    (
        "$",
        "$asctime $$ ${levelname}:$name:$message ($funcName in $module)",
        "%d/%m/%Y %I:%M:%S %p",
        "layout",
        r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d [AP]M",
    ),
    (
        "%",
        "[%(asctime)s] %(message)s",
        "%a %b %e %T %Y %Z %z %j %%",
        "layout",
        r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \w+ [+-]\d{4} \d{3}",
    ),
    # What the drain cannot reproduce: formatted on the caller, the same lines all the same.
    ("%", "%(relativeCreated)d %(message)s", None, "caller", r"^\d+"),
    ("{", "{message!r} {lineno:>3}", None, "caller", None),
    ("%", "%(asctime)s %(message)s", "%G-W%V", "caller", r"\d{4}-W\d\d"),
]


def case_id(case):
    return "%s:%s" % (case[0], case[1][:24])


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_each_style_datefmt_and_spec_writes_what_logging_writes(logger, ring, drain_once, case):
    style, fmt, datefmt, mode, volatile = case
    formatter = logging.Formatter(fmt, datefmt, style)
    handler = logger.handlers[0]
    handler.setFormatter(formatter)
    assert handler.line_mode == mode
    # logging's own output: a plain logger of the same name (not registered, so `logger`'s
    # fast path still applies), called from the same line.
    buf = io.StringIO()
    ref = logging.Logger(logger.name)
    stream = logging.StreamHandler(buf)
    stream.setFormatter(formatter)
    ref.addHandler(stream)
    ref.setLevel(logging.DEBUG)
    for lg in (logger, ref):
        lg.debug("debug %d", 1)
    for lg in (logger, ref):
        lg.info("request %d served in %.2f ms by %s", 7, 1.75, "w1")
    for lg in (logger, ref):
        lg.warning("This is a warning message.")
    for lg in (logger, ref):
        lg.error("an error: %r", {"k": [1, 2]})
    for lg in (logger, ref):
        lg.critical("critical %s", "é ✓")
    t = threading.Thread(target=lambda: [lg.info("from %s", "a thread") for lg in (logger, ref)],
                         name="worker-thread")
    t.start()
    t.join()
    got = drain_once("text")
    want = [line for line in buf.getvalue().split("\n") if line]
    assert len(got) == len(want) == 6
    if volatile:
        vol = re.compile(volatile)
        for g, w in zip(got, want):
            assert [len(x) for x in vol.findall(g)] == [len(x) for x in vol.findall(w)], (g, w)
        got = [vol.sub("<t>", g) for g in got]
        want = [vol.sub("<t>", w) for w in want]
    assert got == want


def test_the_utc_converter_and_default_formats_of_the_formatter_are_honoured(logger, drain_once):
    class Utc(logging.Formatter):
        converter = time.gmtime
        default_msec_format = "%s.%03d"

    handler = logger.handlers[0]
    handler.setFormatter(Utc("%(asctime)s|%(message)s"))
    assert handler.line_mode == "layout"
    before = time.time()
    logger.info("utc")
    after = time.time()
    [line] = drain_once("text")
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3})\|utc", line)
    assert m, line
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert int(before) - 1 <= t <= after + 1


def test_a_formatter_subclass_is_run_by_the_caller_and_its_lines_written(logger, drain_once):
    class Shout(logging.Formatter):
        def format(self, record):
            return "custom: " + super().format(record).upper()

    handler = logger.handlers[0]
    handler.setFormatter(Shout("%(levelname)s %(message)s"))
    assert handler.line_mode == "caller"
    logger.info("hello %s", "world")
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("failed")
    text = "\n".join(drain_once("text"))
    assert text.startswith("custom: INFO HELLO WORLD\ncustom: ERROR FAILED\nTRACEBACK (MOST RECENT")
    assert text.endswith("VALUEERROR: BAD VALUE")


def test_exc_info_and_stack_info_are_appended_as_logging_does(logger, drain_once):
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    logger.handlers[0].setFormatter(formatter)
    buf = io.StringIO()
    ref = logging.Logger(logger.name)
    stream = logging.StreamHandler(buf)
    stream.setFormatter(formatter)
    ref.addHandler(stream)

    def fail():
        raise KeyError("missing")

    try:
        fail()
    except KeyError:
        for lg in (logger, ref):
            lg.exception("lookup %d failed", 3)
    for lg in (logger, ref):
        lg.warning("ends with a newline\n", exc_info=(ValueError, ValueError("v"), None))
    # In a thread of its own: a short stack (a stack longer than a record holds, about 800
    # bytes in 64-byte slots, loses its middle: see the README).
    t = threading.Thread(target=lambda: [lg.info("where am I", stack_info=True)
                                         for lg in (logger, ref)])
    t.start()
    t.join()
    got = drain_once("text")
    want = [line for line in buf.getvalue().split("\n") if line]
    assert "Traceback (most recent call last):" in got
    assert "KeyError: 'missing'" in got
    assert "Stack (most recent call last):" in got
    assert [ASCTIME.sub("<t>", g) for g in got] == [ASCTIME.sub("<t>", w) for w in want]


TZ_SCRIPT = r"""
import io, logging, sys, ringlog
buf = io.StringIO()
ring_handler = ringlog.Handler(sys.argv[1])
stream = logging.StreamHandler(buf)
for h in (ring_handler, stream):
    h.setFormatter(logging.Formatter("%(asctime)s | %(message)s", sys.argv[2] or None))
log = logging.getLogger("tz")
log.handlers[:] = [ring_handler, stream]
log.setLevel(logging.INFO)
log.propagate = False
assert ring_handler.line_mode == "layout", ring_handler.line_mode
for i in range(3):
    log.info("line %d", i)
open(sys.argv[3], "w").write(buf.getvalue())
"""


@pytest.mark.parametrize("tz", ["EST5EDT,M3.2.0,M11.1.0", "Asia/Kolkata", "Australia/Lord_Howe"])
@pytest.mark.parametrize("datefmt", ["", "%Y-%m-%d %H:%M:%S %Z %z"])
def test_local_time_follows_the_producers_tz_as_logging_does(ringdrain_exe, tmp_path, tz, datefmt):
    ring = str(tmp_path / "tz.ring")
    ref = str(tmp_path / "ref.log")
    env = dict(os.environ, TZ=tz)
    subprocess.run([sys.executable, "-c", TZ_SCRIPT, ring, datefmt, ref], check=True,
                   timeout=TIMEOUT, env=env)
    # The drain runs in UTC: the producer's zone travels with the layout.
    drain_env = dict(os.environ, TZ="UTC")
    got = [x for x in drain_text(ringdrain_exe, ring, str(tmp_path / "out.log"), drain_env)
           .split("\n") if x]
    want = [x for x in read_text(ref).split("\n") if x]
    assert len(got) == len(want) == 3
    # Seconds and milliseconds may differ between the two handlers' clocks: the rest (date,
    # hour and minute in that zone, its name and offset) is compared exactly.
    sec = re.compile(r"(?<=:\d\d):\d\d(,\d{3})?")
    assert [sec.sub("<s>", g) for g in got] == [sec.sub("<s>", w) for w in want]


# --- the same ring, other outputs ---------------------------------------------------------------


def test_records_without_a_formatter_keep_ringlogs_line_in_the_same_ring(ring, drain_once):
    plain = workers.setup_logger("native", ringlog.Handler(ring, slot_count=4096))
    styled = workers.setup_logger("styled", ringlog.Handler(ring, slot_count=4096))
    styled.handlers[0].setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    plain.warning("native %d", 1)
    styled.warning("styled %d", 2)
    native, line = drain_once("text")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z WARN  \[\d+:\d+\] native: native 1",
                        native), native
    assert line == "WARNING:styled:styled 2"


def test_json_keeps_every_attribute_as_a_field(logger, drain_once):
    handler = logger.handlers[0]
    handler.setFormatter(logging.Formatter("%(asctime)s %(thread)d %(user)s %(message)s"))
    assert handler.line_mode == "layout"

    def in_thread():
        try:
            raise ValueError("v")
        except ValueError:
            logger.error("failed %d", 1, exc_info=True, extra={"user": "ann"})

    t = threading.Thread(target=in_thread, name="T1")
    t.start()
    t.join()
    logger.info("no user here")  # the Formatter would raise: formatted (and reported) here
    [rec] = drain_once("json")
    assert rec["msg"] == "failed 1"
    assert rec["level"] == "error"
    f = rec["fields"]
    assert f["user"] == "ann" and f["threadName"] == "T1"
    assert f["exc_text"].endswith("ValueError: v")
    assert isinstance(f["thread"], int) and f["thread"] != 0


def test_a_record_missing_an_extra_the_formatter_names_fails_as_logging_does(logger, drain_once,
                                                                            capsys):
    handler = logger.handlers[0]
    handler.setFormatter(logging.Formatter("%(user)s %(message)s"))
    logger.info("with", extra={"user": "ann"})
    logger.info("without")
    assert "Formatting field not found in record: 'user'" in capsys.readouterr().err
    assert drain_once("text") == ["ann with"]


def test_a_handler_pickles_with_its_formatter(ring):
    import pickle

    h = ringlog.Handler(ring)
    h.setFormatter(logging.Formatter("{levelname} {message}", style="{"))
    h2 = pickle.loads(pickle.dumps(h))
    assert h2.line_mode == "layout"
    assert h2.formatter._fmt == "{levelname} {message}"


def test_a_renamed_level_or_switched_off_attributes_make_the_caller_format(ring, drain_once,
                                                                           monkeypatch):
    log = workers.setup_logger("renamed", ringlog.Handler(ring, slot_count=4096))
    handler = log.handlers[0]
    logging.addLevelName(logging.WARNING, "WARN")
    try:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        assert handler.line_mode == "caller"
        log.warning("renamed")
    finally:
        logging.addLevelName(logging.WARNING, "WARNING")
    monkeypatch.setattr(logging, "logThreads", False)
    handler.setFormatter(logging.Formatter("%(threadName)s %(message)s"))
    assert handler.line_mode == "caller"
    log.warning("no threads")
    assert drain_once("text") == ["WARN renamed", "None no threads"]
