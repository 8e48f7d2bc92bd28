"""``ringlog.install()``: the fast path writes exactly what the full path writes, makes no
LogRecord, and gives way to the full path whenever anything else is attached, including after
changes made once loggers exist. Also ``extra`` fields, thread/process/task names and CRITICAL
on both paths."""

import asyncio
import logging
import os
import random
import subprocess
import sys
import textwrap
import threading

import pytest

import ringlog
import workers


def both(ring, name):
    """A full-path and a fast-path logger, each with its own handler on ``ring``."""
    full = workers.setup_logger(name + ".full", ringlog.Handler(ring, slot_count=1 << 14))
    fast = workers.setup_logger(name + ".fast", ringlog.Handler(ring, slot_count=1 << 14),
                                fast=True)
    return full, fast


def without(rec, *keys):
    return {k: v for k, v in rec.items() if k not in keys}


def log_everything(log, rng):
    """The same calls, from the same lines, whichever logger ``log`` is."""
    for i in range(3000):
        level, msg, args = workers.make_record(0, i, rng)
        log.log(level, msg, *args)
    log.debug("debug %s", "d")
    log.info("info %d", 1)
    log.warning("warning %r", "w")
    log.error("error %.1f", 2.5)
    log.critical("critical %x", 255)
    log.fatal("fatal %s", None)
    log.info("no arguments %s %%")
    log.info("extra %s", "typed", extra={"i": -3, "big": 2**70, "f": 0.25, "b": False,
                                         "s": "é\n", "by": b"\x00\xff", "n": None,
                                         "o": ["x", 1], "http.status": 200})
    log.info("extra, no args", extra={"user": "ada"})
    log.log(25, "custom level %s", "x")
    t = threading.Thread(target=lambda: log.info("from %s", "a thread"), name="worker-7")
    t.start()
    t.join()

    async def task():
        log.info("from %s", "a task")

    async def main():
        await asyncio.create_task(task(), name="job-1")

    asyncio.run(main())
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("exception %s", "text")


def test_the_fast_path_writes_what_the_full_path_writes(ring, drain_once):
    full, fast = both(ring, "same")
    for log in (full, fast):
        log.setLevel(1)
        log_everything(log, random.Random(3))
    records = drain_once()
    a = [r for r in records if r["target"] == full.name]
    b = [r for r in records if r["target"] == fast.name]
    assert len(a) == len(b) == 3000 + 13
    for x, y in zip(a, b):
        assert without(x, "ts", "target", "tid") == without(y, "ts", "target", "tid")
    by_msg = {r["msg"]: r for r in b}
    assert by_msg["critical ff"]["level"] == "critical"
    assert by_msg["fatal None"]["level"] == "critical"
    assert by_msg["extra typed"]["fields"] == {
        "i": -3, "big": str(2**70), "f": 0.25, "b": False, "s": "é\n", "by": [0, 255],
        "n": None, "o": "['x', 1]", "http.status": 200,
    }
    assert by_msg["extra, no args"]["fields"] == {"user": "ada"}
    assert by_msg["from a thread"]["fields"] == {"threadName": "worker-7"}
    assert by_msg["from a task"]["fields"] == {"taskName": "job-1"}
    assert by_msg["custom level x"]["fields"] == {"levelname": "Level 25"}
    assert by_msg["exception text"]["fields"]["exc_text"].endswith("division by zero")
    assert by_msg["info 1"]["file"] == __file__
    assert by_msg["info 1"]["line"] == log_everything.__code__.co_firstlineno + 6


def test_fast_calls_make_no_log_record(ring, drain_once):
    full, fast = both(ring, "norecord")
    calls = workers.count_full_path(fast)
    for i in range(100):
        fast.info("n=%d %s", i, "x")
        fast.warning("plain")
        fast.info("with extra %d", i, extra={"k": i})
    assert calls[0] == 0
    fast.info("%(a)s", {"a": 1})  # mapping arguments: the full path formats them
    fast.info("x", stack_info=True)
    assert calls[0] == 2
    assert len(drain_once()) == 302


def test_a_bad_extra_key_raises_as_makerecord_does(ring):
    full, fast = both(ring, "badextra")
    for log in (full, fast):
        with pytest.raises(KeyError, match="Attempt to overwrite 'message'"):
            log.info("x", extra={"message": 1})
        with pytest.raises(KeyError, match="Attempt to overwrite 'lineno'"):
            log.info("x", extra={"lineno": 1})


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def test_changes_after_loggers_exist_are_honoured(ring, drain_once):
    parent = workers.fast_logger("chg")
    parent.handlers[:] = []
    parent.propagate = False
    log = workers.setup_logger("chg.child", ringlog.Handler(ring), fast=True)
    log.setLevel(logging.DEBUG)
    calls = workers.count_full_path(log)
    handler = log.handlers[0]

    log.info("1 fast")
    other = Collect()
    log.addHandler(other)
    log.info("2 both")
    log.removeHandler(other)
    log.info("3 fast")
    log.addFilter(lambda r: "drop" not in r.msg)
    log.info("4 drop me")
    log.info("5 filtered, kept")
    log.filters.clear()
    log.info("6 fast")
    handler.setLevel(logging.WARNING)
    log.info("7 below the handler's level")
    handler.level = logging.INFO
    log.info("8 fast")
    handler.addFilter(lambda r: True)
    log.info("9 handler filter")
    handler.filters[:] = []
    # Propagation to a parent with a handler of its own: both handle it.
    log.propagate = True
    parent.handlers.append(other)
    log.info("10 propagated")
    parent.handlers.remove(other)
    log.info("11 fast, propagating to a parent without handlers")
    log.handlers = [handler, other]
    log.info("12 both")
    log.handlers = [handler]
    log.setLevel(logging.ERROR)
    log.info("13 below the logger's level")
    log.setLevel(logging.DEBUG)
    log.disabled = True
    log.info("14 disabled")
    log.disabled = False
    logging.disable(logging.INFO)
    try:
        log.info("15 logging.disable")
    finally:
        logging.disable(logging.NOTSET)
    log.info("16 fast")

    msgs = [r["msg"] for r in drain_once()]
    assert msgs == ["1 fast", "2 both", "3 fast", "5 filtered, kept", "6 fast", "8 fast",
                    "9 handler filter", "10 propagated",
                    "11 fast, propagating to a parent without handlers", "12 both", "16 fast"]
    assert other.records == ["2 both", "10 propagated", "12 both"]
    # Full path: the calls with another handler or a filter attached (2, 4, 5, 9, 10, 12).
    assert calls[0] == 6


def test_a_full_ring_with_a_drain_releases_the_gil_while_it_waits(tmp_path, ringdrain_exe):
    # A tiny ring and a drain that is stopped (SIGSTOP) while a thread logs: the logging thread
    # waits for room, and another Python thread must keep running meanwhile.
    import signal
    import time

    ring = str(tmp_path / "gil.ring")
    log = workers.setup_logger("gil", ringlog.Handler(ring, slot_count=64, policy="block"))
    drain = subprocess.Popen([ringdrain_exe, "--ring", ring, "--out", str(tmp_path / "o")])
    try:
        h = log.handlers[0]
        for _ in range(2000):  # wait (bounded) until the drain is attached
            if h.drain_alive():
                break
            time.sleep(0.01)
        assert h.drain_alive(), "ringdrain did not attach"
        drain.send_signal(signal.SIGSTOP)
        done = threading.Event()
        progress = [0]

        def fill():
            for i in range(500):
                log.info("filling %d", i)
                progress[0] = i
            done.set()

        t = threading.Thread(target=fill)
        t.start()
        # Until the filler has filled the ring (64 slots) and waits for room (its progress
        # stops); it waits until the stopped drain's heartbeat is a second old, then drops the
        # rest and finishes.
        deadline = time.monotonic() + 60
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.005)
            if progress[0] != last:
                last, since = progress[0], time.monotonic()
            elif last >= 20 and time.monotonic() - since > 0.05:
                break
        # This thread runs while the filler waits: with the GIL held by the waiter it would
        # only get here after the filler gave up and finished.
        ticks = 0
        for _ in range(100_000):
            ticks += 1
        assert not done.is_set(), "this thread only ran once the waiting thread had finished"
        assert ticks == 100_000
        drain.send_signal(signal.SIGCONT)
        t.join(120)
        assert done.is_set(), "the logging thread did not finish after the drain resumed"
    finally:
        drain.send_signal(signal.SIGCONT)
        drain.terminate()
        drain.wait(120)


INSTALLED = textwrap.dedent("""
    import logging, sys
    early = logging.getLogger("made.before")      # converted by install()
    import ringlog
    ringlog.install()
    logging.basicConfig(level=logging.INFO, handlers=[ringlog.Handler(sys.argv[1])])
    assert isinstance(logging.root, ringlog._FastLogger)
    assert isinstance(early, ringlog._FastLogger)
    late = logging.getLogger("made.after")
    calls = []
    for log in (logging.root, early, late):
        full = log._log
        log._log = lambda *a, **k: calls.append(a) or full(*a, **k)
    def where():
        logging.info("module function %d", 1)
        early.warning("early %s", "logger")
        late.error("late %s", "logger")
    where()
    ringlog.install()  # harmless
    assert calls == [], calls
""")


def test_install_converts_the_root_and_existing_loggers(ring, drain_once, tmp_path):
    script = tmp_path / "app.py"
    script.write_text(INSTALLED)
    subprocess.run([sys.executable, str(script), ring], check=True, timeout=120)
    got = [(r["target"], r["level"], r["msg"], r["file"], r["line"], r["fields"])
           for r in drain_once()]
    line = INSTALLED.split("\n").index("def where():") + 1
    assert got == [
        ("root", "info", "module function 1", str(script), line + 1, {}),
        ("made.before", "warn", "early logger", str(script), line + 2, {}),
        ("made.after", "error", "late logger", str(script), line + 3, {}),
    ]


def test_install_leaves_a_logger_class_that_makes_records_its_own_way_alone(tmp_path):
    script = tmp_path / "custom.py"
    script.write_text(textwrap.dedent("""
        import logging, warnings, ringlog
        class Mine(logging.Logger):
            def makeRecord(self, *a, **k):
                return super().makeRecord(*a, **k)
        logging.setLoggerClass(Mine)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            ringlog.install()
        assert logging.getLoggerClass() is Mine
        assert "fast path stays off" in str(w[0].message), w
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)


README = os.path.join(os.path.dirname(__file__), "..", "..", "..", "README.md")


def test_the_readme_dictconfig_example_runs_as_shown(ring, drain_once, tmp_path):
    text = open(README, encoding="utf-8").read()
    start = text.index("```python\nimport logging.config")
    example = text[start + len("```python\n"):text.index("```", start + 3)]
    script = tmp_path / "example.py"
    script.write_text(example + textwrap.dedent("""
        # Checks (not in the README): the fast path is what ran.
        assert isinstance(logging.getLogger("app.db"), ringlog._FastLogger)
        assert logging.getLogger("app.db")._ringlog[1] is not None
    """))
    env = dict(os.environ, APP_RING=ring)
    subprocess.run([sys.executable, str(script)], check=True, timeout=120, env=env)
    got = [(r["target"], r["level"], r["msg"], r["fields"]) for r in drain_once()]
    assert got == [
        ("app.db", "debug", "query users took 1.25 ms", {"rows": 3}),
        ("other", "critical", "disk 97% full", {}),
    ]
