#!/usr/bin/env bash
# The Python binding's tests (crates/ringlog-py; scripts/test.sh runs this last):
#   1. a virtualenv under the cargo target dir, with maturin and pytest from PyPI;
#   2. the `ringlog` wheel built by maturin (abi3) and installed into it; tests/test_wheel.py
#      installs the same wheel (RINGLOG_WHEEL) into a fresh venv with no Rust on PATH;
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
wheels="$target/py-wheels"
rm -rf "$wheels"
maturin build --release --quiet -m crates/ringlog-py/Cargo.toml -o "$wheels"
wheel=$(ls "$wheels"/ringlog-*.whl)
"${pip[@]}" install --force-reinstall --no-deps "$wheel"
cargo build -p ringdrain
RINGDRAIN="$target/debug/ringdrain" RINGLOG_WHEEL="$wheel" "$venv/bin/python" -m pytest \
  -p no:cacheprovider crates/ringlog-py/tests "$@"
