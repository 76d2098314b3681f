#!/usr/bin/env python3
"""Summarize variants/rwlock/rw_benchmark's output as two suite documents.

Inputs: the Google Benchmark JSON of the single-process part (get/put of u64
keys, rwlock vs tbb::concurrent_hash_map at 1 thread; counters: incr at 1 and
2 threads against a locked put and tbb) and the JSON line the
cross-process part prints (2 processes, 25K string keys, rwlock vs LMDB),
one line per pass (tools/run.sh runs one map and then 8 shards).
Outputs: --single (suite "rwlock": every figure and the ratio the rwlock
issue sets a target for: get >= 1.5x tbb, put >= 1.0x tbb) and --cross
(suite "cross_process": reads >= 4x LMDB, writes >= 10x LMDB, a sharded
pass's cases named "<case> (N shards)"); prints both.
"""
import argparse
import json
import re
import sys

import gbench_reps

NAME = re.compile(r"^(?P<op>get|put)/(?P<map>[a-z]+)/(?P<keys>\d+)$")
COUNTER = re.compile(r"^(?P<op>incr|put|get_while_incr)/(?P<map>[a-z_]+)/(?P<keys>\d+)/real_time/threads:(?P<threads>\d+)$")
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
    # Every repetition (aggregate rows are skipped); figures are medians.
    reps = gbench_reps.collect(doc, NAME)
    rows = {k: gbench_reps.medians(v) for k, v in reps.items()}
    counters = {}
    for (op, _keys, threads), maps in gbench_reps.collect(doc, COUNTER).items():
        for m, v in gbench_reps.medians(maps).items():
            counters.setdefault(threads, {})[op + "/" + m] = v
    if not rows:
        sys.exit("rw_report: no get/put results in " + args.gbench)
    single = []
    print("rwlock map, 1 process, 1 thread, million ops/s, median [min-max] of the repetitions")
    for (op, keys), r in sorted(rows.items()):
        ratio = r["rw"] / r["tbb"] if "rw" in r and r.get("tbb") else None
        spread = gbench_reps.spreads(reps[(op, keys)])
        single.append({"op": op, "keys": keys, "mops": {"rwlock": r.get("rw"), "tbb": r.get("tbb")},
                       "mops_min_max": {"rwlock": spread.get("rw"), "tbb": spread.get("tbb")},
                       "reps": min(len(v) for v in reps[(op, keys)].values()),
                       "rwlock_over_tbb": ratio, "target": TARGETS[op],
                       "met": ratio is not None and ratio >= TARGETS[op]})
        cells = "  ".join(f"{name} {r[m]:7.2f} [{spread[m][0]:.2f}-{spread[m][1]:.2f}]"
                          for m, name in (("rw", "rwlock"), ("tbb", "tbb")) if m in r)
        print(f"  {op} {keys:>8}: {cells}  ratio {ratio or 0:.2f} (target {TARGETS[op]})")
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

    lines = []  # one per cross-process pass: one map, then (tools/run.sh) 8 shards
    with open(args.cross_line) as f:
        for text in f:
            text = text.strip()
            if text.startswith("{") and "cross_process" in text:
                lines.append(json.loads(text))
    if not lines:
        sys.exit("rw_report: no cross-process JSON line in " + args.cross_line)
    cross = []
    for line in lines:
        cross += cross_rows(line)
    with open(args.cross, "w") as f:
        json.dump({"suite": "cross_process", "unit": "million operations per second, 2 processes",
                   "machine": {"num_cpus": lines[0].get("cores")}, "results": cross}, f, indent=1)


def cross_rows(line):
    """The suite rows of one cross-process JSON line (rw_benchmark), printed too.
    A pass over an RwShards (rw_shards > 1) names its cases "<case> (N shards)"."""
    shards = line.get("rw_shards", 1)
    suffix = f" ({shards} shards)" if shards > 1 else ""
    rows = []
    print(f"rwlock{suffix} vs LMDB, {line.get('procs')} processes, {line.get('keys')} string keys, million ops/s, "
          f"median of {line.get('rounds', 1)} rounds (ratio: median of the rounds' ratios [min-max])")
    for case in ("reads", "writes", "mixed50"):
        if case not in line:
            continue
        c = line[case]
        ratio = c["rw_ops"] / c["lmdb_ops"] if c.get("lmdb_ops") else None
        if "ratio" in c:  # the median of the rounds' own ratios (rw_benchmark --cross_rounds)
            ratio = c["ratio"]
        row = {"case": case + suffix, "mops": {"rwlock": c["rw_ops"] / 1e6, "lmdb": c["lmdb_ops"] / 1e6},
               "rwlock_over_lmdb": ratio, "rounds": line.get("rounds", 1)}
        if "ratio_min" in c:
            row["ratio_min_max"] = [c["ratio_min"], c["ratio_max"]]
        if "rw_min_share" in c:  # the slowest process's share of the ops (0.5 = fair)
            row["slowest_process_share"] = {"rwlock": c["rw_min_share"], "lmdb": c["lmdb_min_share"]}
        if case in TARGETS:
            row["target"] = TARGETS[case]
            row["met"] = ratio is not None and ratio >= TARGETS[case]
        if shards > 1:
            row["rw_shards"] = shards
        rows.append(row)
        spread = f" [{c['ratio_min']:.2f}-{c['ratio_max']:.2f}]" if "ratio_min" in c else ""
        print(f"  {case:8}: rwlock {c['rw_ops'] / 1e6:7.2f}  lmdb {c['lmdb_ops'] / 1e6:7.2f}  "
              f"ratio {ratio or 0:.2f}{spread}")
    return rows


if __name__ == "__main__":
    main()
