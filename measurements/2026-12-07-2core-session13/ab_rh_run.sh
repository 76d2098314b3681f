#!/bin/bash
# A/B: /tmp/rhb_old (rh_benchmark of 4ca6e11) vs /tmp/rhb_new (the writers'
# damage checks), alternated 3 times, mix50 and mix95 uniform, 1 thread,
# pinned to CPU 1.
O=/tmp/abrh
mkdir -p $O
for round in 1 2 3; do
  for b in old new; do
    taskset -c 1 /tmp/rhb_$b --benchmark_filter='^mix(50|95)/robinhood/uniform/real_time/threads:1$' \
      --benchmark_repetitions=3 --benchmark_min_time=0.5 --benchmark_report_aggregates_only=true \
      --benchmark_out=$O/${b}_$round.json --benchmark_out_format=json > $O/${b}_$round.txt 2>&1
  done
done
echo done
