#!/usr/bin/env python3
"""Summarize variants/rwlock/rw_benchmark's output as two suite documents.

Inputs: the Google Benchmark JSON of the single-process part (get/put of u64
keys, rwlock vs tbb::concurrent_hash_map at 1 thread; counters: incr at 1 and
2 threads against a locked put and tbb) and the JSON line the
cross-process part prints (2 processes, 25K string keys, rwlock vs LMDB).
Outputs: --single (suite "rwlock": every figure and the ratio the rwlock
issue sets a target for: get >= 1.5x tbb, put >= 1.0x tbb) and --cross
(suite "cross_process": reads >= 4x LMDB, writes >= 10x LMDB); prints both.
"""
import argparse
import json
import re
import sys

NAME = re.compile(r"^(get|put)/([a-z]+)/(\d+)(_[a-z]+)?$")
COUNTER = re.compile(r"^(incr|put|get_while_incr)/([a-z_]+)/(\d+)/real_time/threads:(\d+)")
TARGETS = {"get": 1.5, "put": 1.0, "reads": 4.0, "writes": 10.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--single", required=True, help="suite JSON to write (1 process)")
    ap.add_argument("--cross", required=True, help="suite JSON to write (2 processes)")
    ap.add_argument("gbench", help="Google Benchmark JSON of rw_benchmark")
    ap.add_argument("cross_line", help="file holding the cross-process JSON line")
    args = ap.parse_args()
    with open(args.gbench) as f:
        doc = json.load(f)
    rows, counters = {}, {}
    for b in doc.get("benchmarks", []):
        # Plain runs, or the median aggregate when run with repetitions.
        usable = b.get("run_type", "iteration") == "iteration" or b.get("aggregate_name") == "median"
        if "items_per_second" not in b or not usable:
            continue
        m = NAME.match(b.get("name", ""))
        if m:
            rows.setdefault((m.group(1), int(m.group(3))), {})[m.group(2)] = b["items_per_second"] / 1e6
        c = COUNTER.match(b.get("name", ""))
        if c:
            counters.setdefault(int(c.group(4)), {})[c.group(1) + "/" + c.group(2)] = b["items_per_second"] / 1e6
    if not rows:
        sys.exit("rw_report: no get/put results in " + args.gbench)
    single = []
    print("rwlock map, 1 process, 1 thread, million ops/s")
    for (op, keys), r in sorted(rows.items()):
        ratio = r["rw"] / r["tbb"] if "rw" in r and r.get("tbb") else None
        single.append({"op": op, "keys": keys, "mops": {"rwlock": r.get("rw"), "tbb": r.get("tbb")},
                       "rwlock_over_tbb": ratio, "target": TARGETS[op],
                       "met": ratio is not None and ratio >= TARGETS[op]})
        print(f"  {op} {keys:>8}: rwlock {r.get('rw', 0):7.2f}  tbb {r.get('tbb', 0):7.2f}  "
              f"ratio {ratio or 0:.2f} (target {TARGETS[op]})")
    # Counters: incr's read-lock fast path against a put under the write lock
    # (what incr cost before it had a fast path) and tbb's accessor, on one
    # shared map of 25K keys.
    counter_rows = []
    if counters:
        print("counters, 25K keys, one map shared by the threads, million ops/s")
    for threads, r in sorted(counters.items()):
        row = {"threads": threads, "mops": r}
        if r.get("incr/rw") and r.get("put/rw_shared"):
            row["incr_over_locked_put"] = r["incr/rw"] / r["put/rw_shared"]
        if r.get("incr/rw") and r.get("incr/tbb"):
            row["incr_over_tbb_incr"] = r["incr/rw"] / r["incr/tbb"]
        # Gets while another thread increments, against gets alone (1 thread).
        alone = rows.get(("get", 25000), {}).get("rw")
        if r.get("get_while_incr/rw") and alone:
            row["get_while_incr_over_get_alone"] = r["get_while_incr/rw"] / alone
        counter_rows.append(row)
        print(f"  {threads} threads: " + "  ".join(f"{k} {v:7.2f}" for k, v in sorted(r.items())))
    ctx = doc.get("context", {})
    machine = {"num_cpus": ctx.get("num_cpus"), "host_name": ctx.get("host_name")}
    with open(args.single, "w") as f:
        json.dump({"suite": "rwlock", "unit": "million operations per second", "machine": machine,
                   "results": single, "counters": counter_rows}, f, indent=1)

    line = None
    with open(args.cross_line) as f:
        for text in f:
            text = text.strip()
            if text.startswith("{") and "cross_process" in text:
                line = json.loads(text)
    if line is None:
        sys.exit("rw_report: no cross-process JSON line in " + args.cross_line)
    cross = []
    print(f"rwlock vs LMDB, {line.get('procs')} processes, {line.get('keys')} string keys, million ops/s")
    for case in ("reads", "writes", "mixed50"):
        if case not in line:
            continue
        c = line[case]
        ratio = c["rw_ops"] / c["lmdb_ops"] if c.get("lmdb_ops") else None
        row = {"case": case, "mops": {"rwlock": c["rw_ops"] / 1e6, "lmdb": c["lmdb_ops"] / 1e6},
               "rwlock_over_lmdb": ratio}
        if "rw_min_share" in c:  # the slowest process's share of the ops (0.5 = fair)
            row["slowest_process_share"] = {"rwlock": c["rw_min_share"], "lmdb": c["lmdb_min_share"]}
        if case in TARGETS:
            row["target"] = TARGETS[case]
            row["met"] = ratio is not None and ratio >= TARGETS[case]
        cross.append(row)
        print(f"  {case:8}: rwlock {c['rw_ops'] / 1e6:7.2f}  lmdb {c['lmdb_ops'] / 1e6:7.2f}  ratio {ratio or 0:.2f}")
    with open(args.cross, "w") as f:
        json.dump({"suite": "cross_process", "unit": "million operations per second, 2 processes",
                   "machine": {"num_cpus": line.get("cores")}, "results": cross}, f, indent=1)


if __name__ == "__main__":
    main()
