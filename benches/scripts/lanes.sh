#!/usr/bin/env bash
# Issue 12's numbers in one run: ringload producer-side throughput (no drain, the ring holds
# every record) and batched median per call with an in-process drain, for 1 thread, 2 threads
# in one process, 2 processes and 8 threads; best of ROUNDS (default 3) per row.
#
#   [ROUNDS=N] benches/scripts/lanes.sh [RINGLOAD] [RECORDS]
#
# This machine runs at two speed levels (a call ~20 or ~30 ns from one run to the next), and
# each round lands on one of them: with more rounds every row's best is likely on the fast one,
# so the ratios between rows compare like with like. Each row also lists every round's median,
# sorted, so how the rounds fell on the two levels is in the output, not only the best.
#
# RINGLOAD defaults to target/release/ringload (cargo build --release -p ringlog-benches
# --bin ringload). To put the version-1 ring beside it in the same run, set RINGLOAD_V1 to a
# ringload built from a commit before the lanes (e.g. 5565986): it takes a single ring, so it
# gets one ring as large as all the lanes together.
set -euo pipefail
RL=${1:-target/release/ringload}
N=${2:-1000000}
ROUNDS=${ROUNDS:-3}
SLOTS=$(python3 -c "n=$N; p=1
while p<n: p*=2
print(p)")
run() { # bin label procs threads drain extra...
  local bin=$1 label=$2 procs=$3 threads=$4 drain=$5; shift 5
  local best_tp=0 best_med=999999 meds=()
  for _ in $(seq "$ROUNDS"); do
    local ring=/dev/shm/ringlog-lanes-bench-$$
    rm -f "$ring"
    local out
    out=$("$bin" --ring "$ring" --procs "$procs" --threads "$threads" --records "$N" \
      --json --timing batched $drain "$@")
    rm -f "$ring"
    read -r tp med < <(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d['throughput_per_s'], d['batched_ns']['median'])" "$out")
    best_tp=$(python3 -c "print(max($best_tp,$tp))")
    best_med=$(python3 -c "print(min($best_med,$med))")
    meds+=("$med")
  done
  printf '%-8s %-26s %12.2f M/s %9.1f ns   rounds: %s\n' "$label" \
    "procs=$procs threads=$threads ${drain:-nodrain}" "$(python3 -c "print($best_tp/1e6)")" \
    "$best_med" "$(printf '%s\n' "${meds[@]}" | sort -n | xargs printf '%.1f ' | sed 's/ $//')"
}
echo "records per thread: $N; best of $ROUNDS (throughput max, median min; then every round's median, ns)"
for bin_label in "$RL:v2" ${RINGLOAD_V1:+"$RINGLOAD_V1:v1"}; do
  bin=${bin_label%:*}; label=${bin_label##*:}
  if [ "$label" = v1 ]; then size=(--slot-count $((SLOTS * 4))); else size=(--slot-count "$SLOTS" --lanes 4); fi
  run "$bin" "$label" 1 1 "" "${size[@]}"
  run "$bin" "$label" 1 2 "" "${size[@]}"
  run "$bin" "$label" 2 1 "" "${size[@]}"
  if [ "$label" = v1 ]; then dsize=(--slot-count 65536); else dsize=(--slot-count 8192); fi
  run "$bin" "$label" 1 1 --drain "${dsize[@]}"
  run "$bin" "$label" 1 2 --drain "${dsize[@]}"
  run "$bin" "$label" 2 1 --drain "${dsize[@]}"
  run "$bin" "$label" 1 8 --drain "${dsize[@]}"
done
