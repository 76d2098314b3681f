#!/usr/bin/env python3
"""Summarize the chain map benchmark JSON (variants/chain/chain_benchmark).

Prints million ops/s per map and workload, and the ratios the chain issue
sets targets for: mix95 at 2 threads, chain / best of (tbb, libcuckoo)
(target >= 1.3); find100 at 1 thread, chain / absl_flat (target >= 0.7).
Each figure is the median of the repetitions (ratios are of medians); the
JSON keeps every map's range too. Writes OUT (JSON) with every figure and
the machine.
"""
import argparse
import json
import re
import sys

import gbench_reps

NAME = re.compile(r"^(?P<workload>mix95|find100)/(?P<map>[a-z_]+)/(?P<keys>[a-z]+)/real_time/threads:(?P<threads>\d+)$")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("input")
    args = ap.parse_args()
    with open(args.input) as f:
        doc = json.load(f)
    ctx = doc.get("context", {})
    reps = gbench_reps.collect(doc, NAME)
    rows = {k: gbench_reps.medians(v) for k, v in reps.items()}
    if not rows:
        sys.exit("chain_report: no results in " + args.input)
    maps = ["chain", "chain_private", "tbb", "libcuckoo", "absl_flat"]
    n = min((len(v) for r in reps.values() for v in r.values()), default=0)
    print(f"chain map benchmark, million ops per second, median of {n} repetitions; {ctx.get('num_cpus', '?')} CPUs")
    print(f"{'workload':8} {'keys':8} {'thr':>3} " + " ".join(f"{m:>13}" for m in maps) + "   chain/best-peer")
    results = []
    for key in sorted(rows):
        r = rows[key]
        peers = [r[p] for p in ("tbb", "libcuckoo") if p in r]
        ratio = r["chain"] / max(peers) if peers and "chain" in r else None
        absl = r["chain"] / r["absl_flat"] if key[0] == "find100" and "absl_flat" in r else None
        cells = " ".join(f"{r[m]:13.2f}" if m in r else f"{'-':>13}" for m in maps)
        extra = f"{ratio:.2f}" if ratio else "-"
        if absl:
            extra += f"  (chain/absl {absl:.2f})"
        print(f"{key[0]:8} {key[1]:8} {key[2]:3d} {cells}   {extra}")
        results.append({"workload": key[0], "keys": key[1], "threads": key[2], "mops": r,
                        "mops_min_max": gbench_reps.spreads(reps[key]), "reps": n,
                        "chain_over_best_of_tbb_libcuckoo": ratio, "chain_over_absl": absl})
    with open(args.out, "w") as f:
        json.dump({"suite": "chain", "machine": {"num_cpus": ctx.get("num_cpus"), "host_name": ctx.get("host_name")},
                   "unit": "million operations per second", "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
