#!/usr/bin/env bash
# The single-thread hot path against the bare-ring floor (issue 12), two builds back to back:
#
#   benches/scripts/hot-floor.sh BEFORE_DIR AFTER_DIR
#
# Each directory holds `bridge_loop` (target/release/examples), `ringload` (target/release),
# `floor_bench` and `hot_path_bench` (the binaries `cargo bench -p ringlog-benches --bench floor
# --bench hot_path --no-run` prints). Prints, with the load average before each step:
#
# 1. instructions per call of each `bridge_loop` row (callgrind, counted inside the row's loop
#    function only, `(I(200000) - I(100000)) / 100000`): the machine's load does not move them;
# 2. criterion `floor/(lane|with_consumer|lane_with_consumer)` and `hot_path/info_1_thread`, before and after
#    alternating, twice;
# 3. `ringload --threads 1 --records 1000000 --timing batched --drain`, alternating, 3 times;
# 4. a dropped call: `ringload --policy drop` into a 1024-slot lane with no drain, alternating,
#    3 times.
set -uo pipefail
B=${1:?BEFORE_DIR}
A=${2:?AFTER_DIR}
log() { echo "== $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) :: $*"; }

per_call() { # bin row function
  local n c=()
  for n in 100000 200000; do
    c+=("$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
      --toggle-collect="bridge_loop::$3" "$1" "$2" $n 2>&1 | awk '/Collected/{print $4}')")
  done
  python3 -c 'import sys; a, b = map(int, sys.argv[1:]); print(f"{(b - a) / 100000:.1f}")' \
    "${c[0]}" "${c[1]}"
}

log "instructions per call (callgrind)"
for side in "$B" "$A"; do
  for spec in native_macro:native_loop ring_layer:tracing_loop log_ring:log_loop; do
    echo "$side/bridge_loop ${spec%%:*}: $(per_call "$side/bridge_loop" "${spec%%:*}" "${spec##*:}")"
  done
done
for round in 1 2; do
  for side in "$B" "$A"; do
    log "$side floor, round $round"
    "$side/floor_bench" --bench 'floor/(lane|with_consumer|lane_with_consumer)$' --noplot --warm-up-time 2 \
      --measurement-time 5 2>&1 | grep -E '^floor|time:' | grep -v '%'
    log "$side hot_path, round $round"
    "$side/hot_path_bench" --bench 'hot_path/info_1_thread$' --noplot --warm-up-time 2 \
      --measurement-time 5 2>&1 | grep -E '^hot_path/info_1_thread ' | grep -v '%'
  done
done
for round in 1 2 3; do
  for side in "$B" "$A"; do
    ring=/dev/shm/ringlog-hot-floor-$$-$round
    rm -f "$ring"
    log "$side ringload, round $round"
    "$side/ringload" --ring "$ring" --procs 1 --threads 1 --records 1000000 --timing batched \
      --drain --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print("batched median", j["batched_ns"]["median"], "ns; throughput", round(j["throughput_per_s"]/1e6, 2), "M/s")'
    rm -f "$ring"
  done
done
# A dropped call: no drain, a 1024-slot lane that fills at once, Policy::Drop; all but the first
# 1024 of 2,000,000 calls are dropped, so the median is a dropped call's cost.
for round in 1 2 3; do
  for side in "$B" "$A"; do
    ring=/dev/shm/ringlog-hot-floor-drop-$$-$round
    rm -f "$ring"
    log "$side ringload --policy drop (a dropped call), round $round"
    "$side/ringload" --ring "$ring" --procs 1 --threads 1 --records 2000000 --timing batched \
      --slot-count 1024 --policy drop --json 2>/dev/null | python3 -c 'import json,sys; j=json.load(sys.stdin); print("batched median", j["batched_ns"]["median"], "ns; dropped", j["dropped"])'
    rm -f "$ring"
  done
done
log done
