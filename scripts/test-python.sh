#!/usr/bin/env bash
# The Python binding's tests (crates/ringlog-py; scripts/test.sh runs this last):
#   1. a virtualenv under the cargo target dir, with maturin and pytest from PyPI;
#   2. the `ringlog` Python package built by maturin (PEP 517) and installed into it;
#   3. `ringdrain` built, and pytest run with its path in RINGDRAIN.
# Extra arguments go to pytest (e.g. `-k fork -x`). RINGLOG_PYTHON picks the interpreter
# (default python3, >= 3.10). Honours CARGO_TARGET_DIR like cargo and maturin do.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/py-venv"
python="${RINGLOG_PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
# The maturin build backend runs the `maturin` command: find the venv's first.
export PATH="$venv/bin:$PATH"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install "maturin>=1.9,<2" pytest
"${pip[@]}" install --no-build-isolation --force-reinstall --no-deps ./crates/ringlog-py
cargo build -p ringdrain
RINGDRAIN="$target/debug/ringdrain" "$venv/bin/python" -m pytest -p no:cacheprovider \
  crates/ringlog-py/tests "$@"
