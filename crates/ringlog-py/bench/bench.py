#!/usr/bin/env python3
"""Python logging into one file from several processes: ringlog vs the standard answers.

Every setup runs the same workload: P worker processes (spawn), each logging N records
``logger.info("request %d served in %.2f us by %s", i, i / 4, worker)``, and is timed until
every record is in the log file:

* ``ringlog``: ``ringlog.Handler`` in each worker, one ``ringdrain`` (text output); the handler
  carries the same Formatter as the file handlers, so the drain writes the same lines (its
  line layout; ``--ringlog-native`` leaves the Formatter off: ringdrain's own text line);
* ``queue``: the logging cookbook's ``QueueHandler`` in each worker and a ``QueueListener``
  thread in the parent writing a ``FileHandler``;
* ``file``: a ``FileHandler`` per worker on one shared file (``O_APPEND``); torn and lost lines
  are counted;
* ``picologging`` (if it is installed): picologging's C ``FileHandler`` per worker on one shared
  file, as ``file``;
* ``-installed`` after a setup's name: the same with ``ringlog.install()`` called first in each
  worker (it speeds up only loggers whose one output is a ``ringlog.Handler``).

Reported: records/s (all records on disk, from the moment the workers start logging), the
workers' own logging time, and the cost of each ``logger.info`` call in the workers (every call
timed with ``perf_counter_ns``; the cost of an empty timing pair is subtracted). The file
handlers use a format with the same information as ringdrain's text line.

A second part measures one process without contention: a ``logger.info`` call with a handler
that does nothing (what ``logging`` itself costs: ``findCaller``, the ``LogRecord``), with each
real handler, and each handler's ``handle(record)`` alone on a prebuilt record.

    cargo build --release -p ringdrain
    pip install ./crates/ringlog-py
    python crates/ringlog-py/bench/bench.py --procs 4 --records 100000
"""

import argparse
import array
import json
import logging
import logging.handlers
import multiprocessing
import os
import queue as queue_mod
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import ringlog

MSG = "request %d served in %.2f us by %s"
# The same information as ringdrain's text line for these records (its `processName` field).
FMT = ("%(asctime)s %(levelname)s [%(process)d:%(thread)d] %(name)s: %(message)s"
       " processName=%(processName)s")
LINE = re.compile(r"request (\d+) served in [0-9.]+ us by p(\d+) processName=\S+$")


def clock_pair_ns():
    pc = time.perf_counter_ns
    samples = []
    for _ in range(200_000):
        t = pc()
        samples.append(pc() - t)
    return statistics.median(samples)


def summarize(times, overhead):
    s = sorted(times)
    n = len(s)
    return {
        "median_ns": max(0, s[n // 2] - overhead),
        "p99_ns": max(0, s[int(n * 0.99)] - overhead),
        "p999_ns": max(0, s[int(n * 0.999)] - overhead),
        "mean_ns": max(0.0, sum(s) / n - overhead),
    }


# --ringlog-native: ringlog handlers without a Formatter (ringdrain's own text line); passed to
# the spawned workers through the environment.
NATIVE_ENV = "RINGLOG_BENCH_NATIVE"


def make_handler(kind, arg):
    if kind == "ringlog":
        h = ringlog.Handler(arg)
        if os.environ.get(NATIVE_ENV) != "1":
            # The same Formatter as the other setups: the drain renders its line layout.
            h.setFormatter(logging.Formatter(FMT))
        return h
    if kind == "queue":
        return logging.handlers.QueueHandler(arg)
    h = logging.FileHandler(arg)
    h.setFormatter(logging.Formatter(FMT))
    return h


def make_logger(kind, arg):
    """The worker's logger ``bench`` with its one handler."""
    if kind == "picologging":
        import picologging

        logger = picologging.getLogger("bench")
        h = picologging.FileHandler(arg)
        h.setFormatter(picologging.Formatter(FMT))
        logger.handlers[:] = [h]
        logger.setLevel(picologging.INFO)
    else:
        logger = logging.getLogger("bench")
        logger.handlers[:] = [make_handler(kind, arg)]
        logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def worker(setup, arg, p, n, barrier, results):
    kind, installed = split_setup(setup)
    if installed:
        ringlog.install()
    logger = make_logger(kind, arg)
    overhead = clock_pair_ns()
    times = array.array("q", bytes(8 * n))
    name = "p%d" % p
    info = logger.info
    pc = time.perf_counter_ns
    barrier.wait()
    start = pc()
    for i in range(n):
        t = pc()
        info(MSG, i, i / 4, name)
        times[i] = pc() - t
    elapsed = pc() - start
    r = summarize(times, overhead)
    r["logging_s"] = elapsed / 1e9
    results.put(r)


def split_setup(setup):
    """``("ringlog", True)`` for ``"ringlog-installed"``."""
    kind, _, suffix = setup.partition("-")
    if suffix not in ("", "installed") or kind not in ("ringlog", "queue", "file", "picologging"):
        sys.exit("unknown setup %r" % setup)
    return kind, suffix == "installed"


def run_setup(setup, procs, n, workdir, ringdrain):
    kind, _ = split_setup(setup)
    ctx = multiprocessing.get_context("spawn")
    out = os.path.join(workdir, setup + ".log")
    barrier = ctx.Barrier(procs + 1)
    results = ctx.Queue()
    drain = listener = None
    if kind == "ringlog":
        ring = os.path.join(workdir, "bench.ring")
        ringlog.Handler(ring)  # creates the ring (64 MiB) before the drain attaches
        drain = subprocess.Popen([ringdrain, "--ring", ring, "--out", out, "--format", "text"])
        arg = ring
    elif kind == "queue":
        arg = ctx.Queue(-1)
        fh = logging.FileHandler(out)
        fh.setFormatter(logging.Formatter(FMT))
        listener = logging.handlers.QueueListener(arg, fh)
        listener.start()
    else:
        arg = out
    workers = [ctx.Process(target=worker, args=(setup, arg, p, n, barrier, results))
               for p in range(procs)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    per_worker = [results.get(timeout=3600) for _ in workers]
    for w in workers:
        w.join()
    t_logged = time.perf_counter() - t0
    if drain is not None:
        # SIGTERM: the drain writes everything still in the ring, then exits.
        drain.send_signal(signal.SIGTERM)
        drain.wait()
    if listener is not None:
        listener.stop()  # returns once every queued record is handled
        fh.close()
    t_disk = time.perf_counter() - t0
    expected = procs * n
    found, torn = count_lines(out, procs, n)
    return {
        "setup": setup,
        "records": expected,
        "per_worker_p50_ns": [r["median_ns"] for r in per_worker],
        "records_per_s": expected / t_disk,
        "seconds_to_disk": t_disk,
        "seconds_logging": t_logged,
        "per_call": {k: statistics.median(r[k] for r in per_worker)
                     for k in ("median_ns", "p99_ns", "p999_ns", "mean_ns")},
        "lines_found": found,
        "lost": expected - found,
        "torn": torn,
    }


def count_lines(path, procs, n):
    seen = set()
    torn = 0
    with open(path, "rb") as f:
        for raw in f:
            m = LINE.search(raw.decode("utf-8", "replace").rstrip("\n"))
            if not m or not raw.endswith(b"\n"):
                torn += 1
                continue
            seen.add((int(m.group(2)), int(m.group(1))))
    return len(seen), torn


class Nothing(logging.Handler):
    """Does nothing: a logging call with it costs what logging itself costs."""

    def handle(self, record):
        return True


# The single-process loops measure this thread's CPU time (system calls included), best of 5,
# so that other processes on a shared machine disturb them less than wall-clock time would.
def per_call(logger, n):
    info = logger.info
    clock = time.thread_time_ns
    for i in range(1000):
        info(MSG, i, i / 4, "p0")
    best = float("inf")
    for _ in range(5):
        t = clock()
        for i in range(n):
            info(MSG, i, i / 4, "p0")
        best = min(best, (clock() - t) / n)
    return best


def handle_only(handler, n):
    record = logging.LogRecord("bench", logging.INFO, __file__, 1, MSG, (7, 1.75, "p0"), None)
    record.funcName = "handle_only"
    handle = handler.handle
    clock = time.thread_time_ns
    best = float("inf")
    for _ in range(5):
        t = clock()
        for _ in range(n):
            handle(record)
        best = min(best, (clock() - t) / n)
    return best


def single_process(workdir, n, ringdrain):
    ring = os.path.join(workdir, "single.ring")
    rh = ringlog.Handler(ring)
    drain = subprocess.Popen([ringdrain, "--ring", ring, "--out", os.path.join(workdir, "single.log")])
    fh = logging.FileHandler(os.path.join(workdir, "single-file.log"))
    fh.setFormatter(logging.Formatter(FMT))
    q = multiprocessing.get_context("spawn").Queue(-1)
    qh = logging.handlers.QueueHandler(q)
    # Something must read the queue, or the feeder thread blocks on a full pipe.
    reader = threading.Thread(target=lambda: all(True for _ in iter(q.get, None)))
    reader.start()
    results = {}
    rows = [("nothing", Nothing()), ("ringlog", rh), ("ringlog-installed", rh), ("file", fh),
            ("queue", qh)]
    for label, h in rows:
        manager = logging.Logger.manager
        plain = manager.loggerClass
        if label.endswith("-installed"):
            # The logger class ringlog.install() sets, for this logger only.
            manager.loggerClass = ringlog._fast_class(logging.Logger)
        try:
            logger = logging.getLogger("single." + label)
        finally:
            manager.loggerClass = plain
        logger.handlers[:] = [h]
        logger.setLevel(logging.INFO)
        logger.propagate = False
        results[label] = {"logger_info_ns": per_call(logger, n)}
        if label not in ("nothing", "ringlog-installed"):
            results[label]["handle_ns"] = handle_only(h, n)
    try:
        import picologging
    except ImportError:
        pass
    else:
        logger = picologging.getLogger("single.picologging")
        ph = picologging.FileHandler(os.path.join(workdir, "single-pico.log"))
        ph.setFormatter(picologging.Formatter(FMT))
        logger.handlers[:] = [ph]
        logger.setLevel(picologging.INFO)
        logger.propagate = False
        results["picologging"] = {"logger_info_ns": per_call(logger, n)}
    q.put(None)
    reader.join()
    drain.send_signal(signal.SIGTERM)
    drain.wait()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--records", type=int, default=100_000, help="records per process")
    ap.add_argument("--setups", default=None,
                    help="comma-separated (default: ringlog, queue, file, picologging if it is"
                         " installed, each also -installed)")
    ap.add_argument("--ringdrain", default=None, help="ringdrain binary (default: target/release)")
    ap.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--ringlog-native", action="store_true",
                    help="ringlog handlers without the Formatter (ringdrain's own text line);"
                         " by default they carry the same Formatter as the other setups, which"
                         " the drain renders")
    args = ap.parse_args()
    if args.ringlog_native:
        os.environ[NATIVE_ENV] = "1"
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    ringdrain = args.ringdrain or shutil.which("ringdrain") or os.path.join(target, "release", "ringdrain")
    if not os.path.exists(ringdrain):
        sys.exit("ringdrain not found: cargo build --release -p ringdrain, or pass --ringdrain PATH")
    workdir = args.dir or tempfile.mkdtemp(prefix="ringlog-bench-")
    if args.setups is None:
        kinds = ["ringlog", "queue", "file"]
        try:
            import picologging  # noqa: F401

            kinds.append("picologging")
        except ImportError:
            pass
        setups = [s for k in kinds for s in (k, k + "-installed")]
    else:
        setups = args.setups.split(",")
    report = {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "procs": args.procs,
        "records_per_proc": args.records,
        "multi_process": [run_setup(k, args.procs, args.records, workdir, ringdrain)
                          for k in setups],
        "single_process": single_process(workdir, min(args.records, 200_000), ringdrain),
    }
    if not args.dir:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("%d processes x %d records, Python %s, %d CPUs" % (
        args.procs, args.records, report["python"], report["cpus"]))
    print("%-21s %10s %8s %8s %9s %8s %8s %5s %5s  %s" % (
        "setup", "records/s", "to disk", "logging", "call p50", "p99", "mean", "lost", "torn",
        "p50 per worker"))
    for r in report["multi_process"]:
        c = r["per_call"]
        print("%-21s %10.0f %7.2fs %7.2fs %7.0fns %6.0fns %6.0fns %5d %5d  %s" % (
            r["setup"], r["records_per_s"], r["seconds_to_disk"], r["seconds_logging"],
            c["median_ns"], c["p99_ns"], c["mean_ns"], r["lost"], r["torn"],
            " ".join("%.0f" % v for v in r["per_worker_p50_ns"])))
    s = report["single_process"]
    base = s["nothing"]["logger_info_ns"]
    print("\none process, no contention (thread CPU time, best of 5): logger.info() per call,"
          " and handler.handle(record) alone")
    print("  logging itself (handler that does nothing): %6.0f ns" % base)
    for label in ("ringlog", "ringlog-installed", "file", "queue", "picologging"):
        if label not in s:
            continue
        line = "  %-18s logger.info %6.0f ns (%+6.0f ns vs logging)" % (
            label, s[label]["logger_info_ns"], s[label]["logger_info_ns"] - base)
        if "handle_ns" in s[label]:
            line += "   handle(record) %6.0f ns" % s[label]["handle_ns"]
        print(line)


if __name__ == "__main__":
    main()
