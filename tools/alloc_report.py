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
    head = f"{'pattern':7} {'size':>5} {'thr':>3} " + " ".join(f"{a:>9}" for a in ALLOCS) + \
        "   mb/best-peer  mb/glibc"
    print(head)
    for key in sorted(rows):
        pattern, size, threads = key
        r = rows[key]
        peers = {a: v for a, v in r.items() if a != "mapbench"}
        best_name = max(peers, key=peers.get) if peers else None
        mb = r.get("mapbench")
        vs_best = mb / peers[best_name] if mb and best_name else None
        vs_glibc = mb / r["glibc"] if mb and r.get("glibc") else None
        cells = " ".join(f"{r[a]:9.1f}" if a in r else f"{'-':>9}" for a in ALLOCS)
        print(f"{pattern:7} {size:5d} {threads:3d} {cells}   "
              f"{(f'{vs_best:.2f} ({best_name})') if vs_best else '-':>14} "
              f"{(f'{vs_glibc:.2f}') if vs_glibc else '-':>8}")
        results.append({"pattern": pattern, "size": size, "threads": threads,
                        "mops": r, "fastest_peer": best_name,
                        "mapbench_over_fastest_peer": vs_best,
                        "mapbench_over_glibc": vs_glibc})

    one = [x["mapbench_over_fastest_peer"] for x in results if x["threads"] == 1 and x["mapbench_over_fastest_peer"]]
    two = [x["mapbench_over_glibc"] for x in results if x["threads"] == 2 and x["mapbench_over_glibc"]]
    summary = {
        "one_thread_within_1_5x_of_fastest": sum(v >= 1 / 1.5 for v in one),
        "one_thread_cases": len(one),
        "two_threads_ahead_of_glibc": sum(v > 1 for v in two),
        "two_thread_cases": len(two),
    }
    print(f"target 1 thread, within 1.5x of the fastest peer: {summary['one_thread_within_1_5x_of_fastest']}"
          f" of {len(one)} cases; 2 threads, ahead of glibc: {summary['two_threads_ahead_of_glibc']} of {len(two)}")
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
