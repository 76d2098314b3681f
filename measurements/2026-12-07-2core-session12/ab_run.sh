#!/bin/bash
# A/B: /tmp/rwb_base (rw_benchmark of 20758e6) vs /tmp/rwb_new (the twelfth
# session's rwlock change), alternated, pinned to CPU 1.
mkdir -p /tmp/ab12
for round in 1 2 3 4; do
  for b in base new; do
    taskset -c 1 /tmp/rwb_$b --benchmark_filter='^(get|put)/(rw|tbb)/' --benchmark_repetitions=5 --benchmark_min_time=0.2 \
      --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true --no_cross \
      --benchmark_out=/tmp/ab12/${b}_$round.json --benchmark_out_format=json > /tmp/ab12/${b}_$round.txt 2>&1
  done
done
echo done
