#!/usr/bin/env bash
# The drain alone on one ringload backlog (2 threads x N records, realtime clock), in the same
# run: `ringdrain --once` as text, JSON, binary and binary + zstd (each on its own copy of the
# segment), `ringdrain decode` of the archive back to text (checked equal to the text drain's
# file, byte for byte), and the sizes. Files on tmpfs. Best of ROUNDS runs each.
#   ./scripts/bench-archive.sh [RECORDS_PER_THREAD] [ROUNDS] [BASELINE_RINGDRAIN]
# BASELINE_RINGDRAIN (optional): another ringdrain binary timed on the same text backlog.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
rounds=${2:-3}
base=${3:-}
cargo build --release -q -p ringdrain -p ringlog-benches --bins
bin=target/release
dir=$(mktemp -d -p /dev/shm ringlog-archive.XXXXXX)
trap 'rm -rf "$dir"' EXIT
total=$((2 * n))
# A lane per thread, each holding its thread's whole backlog (--slot-count is per lane), plus
# the reserved lane no thread keeps (1 in 8, at least 1): 3 lanes. With 2, one thread keeps a
# lane and the other borrows the reserved one record by record until the first thread ends and
# gives its lane up; the second then keeps that lane, which overflows (no drain runs).
slots=1024
while ((slots < n)); do slots=$((slots * 2)); done
RINGLOG_CLOCK=realtime "$bin/ringload" --ring "$dir/backlog" --procs 1 --threads 2 \
  --records "$n" --lanes 3 --slot-count "$slots" --timing batched >/dev/null
now() { date +%s.%N; }
best() { sort -n | head -1; }

# run NAME DRAIN-BINARY OUT FLAGS...: best wall time of `--once` over $rounds fresh copies.
run() {
  local name=$1 drain=$2 out=$3
  shift 3
  local times=()
  for _ in $(seq "$rounds"); do
    cp "$dir/backlog" "$dir/ring"
    rm -f "$out"
    sync
    local t0 t1
    t0=$(now)
    "$drain" --ring "$dir/ring" --out "$out" --once "$@" 2>/dev/null
    t1=$(now)
    times+=("$(echo "$t1 - $t0" | bc -l)")
    rm -f "$dir/ring"
  done
  local t
  t=$(printf '%s\n' "${times[@]}" | best)
  printf '%-28s %8.3f s  %6.2f M records/s  %s bytes\n' "$name" "$t" \
    "$(echo "$total / $t / 1000000" | bc -l)" "$(stat -c %s "$out")"
}

echo "backlog: $total records (ringload 1 process x 2 threads x $n), best of $rounds"
if [[ -n $base ]]; then
  run "text (baseline binary)" "$base" "$dir/base.log"
  rm -f "$dir/base.log"
fi
run "text" "$bin/ringdrain" "$dir/out.log"
lines=$(wc -l <"$dir/out.log")
if ((lines != total)); then
  echo "bench-archive: the text drain wrote $lines lines of $total: the backlog is not whole" >&2
  exit 1
fi
run "json" "$bin/ringdrain" "$dir/out.json" --format json
rm -f "$dir/out.json"
run "binary" "$bin/ringdrain" "$dir/out.rlog" --format binary
run "binary + zstd 1" "$bin/ringdrain" "$dir/out.zst.rlog" --format binary --archive-zstd 1

times=()
for _ in $(seq "$rounds"); do
  t0=$(now)
  "$bin/ringdrain" decode "$dir/out.rlog" >"$dir/decoded.log"
  t1=$(now)
  times+=("$(echo "$t1 - $t0" | bc -l)")
done
t=$(printf '%s\n' "${times[@]}" | best)
printf '%-28s %8.3f s  %6.2f M records/s\n' "decode -> text" "$t" "$(echo "$total / $t / 1000000" | bc -l)"
cmp "$dir/decoded.log" "$dir/out.log" && echo "decode == text drain: identical bytes"
rm -f "$dir/decoded.log"
times=()
for _ in $(seq "$rounds"); do
  t0=$(now)
  "$bin/ringdrain" decode "$dir/out.zst.rlog" >"$dir/decoded.log"
  t1=$(now)
  times+=("$(echo "$t1 - $t0" | bc -l)")
done
t=$(printf '%s\n' "${times[@]}" | best)
printf '%-28s %8.3f s  %6.2f M records/s\n' "decode (zstd) -> text" "$t" "$(echo "$total / $t / 1000000" | bc -l)"
cmp "$dir/decoded.log" "$dir/out.log" && echo "decode (zstd) == text drain: identical bytes"
