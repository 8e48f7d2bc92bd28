#!/usr/bin/env bash
# Instructions per record of the text, JSON and logfmt drain, counted by callgrind (load does
# not change them): one ringload backlog (1 process x 2 threads x RECORDS, the bench workload
# `request {i} served in {lat} us by {worker}`, realtime clock), then `ringdrain --once` under
# `valgrind --tool=callgrind` for each format and each ringdrain binary given, every run on its
# own copy of the backlog. Prints, per run, all instructions per record (process start and
# reading included) and the formatting share: all minus the same binary's `--format binary`
# run (which reads the same records but neither decodes their arguments nor renders text;
# counting one function's inclusive cost instead would depend on what the compiler inlined).
# Also `ringdrain decode` of the first binary's archive back to text (all instructions per
# record). Checks that every binary wrote the same bytes for the same format.
#   ./scripts/callgrind-text.sh [RECORDS_PER_THREAD] [RINGDRAIN...]
# Default RINGDRAIN: this tree's release build. Example, before/after in one run:
#   ./scripts/callgrind-text.sh 100000 /work/bin5-before/ringdrain target/release/ringdrain
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
shift || true
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p ringdrain -p ringlog-benches --bins
drains=("$@")
if ((${#drains[@]} == 0)); then drains=("$CARGO_TARGET_DIR/release/ringdrain"); fi
command -v valgrind >/dev/null || {
  echo "callgrind-text: valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
}
dir=$(mktemp -d -p /dev/shm ringlog-cg.XXXXXX)
trap 'rm -rf "$dir"' EXIT
total=$((2 * n))
slots=1024
while ((slots < n)); do slots=$((slots * 2)); done
# 3 lanes: one per thread plus the reserved one (see bench-archive.sh).
RINGLOG_CLOCK=realtime "$CARGO_TARGET_DIR/release/ringload" --ring "$dir/backlog" --procs 1 \
  --threads 2 --records "$n" --lanes 3 --slot-count "$slots" --timing batched >/dev/null
echo "backlog: $total records; instructions per record (callgrind)"
echo "format: what formatting costs over the binary archive's run of the same binary"
echo "(decoding the arguments and encoding the line; reading the ring is in both)"
printf '%-8s %-44s %8s %8s\n' format ringdrain all format
# ir FORMAT DRAIN: instructions of one `--once` run on a fresh copy; leaves its output in out.
ir() {
  cp "$dir/backlog" "$dir/ring"
  rm -f "$dir/out" "$dir/cg"
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg" \
    "$2" --ring "$dir/ring" --out "$dir/out" --once --format "$1" 2>/dev/null
  rm -f "$dir/ring"
  total_ir "$dir/cg"
}
# total CG: the program's instruction total in callgrind output CG.
total_ir() {
  callgrind_annotate "$1" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
}
# same_as_first WHAT DRAIN: the first drain's output (in out) becomes the reference; every
# later drain's output must be the same bytes.
same_as_first() {
  if [[ -z $ref ]]; then
    mv "$dir/out" "$dir/ref"
    ref=$2
  elif ! cmp -s "$dir/ref" "$dir/out"; then
    echo "callgrind-text: $2's $1 output differs from $ref's" >&2
    exit 1
  fi
}
declare -A base
for drain in "${drains[@]}"; do
  base[$drain]=$(ir binary "$drain")
  printf '%-8s %-44s %8.0f\n' binary "$drain" "$(echo "${base[$drain]} / $total" | bc -l)"
  if [[ ! -e $dir/archive ]]; then mv "$dir/out" "$dir/archive"; fi
done
# `ringdrain decode` of the first binary's archive to text: the same encoder, no ring.
ref=
for drain in "${drains[@]}"; do
  rm -f "$dir/cg"
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg" \
    "$drain" decode "$dir/archive" >"$dir/out" 2>/dev/null
  all=$(total_ir "$dir/cg")
  printf '%-8s %-44s %8.0f\n' decode "$drain" "$(echo "$all / $total" | bc -l)"
  same_as_first decode "$drain"
done
rm -f "$dir/ref"
for format in text json logfmt; do
  ref=
  for drain in "${drains[@]}"; do
    all=$(ir "$format" "$drain")
    lines=$(wc -l <"$dir/out")
    if ((lines != total)); then
      echo "callgrind-text: $drain wrote $lines lines of $total" >&2
      exit 1
    fi
    printf '%-8s %-44s %8.0f %8.0f\n' "$format" "$drain" "$(echo "$all / $total" | bc -l)" \
      "$(echo "($all - ${base[$drain]}) / $total" | bc -l)"
    same_as_first "$format" "$drain"
  done
  rm -f "$dir/ref"
done
