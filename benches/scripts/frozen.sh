#!/usr/bin/env bash
# Issue 12: how much a producer frozen mid-record (SIGSTOP, as `docker pause` or a debugger
# would) slows another process logging into the same ring: ringload's wall time alone, then
# with the frozen producer in the ring, best of 3 each, one `ringdrain` attached throughout.
#
#   benches/scripts/frozen.sh [RECORDS]
#
# Needs the release binaries: cargo build --release -p ringdrain -p ringlog-benches -p ringlog-tests
# Prints both times and their ratio, and checks that the frozen record is not in the file while
# the producer is stopped; then kills it mid-record and checks the drain reports the record as
# abandoned (the crash rules). tests/tests/lanes.rs checks the SIGCONT path (the record arrives
# whole, once).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-2000000}
T=target/release
for b in ringdrain ringload ringlog-test-producer; do
  [ -x "$T/$b" ] || { echo "missing $T/$b: cargo build --release -p ringdrain -p ringlog-benches -p ringlog-tests" >&2; exit 2; }
done
d=$(mktemp -d -p /dev/shm ringlog-frozen-XXXXXX)
drain=
cleanup() { [ -n "$drain" ] && kill "$drain" 2>/dev/null; kill -CONT "${slow:-0}" 2>/dev/null || true; rm -rf "$d"; }
trap cleanup EXIT
ring=$d/ring
"$T/ringdrain" --ring "$ring" --out "$d/out.log" 2>"$d/drain.err" &
drain=$!
for _ in $(seq 100); do [ -e "$ring" ] && break; sleep 0.05; done
sleep 0.2
best() { # label -> best wall seconds of 3 ringload runs
  local best=999
  for _ in 1 2 3; do
    local w
    w=$("$T/ringload" --ring "$ring" --procs 1 --threads 1 --records "$N" --json --timing batched \
      | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['dropped']==0, d; print(d['wall_s'])")
    best=$(python3 -c "print(min($best,$w))")
  done
  echo "$best"
}
alone=$(best)
"$T/ringlog-test-producer" "$ring" slow 600000 >/dev/null &
slow=$!
# Wait until it owns a record (it writes half, then sleeps), then freeze it there.
sleep 0.5
kill -STOP "$slow"
frozen=$(best)
payload="raw record from slow with payload"
sleep 0.3
if grep -q "$payload" "$d/out.log"; then echo "FAIL: the frozen record was written" >&2; exit 1; fi
kill -CONT "$slow"
kill "$slow" 2>/dev/null || true # its sleep ends early: SIGTERM kills it mid-record (crash rules)
wait "$slow" 2>/dev/null || true
slow=
for _ in $(seq 100); do grep -q abandoned "$d/out.log" && break; sleep 0.05; done
grep -q abandoned "$d/out.log" || { echo "FAIL: the killed producer's record was not reported" >&2; exit 1; }
echo "records per run: $N (1 process x 1 thread, Policy::Block, ringdrain attached); best of 3"
printf 'alone:                      %.3f s\n' "$alone"
printf 'beside a frozen producer:   %.3f s  (%.2fx)\n' "$frozen" "$(python3 -c "print($frozen/$alone)")"
