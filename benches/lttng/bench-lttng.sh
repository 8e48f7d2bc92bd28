#!/usr/bin/env bash
# Issue 13 against LTTng-UST, the same workload and the same run:
#   1. LTTng-UST: THREADS threads of lttng_load (this directory) each log RECORDS events into a
#      user-space channel in blocking mode (--blocking-timeout=inf, LTTNG_UST_ALLOW_BLOCKING=1:
#      nothing is discarded); timed from the process start until `lttng stop` returns (the
#      consumer daemon has written every sub-buffer: the trace is on disk). Then
#      `babeltrace2 TRACE` to a text file, timed, and its lines counted.
#   2. ringlog: ringload (THREADS threads x RECORDS) + `ringdrain --format binary`, timed until
#      the drain has written the archive and exited; then `ringdrain decode` to a text file,
#      timed, and its lines counted.
# Files on tmpfs; best of ROUNDS per row. Needs root (or the tracing group) for the session
# daemon; starts lttng-sessiond itself if none is running, and stops what it started.
#
#   benches/lttng/bench-lttng.sh [THREADS] [RECORDS_PER_THREAD] [ROUNDS]
#
# Needs (Debian/Ubuntu): lttng-tools liblttng-ust-dev babeltrace2, and a C compiler. This
# script installs nothing: it stops with a message if one is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
threads=${1:-2}
n=${2:-1000000}
rounds=${3:-3}
subbuf=${LTTNG_SUBBUF_SIZE:-1M}
nsubbuf=${LTTNG_NUM_SUBBUF:-8}

missing=()
for tool in lttng lttng-sessiond babeltrace2 cc bc; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ! echo '#include <lttng/tracepoint.h>' | cc -E -x c - >/dev/null 2>&1; then
  missing+=("lttng/tracepoint.h")
fi
if ((${#missing[@]})); then
  echo "bench-lttng: missing: ${missing[*]}" >&2
  echo "bench-lttng: install them with: apt-get install lttng-tools liblttng-ust-dev babeltrace2 gcc bc" >&2
  exit 1
fi

dir=$(mktemp -d -p /dev/shm ringlog-lttng.XXXXXX)
sessiond=
session="ringlog-bench-$$"
drain=
cleanup() {
  lttng destroy "$session" >/dev/null 2>&1 || true
  if [[ -n $drain ]]; then kill -KILL "$drain" 2>/dev/null || true; fi
  if [[ -n $sessiond ]]; then
    kill -TERM "$sessiond" 2>/dev/null || true
    wait "$sessiond" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

cc -O2 -Wall -Wextra -I"$here" -o "$dir/lttng_load" "$here/lttng_load.c" \
  "$here/ringlog_bench_tp.c" -llttng-ust -ldl -lpthread
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p ringdrain -p ringlog-benches --bins)
bin=$CARGO_TARGET_DIR/release

if ! lttng list >/dev/null 2>&1; then
  lttng-sessiond --no-kernel >"$dir/sessiond.log" 2>&1 &
  sessiond=$!
  for _ in $(seq 250); do
    lttng list >/dev/null 2>&1 && break
    if ! kill -0 "$sessiond" 2>/dev/null; then
      echo "bench-lttng: lttng-sessiond --no-kernel exited:" >&2
      cat "$dir/sessiond.log" >&2
      sessiond=
      exit 1
    fi
    sleep 0.02
  done
  if ! lttng list >/dev/null 2>&1; then
    echo "bench-lttng: lttng-sessiond did not answer within 5 s:" >&2
    cat "$dir/sessiond.log" >&2
    exit 1
  fi
fi

total=$((threads * n))
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
min() { if [[ -z $1 ]] || (($(echo "$2 < $1" | bc -l))); then echo "$2"; else echo "$1"; fi; }
fail() {
  echo "bench-lttng: $*" >&2
  exit 1
}

# One LTTng run into $dir/trace; prints "SECONDS PRODUCER_SECONDS".
lttng_run() {
  rm -rf "$dir/trace"
  lttng create "$session" --output="$dir/trace" >/dev/null
  lttng enable-channel -u -s "$session" --blocking-timeout=inf --subbuf-size="$subbuf" \
    --num-subbuf="$nsubbuf" ch >/dev/null
  lttng enable-event -u -s "$session" -c ch ringlog_bench:request >/dev/null
  lttng start "$session" >/dev/null
  local t0 t1 out
  t0=$(now)
  out=$(LTTNG_UST_ALLOW_BLOCKING=1 "$dir/lttng_load" "$threads" "$n")
  lttng stop "$session" >/dev/null # waits until the consumer has written the trace
  t1=$(now)
  lttng destroy "$session" >/dev/null
  echo "$(echo "$t1 - $t0" | bc -l) $(sed -n 's/.*"secs":\([0-9.]*\).*/\1/p' <<<"$out")"
}

# One ringlog run into $dir/ringlog.rlog; prints its seconds.
ringlog_run() {
  local ring="$dir/ring" out="$dir/ringlog.rlog"
  rm -f "$ring" "$out"
  "$bin/ringdrain" --ring "$ring" --out "$out" --format binary --ring-size 256M 2>/dev/null &
  drain=$!
  local up=
  for _ in $(seq 500); do
    if "$bin/ringdrain" stats "$ring" --json --interval-ms 1 2>/dev/null | grep -q '"drain_alive":true'; then
      up=1
      break
    fi
    sleep 0.02
  done
  [[ -n $up ]] || fail "ringdrain did not come up on $ring within 10 s"
  local t0 t1
  t0=$(now)
  "$bin/ringload" --ring "$ring" --procs 1 --threads "$threads" --records "$n" \
    --timing batched >/dev/null
  kill -TERM "$drain"
  wait "$drain"
  t1=$(now)
  drain=
  rm -f "$ring"
  echo "$t1 - $t0" | bc -l
}

# timed OUT CMD...: runs CMD > OUT; prints its seconds.
timed() {
  local out=$1 t0 t1
  shift
  t0=$(now)
  "$@" >"$out"
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}

echo "LTTng-UST vs ringlog: $threads threads x $n records = $total; best of $rounds; tmpfs;" \
  "channel: blocking, $nsubbuf x $subbuf sub-buffers; load average at start: $(load)"
lt= lt_prod= bt= rl= dec= dec1=
for _ in $(seq "$rounds"); do
  read -r t tp < <(lttng_run)
  lt=$(min "$lt" "$t")
  lt_prod=$(min "$lt_prod" "$tp")
  t=$(timed "$dir/trace.txt" babeltrace2 "$dir/trace")
  bt=$(min "$bt" "$t")
  lines=$(wc -l <"$dir/trace.txt")
  ((lines == total)) || fail "babeltrace2 printed $lines events of $total"
  trace_bytes=$(du -sb "$dir/trace" | cut -f1)
  trace_text=$(stat -c %s "$dir/trace.txt")
  rm -f "$dir/trace.txt"

  t=$(ringlog_run)
  rl=$(min "$rl" "$t")
  t=$(timed "$dir/decoded.log" "$bin/ringdrain" decode "$dir/ringlog.rlog")
  dec=$(min "$dec" "$t")
  lines=$(wc -l <"$dir/decoded.log")
  ((lines == total)) || fail "ringdrain decode printed $lines lines of $total"
  # The same on one thread (decode's path before --format-threads).
  t=$(timed "$dir/decoded1.log" "$bin/ringdrain" decode --format-threads 1 "$dir/ringlog.rlog")
  dec1=$(min "$dec1" "$t")
  cmp -s "$dir/decoded.log" "$dir/decoded1.log" || fail "decode on one thread wrote other bytes"
  rm -f "$dir/decoded1.log"
  archive_bytes=$(stat -c %s "$dir/ringlog.rlog")
  text_bytes=$(stat -c %s "$dir/decoded.log")
  rm -f "$dir/decoded.log" "$dir/ringlog.rlog"
done
echo "load average at end: $(load)"
echo
rate() { echo "$total / $1 / 1000000" | bc -l; }
echo "| row | seconds | M records/s | bytes |"
echo "|---|---|---|---|"
printf '| LTTng-UST, until the trace is on disk | %.3f | %.2f | %s (CTF) |\n' "$lt" "$(rate "$lt")" "$trace_bytes"
printf '| LTTng-UST, producers alone (inside lttng_load) | %.3f | %.2f | |\n' "$lt_prod" "$(rate "$lt_prod")"
printf '| ringlog, until the binary archive is on disk | %.3f | %.2f | %s (archive) |\n' "$rl" "$(rate "$rl")" "$archive_bytes"
printf '| babeltrace2 of the LTTng trace to text | %.3f | %.2f | %s (text) |\n' "$bt" "$(rate "$bt")" "$trace_text"
printf '| ringdrain decode of the archive to text | %.3f | %.2f | %s (text) |\n' "$dec" "$(rate "$dec")" "$text_bytes"
printf '| ringdrain decode --format-threads 1 | %.3f | %.2f | |\n' "$dec1" "$(rate "$dec1")"
echo
printf 'ringlog archive end to end / LTTng-UST: %.2fx; ringdrain decode / babeltrace2: %.2fx (one thread: %.2fx)\n' \
  "$(echo "$lt / $rl" | bc -l)" "$(echo "$bt / $dec" | bc -l)" "$(echo "$bt / $dec1" | bc -l)"
