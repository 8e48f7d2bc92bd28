#!/usr/bin/env bash
# `ringdrain --once --format-threads T` on one ringload backlog (1 process x 2 threads x N
# records, realtime clock), each run on a fresh copy of the segment, files on tmpfs; best of
# ROUNDS wall-clock times per T; every output compared with T=1's, byte for byte.
#
#   benches/scripts/format-threads.sh [RECORDS_PER_THREAD=1000000] [ROUNDS=3] [THREADS="1 2 4"] [FORMAT=text]
#
# Uses target/release/{ringload,ringdrain} (cargo build --release -p ringdrain -p
# ringlog-benches --bins).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
rounds=${2:-3}
threads=${3:-1 2 4}
format=${4:-text}
bin=target/release
dir=$(mktemp -d -p /dev/shm ringlog-fmt-threads.XXXXXX)
trap 'rm -rf "$dir"' EXIT
total=$((2 * n))
slots=$((1 << 22))
while ((slots < total * 2)); do slots=$((slots * 2)); done
RINGLOG_CLOCK=realtime "$bin/ringload" --ring "$dir/backlog" --procs 1 --threads 2 \
  --records "$n" --slot-count "$slots" --timing batched >/dev/null
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); backlog: $total records, $format, best of $rounds"
for t in $threads; do
  best=
  for _ in $(seq "$rounds"); do
    cp "$dir/backlog" "$dir/ring"
    rm -f "$dir/out-$t"
    t0=$(date +%s.%N)
    "$bin/ringdrain" --ring "$dir/ring" --out "$dir/out-$t" --once --format "$format" \
      --format-threads "$t" 2>/dev/null
    t1=$(date +%s.%N)
    s=$(echo "$t1 - $t0" | bc -l)
    if [[ -z $best ]] || (($(echo "$s < $best" | bc -l))); then best=$s; fi
    rm -f "$dir/ring"
  done
  same=
  if [[ $t != 1 && -e $dir/out-1 ]]; then
    if cmp -s "$dir/out-1" "$dir/out-$t"; then same="identical to T=1"; else same="DIFFERS from T=1"; fi
  fi
  printf 'format-threads %-3s %8.3f s  %6.2f M records/s  %s\n' "$t" "$best" \
    "$(echo "$total / $best / 1000000" | bc -l)" "$same"
done
