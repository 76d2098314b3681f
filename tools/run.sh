#!/usr/bin/env bash
# The main job (README): install what is missing, build optimized, run the
# default suite, and write the report to a folder, then print its path.
#
#   mapbench run      every map x YCSB A-F, mix95, mix50 x 1 and 2 threads,
#                     plus worker processes over one shared region for the
#                     maps that live in one
#   gbench_suite      the same maps under Google Benchmark (JSON)
#   allocator suite   mapbench's allocator vs glibc, jemalloc, mimalloc, tcmalloc
#   variant suites    each variant issue's targets: chain (vs tbb, libcuckoo,
#                     absl), rwlock (vs tbb; across 2 processes vs LMDB, one
#                     map and 8 shards),
#                     robinhood (vs libcuckoo, bytes per key)
# then plots/make_plots.py and plots/report.py (Debian's /usr/bin/python3).
# About 15 minutes on 2 cores; --quick about 2 minutes (small keys, fewer
# cells, shorter runs: for trying the pipeline, not for quoting).
# Exit status: 0, or 1 when a repetition failed its correctness checks (the
# report says which), 2 on a bad command line, 3 when a suite could not
# run (a crash: the message names the suite and its log; no report).
#
# Usage: tools/run.sh [REPORT_DIR] [--quick]     (default REPORT_DIR: report/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=report
quick=0
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $a (see --help)" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done
tools/install.sh >&2
mkdir -p "$out/data"
data=$(cd "$out/data" && pwd)
# Nothing from an earlier run may end up in this report.
rm -f "$data"/*.json "$data"/*.txt "$data"/*.log
# A suite that fails ends the run (exit 3) with its name and log.
suite_failed() {  # NAME STATUS LOG
  echo "run.sh: suite $1 failed (exit $2); its messages: $3; no report written" >&2
  exit 3
}
echo "build: bazel build -c opt ..." >&2
bazel build //harness:mapbench //harness:gbench_suite //variants/chain:chain_benchmark \
  //core:alloc_benchmark_glibc //core:alloc_benchmark_jemalloc //core:alloc_benchmark_mimalloc \
  //core:alloc_benchmark_tcmalloc //variants/rwlock:rw_benchmark //variants/robinhood:rh_benchmark \
  2>&1 | tail -1 >&2
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)

if ((quick)); then
  run_args=(--workloads=B,mix95 --keys=65536 --threads=1,2 --procs=2 --duration=0.2 --warmup=0.05 --reps=2)
  gbench_args=(--mb_keys=65536 --mb_workloads=B --benchmark_min_time=0.05)
  chain_min_time=0.05
  target_reps=2
else
  run_args=(--workloads=A,B,C,D,E,F,mix95,mix50 --threads=1,2 --procs=2 --duration=0.4 --warmup=0.2 --reps=3)
  gbench_args=(--mb_workloads=B,mix95 --benchmark_min_time=0.2)
  chain_min_time=0.3
  target_reps=5
fi
# The target benchmarks (chain, rwlock, robin-hood against their peers):
# repetitions in random interleaved order, so each map's repetitions are
# spread over the run and share its noise; the reports quote medians.
target_args=(--benchmark_min_time=$chain_min_time --benchmark_repetitions=$target_reps
  --benchmark_enable_random_interleaving=true)

echo "suite: mapbench run ${run_args[*]}" >&2
status=0
bazel-bin/harness/mapbench run "${run_args[@]}" --commit="$commit" --out="$data/run.json" || status=$?
if ((status == 2)); then exit 2; fi  # bad command line: nothing ran
# 1: some repetitions failed their checks (the document says which). Any
# other failure (a crash) leaves no document: stop.
if ((status > 1)) || [[ ! -f $data/run.json ]]; then suite_failed mapbench "$status" "above"; fi

echo "suite: Google Benchmark grid ..." >&2
bazel-bin/harness/gbench_suite "${gbench_args[@]}" --benchmark_format=json \
  --benchmark_out="$data/gbench_suite.json" --benchmark_out_format=json >/dev/null 2>"$data/gbench_suite.log" ||
  suite_failed gbench_suite $? "$data/gbench_suite.log"

echo "suite: allocator ..." >&2
tools/alloc_bench.sh "$data" $( ((quick)) && echo --quick) >&2 || suite_failed allocator $? "above"
echo "suite: chain map targets ..." >&2
bazel-bin/variants/chain/chain_benchmark "${target_args[@]}" \
  --benchmark_out="$data/chain_raw.json" --benchmark_out_format=json >/dev/null 2>"$data/chain_benchmark.log" ||
  suite_failed chain_benchmark $? "$data/chain_benchmark.log"
python3 tools/chain_report.py --out "$data/chain_benchmark.json" "$data/chain_raw.json" >&2
echo "suite: rwlock map (1 process vs tbb; 2 processes vs LMDB) ..." >&2
bazel-bin/variants/rwlock/rw_benchmark "${target_args[@]}" --cross_rounds=$target_reps \
  --benchmark_out="$data/rw_raw.json" --benchmark_out_format=json >"$data/rw_stdout.txt" 2>"$data/rw_benchmark.log" ||
  suite_failed rw_benchmark $? "$data/rw_benchmark.log"
# The cross-process phases again with the map split into 8 shards (one write
# lock each): rw_cross.json gets both passes, the sharded cases named so.
bazel-bin/variants/rwlock/rw_benchmark --cross_only --cross_shards=8 --cross_rounds=$target_reps \
  >>"$data/rw_stdout.txt" 2>>"$data/rw_benchmark.log" || suite_failed "rw_benchmark --cross_shards=8" $? "$data/rw_benchmark.log"
python3 tools/rw_report.py --single "$data/rw_benchmark.json" --cross "$data/rw_cross.json" \
  "$data/rw_raw.json" "$data/rw_stdout.txt" >&2
echo "suite: robin-hood map (vs libcuckoo) ..." >&2
bazel-bin/variants/robinhood/rh_benchmark "${target_args[@]}" \
  --benchmark_out="$data/rh_raw.json" --benchmark_out_format=json >/dev/null 2>"$data/rh_benchmark.log" ||
  suite_failed rh_benchmark $? "$data/rh_benchmark.log"
python3 tools/rh_report.py --out "$data/rh_benchmark.json" "$data/rh_raw.json" >&2

echo "report: plots and pages ..." >&2
/usr/bin/python3 plots/make_plots.py "$data/run.json" --alloc "$data/alloc_benchmark.json" \
  --cross "$data/rw_cross.json" --out "$out/figures" >/dev/null
checks=()
[[ -f results/checks.json ]] && checks=(--checks results/checks.json)
/usr/bin/python3 plots/report.py "$data/run.json" --figures "$out/figures" \
  --suite "$data/alloc_benchmark.json" --suite "$data/chain_benchmark.json" --suite "$data/rw_benchmark.json" \
  --suite "$data/rw_cross.json" --suite "$data/rh_benchmark.json" "${checks[@]}" --out "$out"
if ((status != 0)); then
  echo "run.sh: some repetitions failed their correctness checks: see the report's Correctness section" >&2
fi
exit $status
