#!/usr/bin/env python3
"""Summarize variants/robinhood/rh_benchmark's Google Benchmark JSON.

Prints million ops/s per workload, distribution and thread count for the
robin-hood map and libcuckoo (the median of the repetitions, with their
range), the ratio of the medians the robin-hood issue sets a target for
(mix95: robinhood / libcuckoo >= 1.0) and bytes per key at 50% load (target
<= 24); writes the suite document (suite "robinhood") to --out.
"""
import argparse
import json
import re
import sys

import gbench_reps

NAME = re.compile(r"^(?P<workload>mix95|mix50)/(?P<map>[a-z_]+)/(?P<dist>[a-z]+)/.*threads:(?P<threads>\d+)$")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("input")
    args = ap.parse_args()
    with open(args.input) as f:
        doc = json.load(f)
    rows = gbench_reps.collect(doc, NAME)
    bpk = next((b["bytes_per_key"] for b in doc.get("benchmarks", [])
                if "bytes_per_key" in b and "/robinhood/" in b.get("name", "")), None)
    if not rows:
        sys.exit("rh_report: no results in " + args.input)
    results = []
    print(f"robin-hood map vs libcuckoo, million ops/s, median [min-max] of the repetitions; "
          f"bytes per key at 50% load: {bpk}")
    for key in sorted(rows):
        reps = rows[key]
        r, spread = gbench_reps.medians(reps), gbench_reps.spreads(reps)
        ratio = r["robinhood"] / r["libcuckoo"] if r.get("libcuckoo") and "robinhood" in r else None
        results.append({"workload": key[0], "dist": key[1], "threads": key[2], "mops": r,
                        "mops_min_max": spread, "reps": min(len(v) for v in reps.values()),
                        "robinhood_over_libcuckoo": ratio})
        cells = "  ".join(f"{m} {r[m]:6.2f} [{spread[m][0]:.2f}-{spread[m][1]:.2f}]" for m in ("robinhood", "libcuckoo")
                          if m in r)
        print(f"  {key[0]} {key[1]:8} {key[2]}t: {cells}  ratio {ratio or 0:.2f}")
    with open(args.out, "w") as f:
        json.dump({"suite": "robinhood", "unit": "million operations per second",
                   "machine": {"num_cpus": doc.get("context", {}).get("num_cpus")},
                   "summary": {"bytes_per_key_at_50pct_load": bpk, "target_bytes_per_key": 24,
                               "target_mix95_ratio": 1.0},
                   "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
