"""`ringdrain level` flips the level of Python producer processes too: three processes log
debug/info/warning records phase by phase while the test sets and resets directives on the
ring; the counts per phase, process and level are exact."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

PRODUCERS = 3
PER = 10
# (directives or None for a reset, levels written in that phase)
PHASES = [
    (None, {"INFO", "WARNING", "DB-INFO"}),
    ("debug", {"DEBUG", "INFO", "WARNING", "DB-DEBUG", "DB-INFO"}),
    (None, {"INFO", "WARNING", "DB-INFO"}),
    ("warn,app::db=debug", {"WARNING", "DB-DEBUG", "DB-INFO"}),
    ("error", set()),
    (None, {"INFO", "WARNING", "DB-INFO"}),
]
TIMEOUT = 120

PRODUCER = textwrap.dedent(
    """
    import logging, os, sys, time
    import ringlog

    ring, d, k, phases, per, install = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
    if install:
        ringlog.install()
    logging.basicConfig(level=logging.INFO, handlers=[ringlog.Handler(ring)])
    app = logging.getLogger("app")
    db = logging.getLogger("app.db")

    def wait(name):
        deadline = time.monotonic() + 120
        while not os.path.exists(os.path.join(d, name)):
            assert time.monotonic() < deadline, "no " + name
            time.sleep(0.002)

    for phase in range(phases):
        wait("go-%d" % phase)
        for i in range(per):
            app.debug("phase %d DEBUG %d from %d", phase, i, k)
            app.info("phase %d INFO %d from %d", phase, i, k)
            app.warning("phase %d WARNING %d from %d", phase, i, k)
            db.debug("phase %d DB-DEBUG %d from %d", phase, i, k)
            db.info("phase %d DB-INFO %d from %d", phase, i, k)
        open(os.path.join(d, "done-%d-%d" % (phase, k)), "w").close()
    """
)


def level(exe, ring, *args):
    r = subprocess.run([exe, "level", ring, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def wait_file(path, procs):
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(path):
        for p in procs:
            if p.poll() not in (None, 0):
                pytest.fail("producer exited %s: %s" % (p.returncode, p.stderr.read()))
        assert time.monotonic() < deadline, "timed out waiting for %s" % path
        time.sleep(0.002)


def test_ringdrain_level_flips_install_loggers_in_every_process(ringdrain_exe, ring, tmp_path, drain):
    # install()'s loggers check the ring's control generation before their level check, so a
    # change applies at the very next call (a plain Handler applies it at the next record that
    # reaches it: see the module docs of ringlog).
    install = True
    d = drain(fmt="json")
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(ring):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    script = tmp_path / "producer.py"
    script.write_text(PRODUCER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), ring, str(tmp_path), str(k), str(len(PHASES)), str(PER),
             "1" if install else "0"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(PRODUCERS)
    ]
    try:
        for phase, (directives, _) in enumerate(PHASES):
            if directives is not None:
                assert "in force" in level(ringdrain_exe, ring, directives)
            elif phase > 0:
                assert "reset" in level(ringdrain_exe, ring, "--reset")
            (tmp_path / ("go-%d" % phase)).touch()
            for k in range(PRODUCERS):
                wait_file(str(tmp_path / ("done-%d-%d" % (phase, k))), procs)
        for p in procs:
            assert p.wait(TIMEOUT) == 0, p.stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    records = [json.loads(line) for line in d.stop()]
    counts = {}
    for rec in records:
        parts = rec["msg"].split()
        if len(parts) == 6 and parts[0] == "phase":
            key = (int(parts[1]), parts[2], int(parts[5]))
            counts[key] = counts.get(key, 0) + 1
    for phase, (directives, levels) in enumerate(PHASES):
        for kind in ("DEBUG", "INFO", "WARNING", "DB-DEBUG", "DB-INFO"):
            for k in range(PRODUCERS):
                got = counts.get((phase, kind, k), 0)
                want = PER if kind in levels else 0
                assert got == want, (phase, directives, kind, k, got, want)
