#!/usr/bin/env bash
# The main job (README): installs what is missing, builds everything
# optimized, and runs the benchmark suite. Today that is the allocator
# benchmark (mapbench's allocator against glibc malloc, jemalloc, mimalloc and
# tcmalloc) and the chain map benchmark (against tbb::concurrent_hash_map,
# libcuckoo and absl::flat_hash_map); results go to $1 (default: results/).
#
# Usage: tools/run.sh [OUT_DIR] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
out=results
quick=0
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $a" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done
tools/install.sh
bazel build //... 2>&1 | tail -1
tools/alloc_bench.sh "$out" $( ((quick)) && echo --quick)
echo "benchmark: chain map ..." >&2
bazel-bin/variants/chain/chain_benchmark --benchmark_min_time=$( ((quick)) && echo 0.1 || echo 0.5) \
  --benchmark_out="$out/chain_raw.json" --benchmark_out_format=json >/dev/null 2>&1
python3 tools/chain_report.py --out "$out/chain_benchmark.json" "$out/chain_raw.json"
echo "results: $(cd "$out" && pwd)/alloc_benchmark.json $(cd "$out" && pwd)/chain_benchmark.json"
