#!/usr/bin/env bash
# The demo: several producer processes log into one shared-memory ring while ringdrain writes
# the log file; then it shows the ring's stats and the end of the file.
#   ./scripts/demo.sh            (builds in release mode first)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building (release)"
cargo build --release -q -p ringdrain -p ringlog-benches --bins
cargo build --release -q -p ringlog --example service
bin=target/release
name="demo-$$"
ring="/dev/shm/ringlog-$name"
work=$(mktemp -d)
log="$work/demo.log"
cleanup() { rm -f "$ring"; }
trap cleanup EXIT

echo "== ringdrain --ring $name --out $log"
"$bin/ringdrain" --ring "$name" --out "$log" &
drain=$!
for _ in $(seq 100); do
  "$bin/ringdrain" stats "$name" --json --interval-ms 1 2>/dev/null | grep -q '"drain_alive":true' && break
  sleep 0.05
done

echo "== 3 service processes (2,000 records each) and ringload (2 processes x 2 threads x 50,000 records)"
for i in 1 2 3; do
  "$bin/examples/service" --ring "$name" --records 2000 --name "svc$i" &
done
"$bin/ringload" --ring "$name" --procs 2 --threads 2 --records 50000
wait $(jobs -p | grep -v "^$drain$") 2>/dev/null || true

echo "== ringdrain stats $name"
"$bin/ringdrain" stats "$name" --interval-ms 200
kill -TERM "$drain"
wait "$drain"
echo "== $log: $(wc -l < "$log") lines; the last 12:"
tail -n 12 "$log"
echo "== the log is kept at $log"
