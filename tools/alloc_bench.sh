#!/usr/bin/env bash
# Runs the four allocator benchmark binaries back to back (one per malloc:
# each replaces malloc for its whole binary), then merges their JSON into
# OUT/alloc_benchmark.json and prints the comparison table.
# Usage: tools/alloc_bench.sh OUT_DIR [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: alloc_bench.sh OUT_DIR [--quick]}
reps=3 min_time=0.2
if [[ ${2:-} == --quick ]]; then reps=2 min_time=0.05; fi  # medians need >= 2 repetitions
mkdir -p "$out"
for peer in glibc jemalloc mimalloc tcmalloc; do
  echo "benchmark: $peer ..." >&2
  "bazel-bin/core/alloc_benchmark_$peer" --benchmark_min_time="$min_time" \
    --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/alloc_$peer.json" --benchmark_out_format=json >/dev/null 2>&1
done
python3 tools/alloc_report.py --out "$out/alloc_benchmark.json" \
  "$out"/alloc_glibc.json "$out"/alloc_jemalloc.json "$out"/alloc_mimalloc.json "$out"/alloc_tcmalloc.json
