"""ringlog.Handler in one process: what reaches the log file, fallbacks, errors, fields."""

import logging
import os
import pickle
import sys
import threading

import pytest

import ringlog
import workers


@pytest.fixture(params=["full", "fast"])
def logger(ring, request):
    """A logger whose only handler is a ringlog.Handler: a plain ``logging.Logger`` (the full
    path), and one of ``ringlog.install()``'s class (the fast path where it applies)."""
    handler = ringlog.Handler(ring, slot_count=4096)
    log = workers.setup_logger("test." + request.node.name, handler, fast=request.param == "fast")
    yield log
    log.handlers.clear()


def test_a_record_reaches_the_file_formatted_by_the_drain(logger, drain_once):
    logger.info("request %d served in %.2f ms by %s", 7, 1.75, "w1")
    [rec] = drain_once()
    assert rec["msg"] == "request 7 served in 1.75 ms by w1"
    assert rec["level"] == "info"
    assert rec["target"] == logger.name
    assert rec["pid"] == os.getpid()
    assert rec["tid"] == threading.get_native_id()
    assert rec["file"] == __file__
    assert rec["line"] > 0
    assert rec["fields"] == {}


def test_levels_map_to_ringlog_levels_and_others_keep_their_name(logger, drain_once):
    logger.setLevel(1)
    for level in (5, logging.DEBUG, logging.INFO, 25, logging.WARNING, logging.ERROR, logging.CRITICAL):
        logger.log(level, "at %d", level)
    got = [(r["level"], r["msg"], r["fields"]) for r in drain_once()]
    assert got == [
        ("trace", "at 5", {"levelname": "Level 5"}),
        ("debug", "at 10", {}),
        ("info", "at 20", {}),
        ("info", "at 25", {"levelname": "Level 25"}),
        ("warn", "at 30", {}),
        ("error", "at 40", {}),
        ("critical", "at 50", {}),
    ]


def test_messages_without_arguments_are_not_percent_formatted(logger, drain_once):
    logger.info("100%% sure, %s stays")
    logger.info("")
    [a, b] = drain_once()
    assert a["msg"] == "100%% sure, %s stays"
    assert b["msg"] == ""


def test_what_the_drain_cannot_format_is_formatted_by_get_message(logger, drain_once):
    logger.info("%(user)s logged in %(n)d times", {"user": "ada", "n": 3})
    logger.info(workers.Message("an object"))
    logger.info(["a", "list"])
    logger.info("%c%c", 104, 105)
    logger.info("%*d|", 5, 42)
    logger.info("%s", "one", extra={"unused": 1})
    msgs = [r["msg"] for r in drain_once()]
    assert msgs == ["ada logged in 3 times", "an object", "['a', 'list']", "hi", "   42|", "one"]


def test_a_bad_format_goes_to_handle_error_as_with_any_handler(logger, drain_once, capsys):
    logger.info("%d items", "many")
    logger.info("%s and %s", "only one")
    logger.info("fine %s", "now")
    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 2
    assert "TypeError" in err
    assert [r["msg"] for r in drain_once()] == ["fine now"]


def test_a_failing_str_goes_to_handle_error(logger, drain_once, capsys):
    class Bad:
        def __str__(self):
            raise RuntimeError("no str for you")

    logger.info("value %s", Bad())
    assert "no str for you" in capsys.readouterr().err
    assert drain_once() == []


def test_exc_info_is_formatted_in_the_producer_and_sent_as_exc_text(logger, drain_once):
    try:
        {}["missing"]
    except KeyError:
        expected = logging.Formatter().formatException(sys.exc_info())
        logger.exception("lookup of %r failed", "missing")
    [rec] = drain_once()
    assert rec["msg"] == "lookup of 'missing' failed"
    assert rec["level"] == "error"
    assert rec["fields"]["exc_text"] == expected
    assert expected.startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in expected


def test_the_text_output_shows_the_traceback_on_the_records_line(logger, drain_once):
    try:
        1 / 0
    except ZeroDivisionError:
        logger.error("division failed", exc_info=True)
    logger.info("next")
    lines = drain_once("text")
    assert len(lines) == 2
    assert "division failed exc_text=\"Traceback (most recent call last):\\n  File " in lines[0]
    assert lines[0].endswith("ZeroDivisionError: division by zero\"")
    assert lines[1].endswith(": next")


def test_stack_info_and_a_cached_exc_text_travel_as_fields(logger, drain_once):
    # In a thread of its own, so that the stack is short.
    t = threading.Thread(target=lambda: logger.info("where am I %d", 1, stack_info=True))
    t.start()
    t.join()
    record = logger.makeRecord(logger.name, logging.WARNING, "f.py", 3, "cached %s", ("x",), None)
    record.exc_text = "formatted elsewhere"
    logger.handle(record)
    a, b = drain_once()
    assert a["msg"] == "where am I 1"
    assert a["fields"]["stack_info"].startswith("Stack (most recent call last):")
    assert b["fields"] == {"exc_text": "formatted elsewhere"}


def test_a_traceback_too_long_for_a_record_loses_its_middle_not_its_end(logger, drain_once):
    # Two functions calling each other: Python folds repeats of one frame.
    def ping(n):
        if n == 0:
            raise ValueError("the last line matters")
        pong(n - 1)

    def pong(n):
        ping(n - 1)

    try:
        ping(60)
    except ValueError:
        full = logging.Formatter().formatException(sys.exc_info())
        logger.exception("deep %s", "failure")
    [rec] = drain_once()
    exc = rec["fields"]["exc_text"]
    assert len(full) > 2000
    assert rec["msg"] == "deep failure"
    assert "truncated" not in rec
    assert exc.startswith("Traceback (most recent call last):\n")
    assert exc.endswith("ValueError: the last line matters")
    assert "bytes cut by ringlog ..." in exc
    assert len(exc) < len(full)


def test_the_handlers_formatter_formats_exceptions(logger, drain_once):
    class Short(logging.Formatter):
        def formatException(self, ei):
            return "short: %s" % ei[1]

    logger.handlers[0].setFormatter(Short())
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("oops")
    assert drain_once()[0]["fields"]["exc_text"] == "short: bad"


def test_a_record_made_elsewhere_carries_its_process_and_thread(logger, drain_once):
    made = []
    t = threading.Thread(
        target=lambda: made.append(
            logger.makeRecord(logger.name, logging.INFO, "f.py", 1, "from %s", ("thread",), None)
        )
    )
    t.start()
    t.join()
    logger.handle(made[0])
    remote = logging.makeLogRecord({"name": logger.name, "msg": "from %s", "args": ("far",),
                                    "levelno": logging.INFO, "levelname": "INFO", "process": 1})
    logger.handle(remote)
    logger.info("local %s", "call")
    a, b, c = drain_once()
    assert a["msg"] == "from thread"
    assert a["fields"] == {"process": os.getpid(), "thread": made[0].thread,
                           "threadName": made[0].threadName}
    assert b["msg"] == "from far"
    assert b["fields"]["process"] == 1
    assert c["fields"] == {}


def test_filters_run_and_can_reject(logger, drain_once):
    logger.handlers[0].addFilter(lambda r: r.levelno >= logging.WARNING)
    logger.info("dropped by the filter")
    logger.warning("kept %d", 1)
    assert [r["msg"] for r in drain_once()] == ["kept 1"]


def test_the_handler_level_filters(ring, drain_once):
    log = workers.setup_logger("levels", ringlog.Handler(ring, level=logging.WARNING))
    log.info("no")
    log.error("yes")
    assert [r["msg"] for r in drain_once()] == ["yes"]


def test_many_templates_at_one_call_site_all_render_exactly(logger, drain_once):
    # Beyond the per-location cache (256 templates), templates are formatted in the producer.
    for i in range(600):
        logger.info("template %d: %%s" % i, i)
    msgs = [r["msg"] for r in drain_once()]
    assert msgs == ["template %d: %d" % (i, i) for i in range(600)]


def test_the_same_callsite_is_registered_once_and_reused(ring, drain_once):
    a = workers.setup_logger("a", ringlog.Handler(ring))
    for i in range(1000):
        a.info("n=%d", i)
    assert [r["msg"] for r in drain_once()] == ["n=%d" % i for i in range(1000)]


def test_a_handler_pickles_as_its_settings(ring):
    h = ringlog.Handler(ring, level=logging.INFO, policy=0.5)
    h2 = pickle.loads(pickle.dumps(h))
    assert isinstance(h2, ringlog.Handler)
    assert (h2.ring, h2.level, h2.policy, h2.path) == (ring, logging.INFO, 0.5, h.path)


def test_a_bad_policy_or_ring_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="policy"):
        ringlog.Handler(str(tmp_path / "r"), policy="sometimes")
    with pytest.raises(OSError, match="cannot open ring"):
        ringlog.Handler(str(tmp_path / "no" / "such" / "dir" / "r"))
    bad = tmp_path / "not-a-ring"
    bad.write_bytes(b"x" * 8192)
    with pytest.raises(OSError, match="cannot open ring"):
        ringlog.Handler(str(bad))


def test_with_no_drain_a_full_ring_drops_and_counts_instead_of_hanging(tmp_path):
    for policy in ("drop", "block", 0.01):
        h = ringlog.Handler(str(tmp_path / ("r-%s" % policy)), policy=policy, slot_count=64)
        log = workers.setup_logger("full-%s" % policy, h)
        for i in range(500):
            log.info("filling %d", i)
        assert h.stats()["dropped"] > 0, policy
        assert not h.drain_alive()


def test_strings_with_lone_surrogates_do_not_break_the_record(logger, drain_once):
    s = b"caf\xe9".decode("utf-8", "surrogateescape")
    logger.info("%s|%r|%a", s, s, s)
    [rec] = drain_once()
    plain, rest = rec["msg"].split("|", 1)
    assert plain.startswith("caf\ufffd")
    assert rest == "%r|%a" % (s, s)


def test_long_messages_are_cut_with_a_marker_not_lost(logger, drain_once):
    logger.info("big %s", "x" * 5000)
    [rec] = drain_once()
    assert rec["msg"].startswith("big xxx")
    assert rec.get("truncated") is True
    assert logger.handlers[0].stats()["truncated"] == 1
