import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest


def _find_ringdrain():
    exe = os.environ.get("RINGDRAIN")
    if exe:
        return exe
    root = Path(__file__).resolve().parents[3]
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    for profile in ("debug", "release"):
        if (target / profile / "ringdrain").exists():
            return str(target / profile / "ringdrain")
    return shutil.which("ringdrain")


@pytest.fixture(scope="session")
def ringdrain_exe():
    exe = _find_ringdrain()
    if not exe:
        pytest.fail("ringdrain not found: run scripts/test-python.sh, or set RINGDRAIN to its path")
    return exe


@pytest.fixture
def ring(tmp_path):
    """A ring file path of this test's own."""
    return str(tmp_path / "test.ring")


class Drain:
    """A running ``ringdrain`` writing ``out`` (JSON lines by default)."""

    def __init__(self, exe, ring, out, fmt="json"):
        self.out = out
        self.proc = subprocess.Popen(
            [exe, "--ring", ring, "--out", out, "--format", fmt],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self):
        """SIGTERM: the drain writes what is left in the ring, then exits 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("ringdrain did not exit within 120 s of SIGTERM")
        assert self.proc.returncode == 0, err.decode(errors="replace")
        return read_lines(self.out)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line]


def read_json(path):
    return [json.loads(line) for line in read_lines(path)]


@pytest.fixture
def drain(ringdrain_exe, ring, tmp_path):
    """Starts ringdrain on ``ring`` (JSON to out.jsonl); ``drain().stop()`` returns the lines."""
    started = []

    def start(fmt="json", out=None):
        d = Drain(ringdrain_exe, ring, out or str(tmp_path / "out.jsonl"), fmt)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


@pytest.fixture
def drain_once(ringdrain_exe, ring, tmp_path):
    """Runs ``ringdrain --once`` on ``ring`` and returns the JSON records (or text lines)."""

    runs = []

    def run(fmt="json"):
        runs.append(fmt)
        out = str(tmp_path / ("once%d.%s" % (len(runs), fmt)))
        subprocess.run(
            [ringdrain_exe, "--ring", ring, "--out", out, "--format", fmt, "--once"],
            check=True,
            timeout=120,
        )
        return read_json(out) if fmt == "json" else read_lines(out)

    return run
