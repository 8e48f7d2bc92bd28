#!/usr/bin/env bash
# The single-thread hot path with a drain attached against the lane-shaped bare-ring floor with
# a consumer (issue 12), back to back, ROUNDS times (default 12):
#
#   [ROUNDS=N] benches/scripts/floor-pair.sh DIR
#
# DIR holds `floor_bench` (the binary `cargo bench -p ringlog-benches --bench floor --no-run`
# prints) and `ringload` (target/release). Each round: criterion `floor/lane_with_consumer`
# (3 s), then `ringload --threads 1 --records 1000000 --timing batched --drain` (its batched
# median). Then the best of each and their ratio.
#
# This machine runs at two speed levels (~20 or ~31 ns a call, a whole process at a time, at
# random: BENCHMARKS.md "Session 9's quiet windows"), and a pair's two runs do not share a level
# even seconds apart, so a round's own ratio says little: compare the bests, and only when both
# columns have rounds on the fast level.
set -euo pipefail
D=${1:?DIR}
ring=/dev/shm/ringlog-floor-pair-$$
trap 'rm -f "$ring"' EXIT
floors=() meds=()
for r in $(seq "${ROUNDS:-12}"); do
  f=$("$D/floor_bench" --bench 'floor/lane_with_consumer$' --noplot --warm-up-time 1 \
    --measurement-time 3 2>&1 | grep "time:" | head -1 | awk '{print $(NF-3)}')
  rm -f "$ring"
  m=$("$D/ringload" --ring "$ring" --procs 1 --threads 1 --records 1000000 --timing batched \
    --drain --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["batched_ns"]["median"])')
  rm -f "$ring"
  echo "$(date -u +%T) round $r: floor/lane_with_consumer $f ns, ringload --drain median $m ns"
  floors+=("$f")
  meds+=("$m")
done
bf=$(printf '%s\n' "${floors[@]}" | sort -g | head -1)
bm=$(printf '%s\n' "${meds[@]}" | sort -g | head -1)
echo "best: floor/lane_with_consumer $bf ns, ringload --drain median $bm ns, ratio $(python3 -c "print(round($bm / $bf, 2))")"
