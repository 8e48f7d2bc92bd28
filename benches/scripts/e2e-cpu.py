#!/usr/bin/env python3
"""Where the CPU of issue 13's end-to-end run goes: the bench-e2e.sh workload (THREADS
producer threads x RECORDS records, `request {i} served in {lat} us by {worker}`, files on
tmpfs), timed as bench-e2e.sh times it, with every process's CPU (user and system seconds,
from wait4's rusage) beside the wall clock:

  ringlog text / binary   ringload's producers and the drain (`ringdrain --format F`,
                          stopped by SIGTERM once ringload returns) separately
  mutex                   peer_e2e mutex (Mutex<BufWriter<File>>, formatting on the caller)

"in the window" is the drain's CPU from ringload's launch on (its whole life's CPU, less what
/proc/PID/task/*/schedstat said just before the launch: creating and mapping the ring), or the
mutex callers' whole CPU; "cores" is that over the timed wall seconds. ringload's CPU also
holds its start-up (faulting its lanes in before its first call starts the clock). On N cores
a run can end no sooner than the CPU it spends in the window over N. Prints
every round (they vary: a round that faults a fresh segment in costs more system time) and
the round with the best wall time per row.

  benches/scripts/e2e-cpu.py [THREADS=2] [RECORDS=1000000] [ROUNDS=3]
  RINGLOG_BIN=DIR   binaries (ringdrain, ringload, peer_e2e) from DIR, default target/release
                    (cargo build --release -p ringdrain -p ringlog-benches --bins)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
records = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
bindir = os.environ.get("RINGLOG_BIN", os.path.join(root, "target", "release"))
for b in ("ringdrain", "ringload", "peer_e2e"):
    if not os.access(os.path.join(bindir, b), os.X_OK):
        sys.exit(f"e2e-cpu: no {b} in {bindir} (cargo build --release -p ringdrain -p ringlog-benches --bins)")
total = threads * records


def exe(name):
    return os.path.join(bindir, name)


def wait(proc):
    """Waits for proc; returns (exit status, user s, system s)."""
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, ru.ru_utime, ru.ru_stime


def cpu_ns(pid):
    """CPU nanoseconds all of pid's threads ran so far (/proc/PID/task/*/schedstat)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def count(path, fmt):
    if fmt == "binary":
        out = subprocess.run([exe("ringdrain"), "decode", path], capture_output=True, check=True)
        return out.stdout.count(b"\n")
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def ringlog(d, fmt):
    ring, out = os.path.join(d, "ring"), os.path.join(d, "out")
    for p in (ring, out):
        if os.path.exists(p):
            os.remove(p)
    drain = subprocess.Popen(
        [exe("ringdrain"), "--ring", ring, "--out", out, "--format", fmt, "--ring-size", "256M"],
        stderr=subprocess.DEVNULL,
    )
    for _ in range(500):
        r = subprocess.run([exe("ringdrain"), "stats", ring, "--json", "--interval-ms", "1"],
                           capture_output=True, text=True)
        if '"drain_alive":true' in r.stdout:
            break
        time.sleep(0.02)
    else:
        drain.kill()
        sys.exit("e2e-cpu: the drain did not come up")
    before = cpu_ns(drain.pid) / 1e9
    load = subprocess.Popen(
        [exe("ringload"), "--ring", ring, "--procs", "1", "--threads", str(threads),
         "--records", str(records), "--timing", "batched", "--json"],
        stdout=subprocess.PIPE, text=True,
    )
    text = load.stdout.read()
    rc, lu, ls = wait(load)
    if rc != 0:
        sys.exit(f"e2e-cpu: ringload failed ({rc})")
    start = json.loads(text.strip().splitlines()[-1])["start_unix_ns"] / 1e9
    producers_done = time.time() - start
    drain.send_signal(signal.SIGTERM)
    rc, du, ds = wait(drain)
    wall = time.time() - start
    if rc != 0:
        sys.exit(f"e2e-cpu: the drain exited {rc}")
    n = count(out, fmt)
    if n != total:
        sys.exit(f"e2e-cpu: ringlog {fmt} wrote {n} of {total}")
    return {"wall": wall, "producers_done": producers_done,
            "parts": [("producers", lu, ls), ("drain", du, ds)], "before": before}


def mutex(d):
    out = os.path.join(d, "mutex.log")
    p = subprocess.Popen([exe("peer_e2e"), "mutex", str(threads), str(records), out],
                         stdout=subprocess.PIPE, text=True)
    text = p.stdout.read()
    rc, u, s = wait(p)
    if rc != 0:
        sys.exit(f"e2e-cpu: peer_e2e failed ({rc})")
    # Its own clock (threads spawned to last flush), as bench-e2e.sh takes it.
    secs = float(text.split('"secs":')[1].split(",")[0].split("}")[0])
    n = count(out, "text")
    if n != total:
        sys.exit(f"e2e-cpu: mutex wrote {n} of {total}")
    return {"wall": secs, "parts": [("callers", u, s)]}


def line(name, r):
    cpu = sum(u + s for _, u, s in r["parts"])
    parts = "; ".join(f"{who} {u:.3f} user + {s:.3f} sys" for who, u, s in r["parts"])
    extra = ""
    if "producers_done" in r:
        extra = f" (producers done at {r['producers_done']:.3f} s)"
    # The last part (the drain; the callers): its CPU inside the timed window.
    who, u, s = r["parts"][-1]
    inside = u + s - r.get("before", 0.0)
    return (f"{name:14} wall {r['wall']:.3f} s{extra}; CPU {cpu:.3f} s: {parts}; "
            f"{who} in the window {inside:.3f} s = {inside / r['wall']:.2f} cores")


d = tempfile.mkdtemp(prefix="ringlog-e2e-cpu.", dir="/dev/shm")
try:
    with open("/proc/loadavg") as f:
        print(f"{threads} threads x {records} records, {rounds} rounds, {os.cpu_count()} cores, "
              f"load {' '.join(f.read().split()[:3])}")
    best = {}
    for r in range(rounds):
        for name, run in (("ringlog text", lambda: ringlog(d, "text")),
                          ("ringlog binary", lambda: ringlog(d, "binary")),
                          ("mutex", lambda: mutex(d))):
            res = run()
            print(f"round {r + 1}: " + line(name, res))
            if name not in best or res["wall"] < best[name]["wall"]:
                best[name] = res
    print("best wall per row:")
    for name, res in best.items():
        print("  " + line(name, res))
finally:
    shutil.rmtree(d, ignore_errors=True)
