#!/usr/bin/env bash
# End to end, issue 13's workload: THREADS producer threads each log RECORDS records
# (`request {i} served in {lat} us by {worker}`), and the clock stops when every line is on
# disk. Rows, all in this one run, files on tmpfs, best of ROUNDS each:
#   ringlog text     ringload + `ringdrain --format text` (the drain stopped by SIGTERM once
#                    ringload returns; it writes what was claimed, then exits)
#   ringlog binary   the same with `ringdrain --format binary` (lines counted by decoding the
#                    archive after the clock stopped)
#   mutex            Mutex<BufWriter<File>>, formatting on the caller (peer_e2e)
#   tracing          tracing + tracing-appender non_blocking, lossy(false) (peer_e2e)
# Every row counts its lines and fails the script if any is missing.
#   ./scripts/bench-e2e.sh [THREADS] [RECORDS_PER_THREAD] [ROUNDS]
# Environment:
#   BIN_DIR=DIR          take ringdrain, ringload and peer_e2e from DIR (e.g. binaries kept from
#                        an older commit, for a before/after pair run back to back) instead of
#                        building this tree's release binaries
#   FORMAT_THREADS=N     pass `--format-threads N` to the text drain (default: its own `auto`)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
n=${2:-1000000}
rounds=${3:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [[ -n ${BIN_DIR:-} ]]; then
  bin=$BIN_DIR
else
  cargo build --release -q -p ringdrain -p ringlog-benches --bins
  bin=$CARGO_TARGET_DIR/release
fi
for b in ringdrain ringload peer_e2e; do
  if [[ ! -x $bin/$b ]]; then
    echo "bench-e2e: no $b in $bin" >&2
    exit 1
  fi
done
text_flags=()
if [[ -n ${FORMAT_THREADS:-} ]]; then text_flags=(--format-threads "$FORMAT_THREADS"); fi
dir=$(mktemp -d -p /dev/shm ringlog-e2e.XXXXXX)
drain=
cleanup() {
  if [[ -n $drain ]]; then kill -KILL "$drain" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
total=$((threads * n))
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# ringlog FORMAT OUT: one ringlog run; prints its seconds.
ringlog() {
  local format=$1 out=$2 ring="$dir/ring" flags=()
  if [[ $format == text ]]; then flags=("${text_flags[@]}"); fi
  rm -f "$ring" "$out"
  "$bin/ringdrain" --ring "$ring" --out "$out" --format "$format" --ring-size 256M \
    "${flags[@]}" 2>/dev/null &
  drain=$!
  local up=
  for _ in $(seq 500); do
    if "$bin/ringdrain" stats "$ring" --json --interval-ms 1 2>/dev/null | grep -q '"drain_alive":true'; then
      up=1
      break
    fi
    sleep 0.02
  done
  if [[ -z $up ]]; then
    echo "bench-e2e: ringdrain did not come up on $ring within 10 s" >&2
    exit 1
  fi
  local t0 t1
  t0=$(now)
  "$bin/ringload" --ring "$ring" --procs 1 --threads "$threads" --records "$n" \
    --timing batched >/dev/null
  kill -TERM "$drain"
  wait "$drain"
  t1=$(now)
  drain=
  echo "$t1 - $t0" | bc -l
}

# count FILE FORMAT: lines in a text file, or records in an archive (decoded).
count() {
  if [[ $2 == binary ]]; then
    "$bin/ringdrain" decode "$1" | wc -l
  else
    wc -l <"$1"
  fi
}

# peer NAME OUT: one peer_e2e run; prints its seconds.
peer() {
  rm -f "$2"
  "$bin/peer_e2e" "$1" "$threads" "$n" "$2" | sed -n 's/.*"secs":\([0-9.]*\).*/\1/p'
}

declare -A best
# row NAME KIND ARG OUT: best of $rounds; checks the line count of every run.
row() {
  local name=$1 kind=$2 arg=$3 out=$4 b= t lines
  for _ in $(seq "$rounds"); do
    if [[ $kind == ringlog ]]; then t=$(ringlog "$arg" "$out"); else t=$(peer "$arg" "$out"); fi
    lines=$(count "$out" "$arg")
    if ((lines != total)); then
      echo "bench-e2e: $name wrote $lines lines of $total" >&2
      exit 1
    fi
    if [[ -z $b ]] || (($(echo "$t < $b" | bc -l))); then b=$t; fi
  done
  best[$name]=$b
  rm -f "$out"
}

echo "end to end: $threads producer threads x $n records = $total, until all are on disk (tmpfs); best of $rounds; binaries: $bin${FORMAT_THREADS:+; text --format-threads $FORMAT_THREADS}; load average at start: $(load)"
row "ringlog text" ringlog text "$dir/ringlog.log"
row "ringlog binary" ringlog binary "$dir/ringlog.rlog"
row "Mutex<BufWriter>" peer mutex "$dir/mutex.log"
row "tracing-appender blocking" peer tracing-blocking "$dir/tracing.log"
echo "load average at end: $(load)"
echo
echo "| row | seconds | M records/s | ringlog text speed-up over the row | ringlog binary speed-up over the row |"
echo "|---|---|---|---|---|"
for name in "ringlog text" "ringlog binary" "Mutex<BufWriter>" "tracing-appender blocking"; do
  s=${best[$name]}
  awk -v name="$name" -v s="$s" -v total="$total" -v rt="${best[ringlog text]}" \
    -v rb="${best[ringlog binary]}" 'BEGIN {
    printf "| %s | %.3f | %.2f | %.2fx | %.2fx |\n", name, s, total / s / 1e6, s / rt, s / rb
  }'
done
