#!/usr/bin/env bash
# The drain alone on one ringload backlog (2 threads x N records, realtime clock), in the same
# run: `ringdrain --once` as text, JSON, binary and binary + zstd (each on its own copy of the
# segment), `ringdrain decode` of the archive back to text (checked equal to the text drain's
# file, byte for byte), and the sizes; and two floors: the time to write the text's and the
# archive's bytes into a file (`cat` of the finished file), the kernel's share alone, and the
# binary drain writing nothing (`--stdout` into /dev/null): reading and encoding alone; and
# `decode --since` the last entry's time (one thread), a span that skips all but one chunk.
# Files on tmpfs. Best of ROUNDS runs each.
#   ./scripts/bench-archive.sh [RECORDS_PER_THREAD] [ROUNDS] [BASELINE_RINGDRAIN]
# BASELINE_RINGDRAIN (optional): another ringdrain binary (say, one built from main) timed on
# the same backlog, text and binary, in the same run, each of its rounds right before the
# same round of this tree's binary (back to back, so load changes hit both alike).
# RINGLOG_BIN=DIR (environment, optional): take ringdrain and ringload from DIR instead of
# building this tree (a binary dir copied elsewhere, or another checkout's target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
rounds=${2:-3}
base=${3:-}
if [[ -n ${RINGLOG_BIN:-} ]]; then
  bin=$RINGLOG_BIN
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
  cargo build --release -q -p ringdrain -p ringlog-benches --bins
  bin=$CARGO_TARGET_DIR/release
fi
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

# once DRAIN OUT FLAGS...: one `--once` on a fresh copy of the backlog; prints its seconds.
# OUT `-`: `--stdout` into /dev/null (the same records read and encoded, no file written).
once() {
  local drain=$1 out=$2
  shift 2
  cp "$dir/backlog" "$dir/ring"
  local to=(--out "$out")
  if [[ $out == - ]]; then to=(--stdout); else rm -f "$out"; fi
  sync
  local t0 t1
  t0=$(now)
  "$drain" --ring "$dir/ring" "${to[@]}" --once "$@" >/dev/null 2>&1
  t1=$(now)
  rm -f "$dir/ring"
  echo "$t1 - $t0" | bc -l
}

# line NAME SECONDS OUT: one row.
line() {
  printf '%-28s %8.3f s  %6.2f M records/s  %s bytes\n' "$1" "$2" \
    "$(echo "$total / $2 / 1000000" | bc -l)" "$(stat -c %s "$3")"
}

# run NAME DRAIN-BINARY OUT FLAGS...: best wall time of `--once` over $rounds fresh copies.
# With a baseline, each round times the baseline binary first, then this one (output OUT.base
# for the baseline), and both rows are printed.
run() {
  local name=$1 drain=$2 out=$3
  shift 3
  local times=() btimes=()
  for _ in $(seq "$rounds"); do
    if [[ -n $base ]]; then btimes+=("$(once "$base" "$out.base" "$@")"); fi
    times+=("$(once "$drain" "$out" "$@")")
  done
  if [[ -n $base ]]; then
    line "$name (baseline binary)" "$(printf '%s\n' "${btimes[@]}" | best)" "$out.base"
  fi
  line "$name" "$(printf '%s\n' "${times[@]}" | best)" "$out"
  if [[ -n $base ]]; then
    if cmp -s "$out.base" "$out"; then
      echo "$name: baseline and this build wrote identical bytes"
    else
      echo "$name: baseline and this build wrote DIFFERENT bytes"
    fi
    rm -f "$out.base"
  fi
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "backlog: $total records (ringload 1 process x 2 threads x $n), best of $rounds; load average at start: $(load)"
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
# The binary drain writing nothing: what reading and encoding the backlog costs without the
# file (the write thread's share), i.e. the most a cheaper write could give.
times=()
for _ in $(seq "$rounds"); do times+=("$(once "$bin/ringdrain" - --format binary)"); done
t=$(printf '%s\n' "${times[@]}" | best)
printf '%-28s %8.3f s  %6.2f M records/s  (--stdout > /dev/null)\n' "binary, nothing written" "$t" \
  "$(echo "$total / $t / 1000000" | bc -l)"

# decode NAME ARCHIVE [FLAGS...]: best time of `ringdrain decode FLAGS... ARCHIVE` to a file,
# compared with the text drain's file byte for byte (with a baseline: its decode of the same
# archive first).
decode() {
  local name=$1 archive=$2 times=() btimes=() t0 t1
  shift 2
  for _ in $(seq "$rounds"); do
    if [[ -n $base ]]; then
      t0=$(now)
      "$base" decode "$archive" >"$dir/decoded.log"
      t1=$(now)
      btimes+=("$(echo "$t1 - $t0" | bc -l)")
    fi
    t0=$(now)
    "$bin/ringdrain" decode "$@" "$archive" >"$dir/decoded.log"
    t1=$(now)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  local t
  if [[ -n $base ]]; then
    t=$(printf '%s\n' "${btimes[@]}" | best)
    printf '%-28s %8.3f s  %6.2f M records/s\n' "$name (baseline binary)" "$t" "$(echo "$total / $t / 1000000" | bc -l)"
  fi
  t=$(printf '%s\n' "${times[@]}" | best)
  printf '%-28s %8.3f s  %6.2f M records/s\n' "$name" "$t" "$(echo "$total / $t / 1000000" | bc -l)"
  cmp "$dir/decoded.log" "$dir/out.log" && echo "$name == text drain: identical bytes"
  rm -f "$dir/decoded.log"
}
# floor NAME FILE: best time to copy FILE's bytes into a new file beside it (`cat`, from the
# page cache): what writing that much output costs the kernel alone, with no ring to read and
# nothing to format or encode (the drain pays it on its write thread, beside the drain thread).
floor() {
  local name=$1 file=$2 times=() t0 t1
  for _ in $(seq "$rounds"); do
    rm -f "$dir/copy"
    t0=$(now)
    cat "$file" >"$dir/copy"
    t1=$(now)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  rm -f "$dir/copy"
  local t
  t=$(printf '%s\n' "${times[@]}" | best)
  printf '%-28s %8.3f s  %6.2f M records/s  %s bytes\n' "$name" "$t" "$(echo "$total / $t / 1000000" | bc -l)" "$(stat -c %s "$file")"
}
floor "floor: write the text" "$dir/out.log"
floor "floor: write the archive" "$dir/out.rlog"
decode "decode -> text" "$dir/out.rlog"
decode "decode -> text, 1 thread" "$dir/out.rlog" --format-threads 1
decode "decode (zstd) -> text" "$dir/out.zst.rlog"
decode "decode (zstd), 1 thread" "$dir/out.zst.rlog" --format-threads 1
# A span at the archive's end (from its last entry's time on: one line): chunks with nothing
# in the span are passed over after their checksums (format version 3 on).
last=$(tail -n 1 "$dir/out.log" | cut -d' ' -f1)
span() {
  local name=$1 archive=$2 times=() t0 t1
  shift 2
  for _ in $(seq "$rounds"); do
    t0=$(now)
    "$bin/ringdrain" decode --since "$last" "$@" "$archive" >"$dir/decoded.log"
    t1=$(now)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  local t
  t=$(printf '%s\n' "${times[@]}" | best)
  printf '%-28s %8.3f s  %s line(s)\n' "$name" "$t" "$(wc -l <"$dir/decoded.log")"
  rm -f "$dir/decoded.log"
}
span "decode --since LAST" "$dir/out.rlog" --format-threads 1
span "decode (zstd) --since LAST" "$dir/out.zst.rlog" --format-threads 1
echo "load average at end: $(load)"
