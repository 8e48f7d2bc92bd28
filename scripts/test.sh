#!/usr/bin/env bash
# The project's test command (README "Development"; .ci/run calls it):
#   1. every workspace test (unit, integration, multi-process, fault injection, fuzz-corpus replay);
#   2. the loom model checks of the ring protocol (and of writing a record in place) and of
#      the idle wake word (a separate target dir, since --cfg loom changes every crate's build).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace "$@"
RUSTFLAGS="--cfg loom" \
  cargo test -p ringlog-wire --test loom --test loom_wake --test loom_in_place --release \
    --target-dir target/loom
./scripts/test-python.sh
