#!/bin/bash
# Side-by-side target checks, twelfth session (2 cores). One binary at a time.
set -e
cd /work/main
B=bazel-bin/variants
O=/tmp/bench12
mkdir -p $O
$B/chain/chain_benchmark --benchmark_filter='^(mix95/(chain|tbb|libcuckoo)/.*threads:2|find100/(chain|absl_flat)/(uniform|present|absent))' \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 \
  --benchmark_out=$O/chain.json --benchmark_out_format=json > $O/chain.txt 2>&1
$B/rwlock/rw_benchmark --benchmark_filter='^(get|put)/(rw|tbb)/' --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --cross_rounds=5 \
  --benchmark_out=$O/rw.json --benchmark_out_format=json > $O/rw.txt 2>&1
$B/robinhood/rh_benchmark --benchmark_filter='^mix95/.*threads:2' --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 \
  --benchmark_out=$O/rh.json --benchmark_out_format=json > $O/rh.txt 2>&1
echo done
