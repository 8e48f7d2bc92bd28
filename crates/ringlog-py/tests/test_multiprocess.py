"""Many processes and threads logging through ringlog.Handler while ringdrain runs: every
record exactly once, whole, with the message ``record.getMessage()`` gives; and every
multiprocessing start method and pool."""

import concurrent.futures
import json
import logging
import multiprocessing
import os
import random
import re
import threading

import pytest

import ringlog
import workers

ID = re.compile(r"^#(\d+)\.(\d+) ")
LOG_VARIED_LINE = next(
    n for n, line in enumerate(open(workers.__file__), 1) if "logger.log(level, msg, *args)" in line
)
# A test that could hang (a deadlocked child) fails after this long instead.
TIMEOUT = 240


def run_processes(ctx, target, args_list):
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT)
    hung = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert not hung, "worker processes %s did not finish within %d s" % (hung, TIMEOUT)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return [p.pid for p in procs]


def by_id(records, target):
    """{(w, i): record} of the drained records of ``target``, asserting each is there once."""
    seen = {}
    for rec in records:
        if rec["target"] != target:
            continue
        m = ID.match(rec["msg"])
        assert m, "a record without its id: %r" % rec
        key = (int(m.group(1)), int(m.group(2)))
        assert key not in seen, "record %s written twice" % (key,)
        seen[key] = rec
    return seen


def check_numbered(records, target, workers_n, per_worker):
    seen = by_id(records, target)
    assert len(seen) == workers_n * per_worker
    for (w, i), rec in seen.items():
        assert rec["msg"] == "#%d.%d numbered %s %r" % (w, i, "x" * (i % 7), i / 4)
    return seen


@pytest.mark.parametrize("install", [False, True], ids=["full-path", "installed"])
def test_four_spawned_processes_log_200k_varied_records_each_exactly_once_and_exact(
    ring, drain, install
):
    per_worker = 50_000
    # The test creates a small ring (4 MiB) so the producers wrap it many times over.
    ringlog.Handler(ring, slot_count=1 << 16)
    d = drain()
    ctx = multiprocessing.get_context("spawn")
    pids = run_processes(
        ctx, workers.log_varied, [(ring, w, per_worker, install) for w in range(4)]
    )
    records = d.stop()
    parsed = []
    for line in records:
        # Every line is one whole JSON object: nothing torn or interleaved.
        parsed.append(json.loads(line))
    seen = by_id(parsed, "w")
    assert len(seen) == 4 * per_worker, "records lost: %d of %d" % (len(seen), 4 * per_worker)
    levels = {logging.DEBUG: "debug", logging.INFO: "info", 25: "info", logging.WARNING: "warn",
              logging.ERROR: "error", logging.CRITICAL: "critical"}
    for w in range(4):
        rng = random.Random(w)
        for i in range(per_worker):
            level, msg, args = workers.make_record(w, i, rng)
            rec = seen[(w, i)]
            want = workers.expected_message(level, msg, args)
            assert rec["msg"] == want, "record %d.%d: %r %% %r" % (w, i, msg, args)
            assert rec["level"] == levels[level]
            assert rec["pid"] == pids[w]
    # A producer descheduled between claiming a slot and owning it (a heavily loaded machine)
    # has its claim revoked after the grace period and simply claims again: the drain notes
    # the skipped claim, yet no record is lost (every one is checked above). Any other notice
    # is a loss.
    notices = [r for r in parsed if r["target"] != "w"]
    assert [r for r in notices
            if not r["msg"].startswith("skipped a claim its producer never filled")] == [], \
        "the drain reported losses"
    # Both paths name the same caller: the one logger.log line of workers.log_varied.
    assert {(r["file"], r["line"]) for r in seen.values()} == {(workers.__file__, LOG_VARIED_LINE)}
    names = {r["pid"]: r["fields"].get("processName") for r in seen.values()}
    assert len(set(names.values())) == 4
    assert all(n.startswith("SpawnProcess-") for n in names.values()), names


def test_a_handler_made_before_fork_works_in_children_while_another_thread_logs(ring, drain):
    handler = ringlog.Handler(ring)
    logger = workers.setup_logger("forked", handler)
    logger.info("#9.0 numbered  %r", 0.0)
    d = drain()
    # A thread logging nonstop through the same handler: at fork time it may be anywhere in a
    # logging call. The children must not deadlock on anything it held.
    stop = threading.Event()

    def chatter():
        n = 0
        while not stop.is_set():
            logger.info("chatter %d", n)
            n += 1

    t = threading.Thread(target=chatter)
    t.start()
    try:
        ctx = multiprocessing.get_context("fork")
        run_processes(ctx, workers.log_numbered, [("forked", None, w, 5000) for w in range(4)])
    finally:
        stop.set()
        t.join()
    records = [json.loads(line) for line in d.stop()]
    ids = {k for k in by_id([r for r in records if ID.match(r["msg"])], "forked")}
    assert ids == {(9, 0)} | {(w, i) for w in range(4) for i in range(5000)}
    assert sum(1 for r in records if r["msg"].startswith("chatter")) > 0


def test_forkserver_children_log_through_a_pickled_handler(ring, drain):
    handler = ringlog.Handler(ring, level=logging.INFO)
    d = drain()
    ctx = multiprocessing.get_context("forkserver")
    run_processes(ctx, workers.log_numbered, [("fs", handler, w, 3000) for w in range(3)])
    check_numbered([json.loads(line) for line in d.stop()], "fs", 3, 3000)


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_a_process_pool_logs_every_task(ring, drain, method):
    ringlog.Handler(ring)
    d = drain()
    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=2, mp_context=ctx, initializer=workers.init_pool, initargs=(ring,)
    ) as pool:
        done = list(pool.map(workers.pool_task, range(8), [2000] * 8, timeout=TIMEOUT))
    assert done == list(range(8))
    check_numbered([json.loads(line) for line in d.stop()], "pool", 8, 2000)


def test_threads_share_one_handler(ring, drain):
    handler = ringlog.Handler(ring)
    d = drain()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(workers.log_numbered, "threads", handler, w, 3000) for w in range(8)]
        assert [f.result(timeout=TIMEOUT) for f in futures] == list(range(8))
    records = [json.loads(line) for line in d.stop()]
    seen = check_numbered(records, "threads", 8, 3000)
    assert len({r["tid"] for r in seen.values()}) > 1
    assert {r["pid"] for r in seen.values()} == {os.getpid()}
