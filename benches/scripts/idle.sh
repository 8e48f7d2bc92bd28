#!/usr/bin/env bash
# Issue 13's "Idle and wake-up" numbers, two drains compared in one run:
#   1. idle CPU: both drains attached to rings of their own with nothing to do, for SECONDS;
#      utime+stime ticks from /proc/PID/stat (every thread) before and after;
#   2. call-to-file latency at a low rate: call_to_file logs COUNT records at RATE/s, each
#      carrying its wall-clock time, and follows the output file with inotify (the latency then
#      holds the watcher's own wake-up too), then again re-reading the file in a loop (`poll`:
#      the record's way to the file alone); each drain in turn, twice, alternating (ABAB).
#
#   benches/scripts/idle.sh BEFORE_RINGDRAIN AFTER_RINGDRAIN [SECONDS=60] [RATE=100] [COUNT=1000]
#
# BEFORE is a ringdrain that polls when idle (built from a commit before the futex wake word,
# e.g. 698de00); AFTER one that sleeps on it. call_to_file comes from
# `cargo build --release -p ringlog-benches --example call_to_file` (its producer wakes a
# sleeping drain; against BEFORE it costs one relaxed load per call and changes nothing).
set -euo pipefail
BEFORE=${1:?usage: idle.sh BEFORE_RINGDRAIN AFTER_RINGDRAIN [SECONDS] [RATE] [COUNT]}
AFTER=${2:?usage: idle.sh BEFORE_RINGDRAIN AFTER_RINGDRAIN [SECONDS] [RATE] [COUNT]}
SECS=${3:-60}
RATE=${4:-100}
COUNT=${5:-1000}
CALL=${CALL_TO_FILE:-target/release/examples/call_to_file}
TCK=$(getconf CLK_TCK)
DIR=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f /dev/shm/ringlog-idle-$$-*
  rm -rf "$DIR"
}
trap cleanup EXIT

ticks() { # pid -> utime+stime
  awk '{print $14 + $15}' "/proc/$1/stat"
}

start_drain() { # bin label: starts a drain in the background; its pid in $PID
  local ring=/dev/shm/ringlog-idle-$$-$2
  rm -f "$ring"
  "$1" --ring "$ring" --out "$DIR/$2.log" >/dev/null 2>>"$DIR/$2.err" &
  PID=$!
  PIDS+=("$PID")
  # Attached once the output file exists.
  for _ in $(seq 1 500); do [ -e "$DIR/$2.log" ] && break; sleep 0.01; done
}

stop_drain() { # pid
  kill -TERM "$1"
  wait "$1" || true
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== idle CPU over ${SECS} s (both drains at once, CLK_TCK=$TCK)"
start_drain "$BEFORE" before; b=$PID
start_drain "$AFTER" after; a=$PID
sleep 2
b0=$(ticks "$b"); a0=$(ticks "$a")
sleep "$SECS"
b1=$(ticks "$b"); a1=$(ticks "$a")
for x in "before $b0 $b1" "after $a0 $a1"; do
  set -- $x
  python3 -c "import sys; l,t0,t1,s,h=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),float(sys.argv[4]),int(sys.argv[5]); print(f'{l:7s} {t1-t0:5d} ticks in {s:.0f} s = {100*(t1-t0)/(s*h):.3f}% of a core')" "$1" "$2" "$3" "$SECS" "$TCK"
done
stop_drain "$b"; stop_drain "$a"

for watch in inotify poll; do
  echo "== call-to-file latency, ${RATE} records/s x ${COUNT}, watched by $watch (ABAB)"
  for round in 1 2; do
    for x in "before $BEFORE" "after $AFTER"; do
      set -- $x
      label=$1-$round-$watch
      start_drain "$2" "$label"; pid=$PID
      sleep 0.5
      printf '%-19s ' "$label"
      "$CALL" "/dev/shm/ringlog-idle-$$-$label" "$DIR/$label.log" "$RATE" "$COUNT" "$watch"
      stop_drain "$pid"
    done
  done
done
