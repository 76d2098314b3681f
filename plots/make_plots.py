#!/usr/bin/python3
"""Draw every figure of the report from result JSON only.

Inputs:
  RUN.json            one or more `mapbench run` documents (mapbench.run/1);
                      cells of later documents replace equal cells of earlier ones
  --alloc FILE        tools/alloc_report.py's allocator suite document (optional)
  --cross FILE        a cross-process suite document (suite "cross_process",
                      optional; see variants/rwlock)
Output: PNG files in --out and figures.json, the list of figures with their
captions (the report reads it). Exits non-zero, drawing nothing, when an
input fails its schema check.

Run with Debian's /usr/bin/python3 (python3-matplotlib).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schema  # noqa: E402

BASELINE = "tbb"
STYLE = {"chain": ("C3", "o"), "rwlock": ("C1", "s"), "robinhood": ("C5", "D"), "tbb": ("C0", "^"),
         "libcuckoo": ("C2", "v"), "cds_michael": ("C4", "<"), "cds_feldman": ("C6", ">"),
         "std_shared_mutex": ("C7", "x"), "absl_flat": ("C8", "*")}


def style(m):
    return STYLE.get(m, ("C9", "."))


def load_runs(paths):
    docs, cells = [], {}
    for p in paths:
        with open(p) as f:
            doc = json.load(f)
        problems = schema.validate(doc)
        if problems:
            sys.exit(f"make_plots: {p} is not a valid mapbench.run/1 document:\n  " + "\n  ".join(problems[:20]))
        docs.append(doc)
        for c in doc["results"]:
            cells[(c["map"], c["workload"], c["mode"], c["workers"])] = c
    return docs, cells


def measured(cells):
    return {k: c for k, c in cells.items() if "skipped" not in c}


def order(maps, docs):
    listed = []
    for d in docs:
        for m in d["config"]["maps"]:
            if m not in listed:
                listed.append(m)
    return [m for m in listed if m in maps] + sorted(m for m in maps if m not in listed)


class Figures:
    def __init__(self, out):
        self.out, self.items = out, []

    def save(self, fig, name, caption):
        path = os.path.join(self.out, name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.items.append({"file": name, "caption": caption})


def grid(n):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def throughput_and_speedup(figs, docs, cells, workloads, cores):
    for kind in ("throughput", "speedup"):
        fig, axes = grid(len(workloads))
        for ax, w in zip(axes, workloads):
            for mode in ("threads", "procs"):
                maps = order({k[0] for k in cells if k[1] == w and k[2] == mode}, docs)
                for m in maps:
                    pts = sorted((k[3], c) for k, c in cells.items() if k[0] == m and k[1] == w and k[2] == mode)
                    xs = [n for n, _ in pts]
                    med = [c["mops"]["median"] for _, c in pts]
                    color, marker = style(m)
                    label = m + (" (processes)" if mode == "procs" else "")
                    ls = "--" if mode == "procs" else "-"
                    if kind == "throughput":
                        lo = [c["mops"]["median"] - c["mops"]["ci95"][0] for _, c in pts]
                        hi = [c["mops"]["ci95"][1] - c["mops"]["median"] for _, c in pts]
                        ax.errorbar(xs, med, yerr=[[max(0, v) for v in lo], [max(0, v) for v in hi]], color=color,
                                    marker=marker, linestyle=ls, capsize=3, label=label)
                    else:
                        base = dict(pts).get(1)
                        if base is None or base["mops"]["median"] <= 0:
                            continue
                        ax.plot(xs, [v / base["mops"]["median"] for v in med], color=color, marker=marker,
                                linestyle=ls, label=label)
            if kind == "speedup":
                top = max([k[3] for k in cells if k[1] == w] + [1])
                ax.plot([1, top], [1, top], color="0.7", linestyle=":", label="linear")
            ax.set_title(f"workload {w}")
            ax.set_xticks(sorted({k[3] for k in cells if k[1] == w}))
            ax.set_ylim(bottom=0)
            ax.set_xlabel("workers")
            ax.set_ylabel("Mops/s (median, 95% CI)" if kind == "throughput" else "speedup over 1 worker")
            ax.axvline(cores, color="0.85", linewidth=4, zorder=0)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        caption = ("Throughput against worker count (median of repetitions, bars: 95% confidence interval of "
                   "the mean); dashed: worker processes over one shared region. The grey line marks the "
                   f"machine's {cores} cores: points right of it are oversubscribed."
                   if kind == "throughput" else
                   "Speedup: median throughput at N workers over the same map's at 1 worker.")
        figs.save(fig, f"{kind}.png", caption)


def top_workers(cells, w):
    ns = [k[3] for k in cells if k[1] == w and k[2] == "threads"]
    return max(ns) if ns else None


def latency(figs, docs, cells, workloads):
    fig, axes = grid(len(workloads))
    for ax, w in zip(axes, workloads):
        n = top_workers(cells, w)
        maps = order({k[0] for k in cells if k[1] == w and k[2] == "threads" and k[3] == n}, docs)
        pcts = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")]
        width = 0.8 / max(1, len(pcts))
        for i, (key, label) in enumerate(pcts):
            vals = [cells[(m, w, "threads", n)]["latency_ns"][key] for m in maps]
            ax.bar([x + i * width for x in range(len(maps))], vals, width, label=label)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(maps))])
        ax.set_xticklabels(maps, rotation=35, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("ns per operation")
        ax.set_title(f"workload {w}, {n} threads")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    figs.save(fig, "latency_percentiles.png",
              "Latency percentiles per map at the largest thread count (sampled operations, log-linear "
              "histogram: each value is at most 3.1% above the true percentile).")

    fig, axes = grid(len(workloads))
    for ax, w in zip(axes, workloads):
        n = top_workers(cells, w)
        for m in order({k[0] for k in cells if k[1] == w and k[2] == "threads" and k[3] == n}, docs):
            cdf = cells[(m, w, "threads", n)]["latency_ns"]["cdf"]
            if not cdf:
                continue
            color, _ = style(m)
            ax.step([p[0] for p in cdf], [p[1] for p in cdf], where="post", color=color, label=m)
        ax.set_xscale("log")
        ax.set_xlabel("ns")
        ax.set_ylabel("fraction of operations <= x")
        ax.set_title(f"workload {w}, {n} threads")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figs.save(fig, "latency_cdf.png", "Latency CDF per map at the largest thread count.")


def heatmap(figs, docs, cells, workloads):
    maps = order({k[0] for k in cells if k[2] == "threads"}, docs)
    workloads = [w for w in workloads if (BASELINE, w, "threads", top_workers(cells, w)) in cells]
    if not workloads:
        return
    data, labels = [], []
    for m in maps:
        row = []
        for w in workloads:
            n = top_workers(cells, w)
            c, b = cells.get((m, w, "threads", n)), cells.get((BASELINE, w, "threads", n))
            row.append(c["mops"]["median"] / b["mops"]["median"] if c and b and b["mops"]["median"] > 0 else None)
        data.append(row)
        labels.append(m)
    fig, ax = plt.subplots(figsize=(1.4 * len(workloads) + 3, 0.45 * len(maps) + 1.5))
    masked = [[v if v is not None else float("nan") for v in row] for row in data]
    im = ax.imshow(masked, cmap="RdYlGn", vmin=0, vmax=2, aspect="auto")
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, "-" if v is None else f"{v:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels([f"{w}\n({top_workers(cells, w)}t)" for w in workloads], fontsize=8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    fig.colorbar(im, ax=ax, label=f"throughput / {BASELINE}")
    figs.save(fig, "heatmap_vs_tbb.png",
              f"Median throughput relative to {BASELINE}::concurrent_hash_map in the same run, at each workload's "
              "largest thread count ('-': not run there, e.g. absl_flat beyond 1 thread). Workloads the baseline cannot run (YCSB E) are left out.")


def bytes_per_key(figs, docs, cells):
    best = {}
    for (m, w, mode, n), c in cells.items():
        if mode == "threads" and c["bytes_per_key"]:
            best.setdefault(m, []).append(c["bytes_per_key"])
    maps = order(set(best), docs)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    # The largest: resident-set growth undercounts a map whose allocator
    # reuses pages an earlier map of the run freed (tbb's scalable
    # allocator: 65 B/key in the run's first cell, 16 in later ones, the
    # size of the key and value alone). Region maps' figures are exact and
    # nearly equal across workloads.
    vals = [max(best[m]) for m in maps]
    ax.bar(maps, vals, color=[style(m)[0] for m in maps])
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("bytes per key after prefill")
    ax.set_xticks(range(len(maps)))
    ax.set_xticklabels(maps, rotation=35, ha="right", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    figs.save(fig, "bytes_per_key.png",
              "Memory per key (u64 -> u64) after the prefill, largest over the workloads: the allocator's "
              "footprint of live objects for region maps, otherwise the growth of malloc'd bytes or of the "
              "resident set, whichever is larger (measured after malloc_trim; a map whose allocator keeps "
              "its own pools, tbb's, can still reuse pages an earlier map freed, which the largest figure "
              "avoids best).")


def allocator(figs, path):
    with open(path) as f:
        doc = json.load(f)
    if doc.get("suite") != "allocator" or not doc.get("results"):
        sys.exit(f"make_plots: {path} is not an allocator suite document")
    rows = doc["results"]
    allocs = []
    for r in rows:
        for a in r["mops"]:
            if a not in allocs:
                allocs.append(a)
    labels = [f"{r['pattern']} {r['size']}B\n{r['threads']}t" for r in rows]
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(rows)), 4))
    width = 0.8 / len(allocs)
    for i, a in enumerate(allocs):
        ax.bar([x + i * width for x in range(len(rows))], [r["mops"].get(a, 0) for r in rows], width, label=a)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(rows))])
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("million alloc+free per second")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=3)
    figs.save(fig, "allocator.png",
              "Allocator suite: mapbench's region allocator (shared path, and with its per-thread cache) against "
              "glibc, jemalloc, mimalloc and tcmalloc (median of repetitions).")


def cross_process(figs, cells, cross_path):
    region = sorted({k[0] for k in cells if k[2] == "procs"})
    series = []
    for m in region:
        for mode in ("threads", "procs"):
            pts = sorted((k[3], c["mops"]["median"]) for k, c in cells.items()
                         if k[0] == m and k[2] == mode and k[1] == sorted({x[1] for x in cells if x[2] == "procs"})[0])
            if pts:
                series.append((f"{m} ({mode})", pts))
    extra = None
    if cross_path:
        with open(cross_path) as f:
            extra = json.load(f)
        if extra.get("suite") != "cross_process" or not extra.get("results"):
            sys.exit(f"make_plots: {cross_path} is not a cross_process suite document")
    fig, axes = plt.subplots(1, 2 if extra else 1, figsize=(11 if extra else 6, 4), squeeze=False)
    ax = axes[0][0]
    for label, pts in series:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", linestyle="--" if "procs" in label else "-",
                label=label)
    ax.set_xlabel("workers")
    ax.set_ylabel("Mops/s (median)")
    w = sorted({x[1] for x in cells if x[2] == "procs"})
    ax.set_title(f"threads vs processes, workload {w[0] if w else '-'}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if extra:
        ax2 = axes[0][1]
        rows = extra["results"]
        names = [r["case"] for r in rows]
        stores = []
        for r in rows:
            for s in r["mops"]:
                if s not in stores:
                    stores.append(s)
        width = 0.8 / len(stores)
        for i, s in enumerate(stores):
            ax2.bar([x + i * width for x in range(len(rows))], [r["mops"].get(s, 0) for r in rows], width, label=s)
        ax2.set_xticks([x + 0.4 - width / 2 for x in range(len(rows))])
        ax2.set_xticklabels(names, fontsize=8)
        ax2.set_yscale("log")
        ax2.set_ylabel("Mops/s")
        ax2.set_title("cross-process suite")
        ax2.grid(alpha=0.3, axis="y")
        ax2.legend(fontsize=7)
    figs.save(fig, "cross_process.png",
              "Cross-process: maps that live in a shared region driven by threads (solid) and by forked processes "
              "(dashed) over one region" + ("; right: the cross-process suite against LMDB." if extra else "."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="mapbench run JSON documents")
    ap.add_argument("--alloc", help="allocator suite JSON")
    ap.add_argument("--cross", help="cross-process suite JSON")
    ap.add_argument("--out", required=True, help="folder for the PNG files and figures.json")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    docs, all_cells = load_runs(args.runs)
    cells = measured(all_cells)
    if not cells:
        sys.exit("make_plots: no measured cells in the input")
    workloads = []
    for d in docs:
        for w in d["config"]["workloads"]:
            if w["name"] not in workloads and any(k[1] == w["name"] for k in cells):
                workloads.append(w["name"])
    cores = docs[-1]["machine"]["cores"]
    figs = Figures(args.out)
    throughput_and_speedup(figs, docs, cells, workloads, cores)
    latency(figs, docs, cells, workloads)
    heatmap(figs, docs, cells, workloads)
    bytes_per_key(figs, docs, cells)
    if args.alloc:
        allocator(figs, args.alloc)
    if any(k[2] == "procs" for k in cells) or args.cross:
        cross_process(figs, cells, args.cross)
    with open(os.path.join(args.out, "figures.json"), "w") as f:
        json.dump({"figures": figs.items}, f, indent=1)
    for item in figs.items:
        print(os.path.join(args.out, item["file"]))


if __name__ == "__main__":
    main()
