"""The wheel maturin builds: abi3, and installed into a fresh virtualenv on a PATH without any
Rust toolchain it gives both the handler and the ``ringdrain`` command."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_lines

ROOT = Path(__file__).resolve().parents[3]
HANDLER = """
import logging, sys, ringlog
assert ringlog.__file__.startswith(sys.prefix), ringlog.__file__
ringlog.install()
logging.basicConfig(level=logging.INFO, handlers=[ringlog.Handler(sys.argv[1])])
logging.getLogger("app").info("hello %d from the %s", 1, "wheel", extra={"user": "ada"})
logging.getLogger("app").critical("and a critical one")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel scripts/test-python.sh built (RINGLOG_WHEEL), else one built here."""
    path = os.environ.get("RINGLOG_WHEEL")
    if not path:
        maturin = shutil.which("maturin")
        if maturin is None:
            pytest.fail("no RINGLOG_WHEEL and no maturin: run scripts/test-python.sh")
        out = tmp_path_factory.mktemp("wheels")
        subprocess.run([maturin, "build", "--release", "-q", "-m",
                        str(ROOT / "crates" / "ringlog-py" / "Cargo.toml"), "-o", str(out)],
                       check=True, timeout=3600)
        [path] = glob.glob(str(out / "*.whl"))
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """A fresh virtualenv with only the wheel installed, and the environment to run it with:
    a PATH on which there is no cargo or rustc."""
    d = tmp_path_factory.mktemp("fresh")
    venv = d / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    env = {"PATH": "%s:/usr/bin:/bin" % (venv / "bin"), "HOME": str(d), "LANG": "C.UTF-8"}
    for tool in ("cargo", "rustc", "maturin"):
        assert shutil.which(tool, path=env["PATH"]) is None, "%s is on the test PATH" % tool
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index",
                    "--disable-pip-version-check", "-q", wheel],
                   check=True, timeout=600, env=env, cwd=str(d))
    return venv, env, d


def test_the_wheel_is_abi3(wheel):
    assert "-abi3-" in os.path.basename(wheel), wheel


def test_the_installed_handler_and_ringdrain_work_without_rust(venv, ring, tmp_path):
    venv, env, cwd = venv
    subprocess.run([str(venv / "bin" / "python"), "-c", HANDLER, ring],
                   check=True, timeout=120, env=env, cwd=str(cwd))
    out = tmp_path / "app.log"
    drain = str(venv / "bin" / "ringdrain")
    subprocess.run([drain, "--ring", ring, "--out", str(out), "--once"],
                   check=True, timeout=120, env=env, cwd=str(cwd))
    # basicConfig gives the handler logging's BASIC_FORMAT Formatter: the drain writes its lines.
    assert read_lines(out) == ["INFO:app:hello 1 from the wheel", "CRITICAL:app:and a critical one"]


def test_the_installed_ringdrain_reports_bad_flags_and_stops_cleanly_on_sigterm(
    venv, ring, tmp_path
):
    venv, env, cwd = venv
    drain = str(venv / "bin" / "ringdrain")
    bad = subprocess.run([drain, "--no-such-flag"], capture_output=True, text=True, timeout=120,
                         env=env)
    assert bad.returncode == 2
    assert "--no-such-flag" in bad.stderr
    help_ = subprocess.run([drain, "--help"], capture_output=True, text=True, timeout=120, env=env)
    assert help_.returncode == 0 and "--ring" in help_.stdout
    # A running drain: SIGTERM makes it write what is left and exit 0, as the binary does.
    subprocess.run([str(venv / "bin" / "python"), "-c", HANDLER, ring],
                   check=True, timeout=120, env=env, cwd=str(cwd))
    out = tmp_path / "live.log"
    p = subprocess.Popen([drain, "--ring", ring, "--out", str(out)], env=env,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out.exists() and len(read_lines(out)) == 2):
        assert p.poll() is None, p.stderr.read()
        assert time.monotonic() < deadline, "the drain wrote nothing within 120 s"
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("the installed ringdrain did not exit within 120 s of SIGTERM")
    assert p.returncode == 0, err
    assert b"Traceback" not in err
