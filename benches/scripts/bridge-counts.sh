#!/usr/bin/env bash
# Issue 15's instruction counts per call of each front end (benches/examples/bridge_loop.rs),
# which the machine's load does not move: callgrind over N and 2N calls, the difference / N.
#
#   benches/scripts/bridge-counts.sh [BRIDGE_LOOP] [ROW...]
#
# BRIDGE_LOOP defaults to target/release/examples/bridge_loop (cargo build --release -p
# ringlog-benches --example bridge_loop). Needs valgrind.
set -euo pipefail
BIN=${1:-target/release/examples/bridge_loop}
shift || true
ROWS=${*:-noop_layer visit_layer ring_layer native_macro log_noop log_visit log_ring}
command -v valgrind >/dev/null || { echo "bridge-counts: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
N=100000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for row in $ROWS; do
  t=()
  for n in $N $((2 * N)); do
    t+=("$(valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$row.$n" "$BIN" "$row" "$n" 2>&1 | awk '/Collected/ {print $4}')")
  done
  printf '%-20s %6d instructions per call\n' "$row" $(( (t[1] - t[0]) / N ))
done
