#!/usr/bin/env python3
"""Merge the allocator benchmark JSON files and print the comparison table.

Input: Google Benchmark JSON from each core/alloc_benchmark_<peer> binary
(run with repetitions; the median aggregate is used). Output: one JSON
document with the machine, the build, every median, and the ratios the
foundation issue sets targets for:
  - 1 thread: mapbench throughput / the fastest peer's (target >= 1/1.5)
  - 2 threads: mapbench throughput / glibc malloc's (target > 1)
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

NAME = re.compile(r"^(pair|batch)/([a-z]+)/(\d+)/real_time/threads:(\d+)_median$")
ALLOCS = ["mapbench", "mbcache", "glibc", "jemalloc", "mimalloc", "tcmalloc"]
OURS = ("mapbench", "mbcache")


def load(paths):
    rows, context = {}, None
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        context = context or doc.get("context", {})
        for b in doc.get("benchmarks", []):
            m = NAME.match(b.get("name", ""))
            if not m:
                continue
            pattern, alloc, size, threads = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
            rows.setdefault((pattern, size, threads), {})[alloc] = b["items_per_second"] / 1e6
    return rows, context


def compiler():
    try:
        return subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="merged JSON to write")
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args()
    rows, ctx = load(args.inputs)
    if not rows:
        sys.exit("alloc_report: no benchmark medians found in " + " ".join(args.inputs))

    results = []
    print(f"allocator throughput, million alloc+free per second (median of repetitions); "
          f"{ctx.get('num_cpus', '?')} CPUs")
    print(f"{'pattern':7} {'size':>5} {'thr':>3} " + " ".join(f"{a:>9}" for a in ALLOCS) +
          "   cache/best-peer  cache/glibc  shared/glibc")
    for key in sorted(rows):
        pattern, size, threads = key
        r = rows[key]
        peers = {a: v for a, v in r.items() if a not in OURS}
        best = max(peers, key=peers.get) if peers else None
        ratio = {}
        for ours in OURS:
            if ours in r and best:
                ratio[ours] = {"over_fastest_peer": r[ours] / peers[best],
                               "over_glibc": r[ours] / r["glibc"] if r.get("glibc") else None}
        cells = " ".join(f"{r[a]:9.1f}" if a in r else f"{'-':>9}" for a in ALLOCS)
        c, m = ratio.get("mbcache", {}), ratio.get("mapbench", {})
        fmt = lambda v: f"{v:.2f}" if v is not None else "-"
        print(f"{pattern:7} {size:5d} {threads:3d} {cells}   "
              f"{fmt(c.get('over_fastest_peer')) + ' (' + str(best) + ')':>15} "
              f"{fmt(c.get('over_glibc')):>12} {fmt(m.get('over_glibc')):>13}")
        results.append({"pattern": pattern, "size": size, "threads": threads, "mops": r,
                        "fastest_peer": best, "ratios": ratio})

    def count(ours, threads, key, ok):
        vals = [x["ratios"][ours][key] for x in results
                if x["threads"] == threads and ours in x["ratios"] and x["ratios"][ours][key]]
        return sum(ok(v) for v in vals), len(vals)

    summary = {}
    for ours in OURS:
        a, n = count(ours, 1, "over_fastest_peer", lambda v: v >= 1 / 1.5)
        b, m = count(ours, 2, "over_glibc", lambda v: v > 1)
        summary[ours] = {"one_thread_within_1_5x_of_fastest": a, "one_thread_cases": n,
                         "two_threads_ahead_of_glibc": b, "two_thread_cases": m}
        print(f"{ours}: 1 thread within 1.5x of the fastest peer in {a} of {n} cases; "
              f"2 threads ahead of glibc in {b} of {m}")
    doc = {
        "suite": "allocator",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": {"num_cpus": ctx.get("num_cpus"), "mhz_per_cpu": ctx.get("mhz_per_cpu"),
                    "host_name": ctx.get("host_name"), "caches": ctx.get("caches"),
                    "kernel": os.uname().release},
        "build": {"compiler": compiler(), "flags": "bazel -c opt (see .bazelrc)",
                  "benchmark_library_build_type": ctx.get("library_build_type")},
        "unit": "million (alloc + free) per second, median",
        "results": results,
        "summary": summary,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()
