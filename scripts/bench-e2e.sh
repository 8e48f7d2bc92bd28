#!/usr/bin/env bash
# End to end, producer threads and the drain on this machine until every line is on disk:
# ringlog (ringload + ringdrain) against tracing-appender (blocking) and a Mutex<BufWriter>,
# in the same run, writing to tmpfs.
#   ./scripts/bench-e2e.sh [THREADS] [RECORDS_PER_THREAD] [FORMAT]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
n=${2:-1000000}
format=${3:-text}
cargo build --release -q -p ringdrain -p ringlog-benches --bins
bin=target/release
dir=$(mktemp -d -p /dev/shm ringlog-e2e.XXXXXX)
trap 'rm -rf "$dir"' EXIT
total=$((threads * n))
now() { date +%s.%N; }

ring="$dir/ring"
"$bin/ringdrain" --ring "$ring" --out "$dir/ringlog.log" --format "$format" --ring-size 256M &
drain=$!
for _ in $(seq 200); do
  "$bin/ringdrain" stats "$ring" --json --interval-ms 1 2>/dev/null | grep -q '"drain_alive":true' && break
  sleep 0.02
done
t0=$(now)
"$bin/ringload" --ring "$ring" --procs 1 --threads "$threads" --records "$n" >/dev/null
kill -TERM "$drain"
wait "$drain"
t1=$(now)
lines=$(wc -l < "$dir/ringlog.log")
awk -v t0="$t0" -v t1="$t1" -v total="$total" -v lines="$lines" -v f="$format" -v th="$threads" 'BEGIN {
  s = t1 - t0
  printf "{\"peer\":\"ringlog\",\"format\":\"%s\",\"threads\":%d,\"records\":%d,\"lines\":%d,\"secs\":%.6f,\"records_per_s\":%.0f}\n", f, th, total, lines, s, total / s
}'
"$bin/peer_e2e" tracing-blocking "$threads" "$n" "$dir/tracing.log"
"$bin/peer_e2e" mutex "$threads" "$n" "$dir/mutex.log"
