#!/usr/bin/env python3
"""Summarize variants/robinhood/rh_benchmark's Google Benchmark JSON.

Prints million ops/s per workload, distribution and thread count for the
robin-hood map and libcuckoo, the ratio the robin-hood issue sets a target
for (mix95: robinhood / libcuckoo >= 1.0) and bytes per key at 50% load
(target <= 24); writes the suite document (suite "robinhood") to --out.
"""
import argparse
import json
import re
import sys

NAME = re.compile(r"^(mix95|mix50)/([a-z_]+)/([a-z]+)/.*threads:(\d+)$")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("input")
    args = ap.parse_args()
    with open(args.input) as f:
        doc = json.load(f)
    rows, bpk = {}, None
    for b in doc.get("benchmarks", []):
        m = NAME.match(b.get("name", ""))
        if m and "items_per_second" in b:
            rows.setdefault((m.group(1), m.group(3), int(m.group(4))), {})[m.group(2)] = b["items_per_second"] / 1e6
            if m.group(2) == "robinhood" and "bytes_per_key" in b:
                bpk = b["bytes_per_key"]
    if not rows:
        sys.exit("rh_report: no results in " + args.input)
    results = []
    print(f"robin-hood map vs libcuckoo, million ops/s; bytes per key at 50% load: {bpk}")
    for key in sorted(rows):
        r = rows[key]
        ratio = r["robinhood"] / r["libcuckoo"] if r.get("libcuckoo") and "robinhood" in r else None
        results.append({"workload": key[0], "dist": key[1], "threads": key[2], "mops": r,
                        "robinhood_over_libcuckoo": ratio})
        print(f"  {key[0]} {key[1]:8} {key[2]}t: robinhood {r.get('robinhood', 0):6.2f}  "
              f"libcuckoo {r.get('libcuckoo', 0):6.2f}  ratio {ratio or 0:.2f}")
    with open(args.out, "w") as f:
        json.dump({"suite": "robinhood", "unit": "million operations per second",
                   "machine": {"num_cpus": doc.get("context", {}).get("num_cpus")},
                   "summary": {"bytes_per_key_at_50pct_load": bpk, "target_bytes_per_key": 24,
                               "target_mix95_ratio": 1.0},
                   "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
