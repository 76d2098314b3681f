#!/bin/bash
# A/B: /tmp/rw_old (rw_benchmark of 938d6c5) vs /tmp/rw_new (put(u64) on
# the shared probe template), alternated, pinned to CPU 1.
O=/tmp/ab13
mkdir -p $O
for round in 1 2 3 4; do
  for b in old new; do
    taskset -c 1 /tmp/rw_$b --benchmark_filter='^(get|put)/(rw|tbb)/' --benchmark_repetitions=5 --benchmark_min_time=0.2 \
      --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true --no_cross \
      --benchmark_out=$O/${b}_$round.json --benchmark_out_format=json > $O/${b}_$round.txt 2>&1
  done
done
echo done
