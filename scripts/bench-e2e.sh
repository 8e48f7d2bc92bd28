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
# A ringlog row's clock starts at ringload's first log call (`start_unix_ns` in its --json) and
# stops when the drain has exited, as a peer's starts before its threads are spawned and stops
# after its last flush: ringload's own start-up (exec, timer calibration, faulting in its
# lanes: ~50 ms) is no logging. The rows "..., from ringload's launch" time the same runs from
# ringload's exec, as this script did before. A baseline ringload without start_unix_ns is
# timed from its launch.
#   ./scripts/bench-e2e.sh [THREADS] [RECORDS_PER_THREAD] [ROUNDS]
# Environment (optional):
#   RINGLOG_BIN=DIR     take ringdrain, ringload and peer_e2e from DIR instead of building
#                       (BIN_DIR=DIR is the same)
#   BASELINE_BIN=DIR    also time DIR's ringdrain + ringload (say, built from main) as rows
#                       "ringlog text (baseline)" and "ringlog binary (baseline)", each round
#                       right before the same round of this build's row (back to back)
#   FORMAT_THREADS=N    pass `--format-threads N` to the text drain (default: its own `auto`)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
n=${2:-1000000}
rounds=${3:-3}
bin=${RINGLOG_BIN:-${BIN_DIR:-}}
if [[ -z $bin ]]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
  cargo build --release -q -p ringdrain -p ringlog-benches --bins
  bin=$CARGO_TARGET_DIR/release
fi
base=${BASELINE_BIN:-}
for d in "$bin" ${base:+"$base"}; do
  for b in ringdrain ringload peer_e2e; do
    if [[ ! -x $d/$b ]]; then
      echo "bench-e2e: no $b in $d" >&2
      exit 1
    fi
  done
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

# ringlog FORMAT OUT [BIN]: one ringlog run with BIN's binaries (default: this build's);
# prints its seconds.
ringlog() {
  local format=$1 out=$2 bin=${3:-$bin} ring="$dir/ring" flags=()
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
  local t0 t1 first
  t0=$(now)
  first=$("$bin/ringload" --ring "$ring" --procs 1 --threads "$threads" --records "$n" \
    --timing batched --json | sed -n 's/.*"start_unix_ns":\([0-9]*\).*/\1/p')
  kill -TERM "$drain"
  wait "$drain"
  t1=$(now)
  drain=
  if [[ -z $first ]]; then
    # A ringload from before start_unix_ns (a baseline build): its launch is the start.
    first=$(echo "$t0 * 1000000000" | bc -l)
  fi
  echo "$(echo "$t1 - $first / 1000000000" | bc -l) $(echo "$t1 - $t0" | bc -l)"
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
# check NAME OUT ARG: fails the script unless OUT holds every line.
check() {
  local lines
  lines=$(count "$2" "$3")
  if ((lines != total)); then
    echo "bench-e2e: $1 wrote $lines lines of $total" >&2
    exit 1
  fi
}
# keep NAME SECONDS: the best time so far of row NAME.
keep() {
  if [[ -z ${best[$1]:-} ]] || (($(echo "$2 < ${best[$1]}" | bc -l))); then best[$1]=$2; fi
}
# row NAME KIND ARG OUT: best of $rounds; checks the line count of every run. A ringlog row
# with a baseline also times "NAME (baseline)" with the baseline's binaries, each round first.
row() {
  local name=$1 kind=$2 arg=$3 out=$4 t
  for _ in $(seq "$rounds"); do
    if [[ $kind == ringlog && -n $base ]]; then
      read -r t _ < <(ringlog "$arg" "$out" "$base")
      check "$name (baseline)" "$out" "$arg"
      keep "$name (baseline)" "$t"
    fi
    if [[ $kind == ringlog ]]; then
      read -r t launch < <(ringlog "$arg" "$out")
      keep "$name, from ringload's launch" "$launch"
    else
      t=$(peer "$arg" "$out")
    fi
    check "$name" "$out" "$arg"
    keep "$name" "$t"
  done
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
names=("ringlog text" "ringlog binary" "Mutex<BufWriter>" "tracing-appender blocking"
  "ringlog text, from ringload's launch" "ringlog binary, from ringload's launch")
if [[ -n $base ]]; then
  names=("ringlog text (baseline)" "${names[0]}" "ringlog binary (baseline)" "${names[@]:1}")
fi
for name in "${names[@]}"; do
  s=${best[$name]}
  awk -v name="$name" -v s="$s" -v total="$total" -v rt="${best[ringlog text]}" \
    -v rb="${best[ringlog binary]}" 'BEGIN {
    printf "| %s | %.3f | %.2f | %.2fx | %.2fx |\n", name, s, total / s / 1e6, s / rt, s / rb
  }'
done
