#!/usr/bin/python3
"""Build the report: one self-contained HTML page and a Markdown twin.

Reads only JSON: the `mapbench run` documents, the figures made by
make_plots.py (figures.json in --figures), optional suite documents
(allocator, chain, cross-process: any JSON with "suite" and "results"), and
optionally the test record written by tools/test.sh (--checks). Writes
OUT/index.html (figures embedded as data: URIs, so the page is one file) and
OUT/report.md (figures linked from OUT/figures/).

Run with Debian's /usr/bin/python3.
"""
import argparse
import base64
import datetime
import html
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schema  # noqa: E402

BASELINE = "tbb"


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return "[" + ", ".join(fmt(x, digits) for x in v) + "]"  # a [min, max] range
    return str(v)


class Doc:
    """Collects the page as (kind, payload) blocks; renders HTML and Markdown."""

    def __init__(self):
        self.blocks = []

    def h(self, level, text):
        self.blocks.append(("h", (level, text)))

    def p(self, text):
        self.blocks.append(("p", text))

    def table(self, head, rows):
        self.blocks.append(("table", (head, rows)))

    def figure(self, path, caption):
        self.blocks.append(("figure", (path, caption)))

    def html(self, title):
        out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
               "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
               "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
               "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
               "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
               "figure{margin:1.5em 0}img{max-width:100%}figcaption{font-size:13px;color:#555}"
               ".bad{color:#b00;font-weight:bold}</style></head><body>"]
        for kind, x in self.blocks:
            if kind == "h":
                out.append(f"<h{x[0]}>{html.escape(x[1])}</h{x[0]}>")
            elif kind == "p":
                out.append(f"<p>{html.escape(x)}</p>")
            elif kind == "table":
                head, rows = x
                out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
                for r in rows:
                    cells = []
                    for c in r:
                        t = html.escape(fmt(c))
                        cells.append(f"<td class='bad'>{t}</td>" if c is False or t.startswith("INCORRECT")
                                     else f"<td>{t}</td>")
                    out.append("<tr>" + "".join(cells) + "</tr>")
                out.append("</table>")
            elif kind == "figure":
                path, caption = x
                with open(path, "rb") as f:
                    data = base64.b64encode(f.read()).decode()
                out.append(f"<figure><img alt='{html.escape(os.path.basename(path))}' "
                           f"src='data:image/png;base64,{data}'><figcaption>{html.escape(caption)}"
                           "</figcaption></figure>")
        # Lets a headless browser (plots/render_test.sh) read back whether every figure decoded.
        out.append("<script>window.addEventListener('load',function(){var i=Array.from(document.images);"
                   "var ok=i.filter(function(x){return x.complete&&x.naturalWidth>0}).length;"
                   "document.body.setAttribute('data-images',ok+'/'+i.length)})</script>")
        out.append("</body></html>")
        return "\n".join(out)

    def markdown(self, fig_prefix):
        out = []
        for kind, x in self.blocks:
            if kind == "h":
                out.append("#" * x[0] + " " + x[1] + "\n")
            elif kind == "p":
                out.append(x + "\n")
            elif kind == "table":
                head, rows = x
                out.append("| " + " | ".join(head) + " |")
                out.append("|" + "---|" * len(head))
                for r in rows:
                    out.append("| " + " | ".join(fmt(c) for c in r) + " |")
                out.append("")
            elif kind == "figure":
                path, caption = x
                out.append(f"![{caption}]({fig_prefix}{os.path.basename(path)})\n")
                out.append(f"*{caption}*\n")
        return "\n".join(out)


def latency_method(conf):
    """How the run sampled latency, in one sentence."""
    every, share = conf["latency_sample_every"], conf.get("latency_share")
    if every == 0 or share == 0:
        return "latency was not sampled."
    if share is None:  # runs before the latency phase: samples inside the measured phase
        return (f"one operation in {every} is timed for latency, inside the measured phase (two clock reads "
                "per sample lower the fastest maps' throughput).")
    return (f"latency is sampled after the measured phase, in a phase {share:g} times as long "
            f"that times one operation in {every}; the measured phase reads no clock.")


def load_runs(paths):
    docs, cells = [], {}
    for p in paths:
        with open(p) as f:
            d = json.load(f)
        problems = schema.validate(d)
        if problems:
            sys.exit(f"report: {p} is not a valid mapbench.run/1 document:\n  " + "\n  ".join(problems[:20]))
        docs.append(d)
        for c in d["results"]:
            cells[(c["map"], c["workload"], c["mode"], c["workers"])] = c
    return docs, cells


def fairness(reps):
    """Smallest min/max ratio of the workers' operation counts over the repetitions
    with more than one worker (1.0: every worker did the same work)."""
    ratios = [min(r["per_worker_ops"]) / max(r["per_worker_ops"]) for r in reps
              if len(r["per_worker_ops"]) > 1 and max(r["per_worker_ops"]) > 0]
    return round(min(ratios), 2) if ratios else None


def summary_tables(doc, docs, cells):
    workloads = []
    for d in docs:
        for w in d["config"]["workloads"]:
            if w["name"] not in [x["name"] for x in workloads]:
                workloads.append(w)
    for w in workloads:
        name = w["name"]
        ns = sorted({k[3] for k in cells if k[1] == name and k[2] == "threads" and "skipped" not in cells[k]})
        if not ns:
            continue
        doc.h(3, f"Workload {name}: {w['mix']}, keys {w['dist']}, key space {w['key_space']}, "
                 f"prefill {w['prefill']:.0%}")
        head = ["map", "mode"] + [f"{n}w Mops/s [95% CI]" for n in ns] + \
               [f"{ns[-1]}w / {BASELINE}", "p50 ns", "p99 ns", "p99.9 ns", "bytes/key", "retries", "failed ops",
                "fairness", "checks"]
        rows = []
        maps = []
        for d in docs:
            for m in d["config"]["maps"]:
                if m not in maps:
                    maps.append(m)
        for mode in ("threads", "procs"):
            for m in maps:
                mine = {k[3]: c for k, c in cells.items() if k[0] == m and k[1] == name and k[2] == mode}
                if not mine or all("skipped" in c for c in mine.values()):
                    continue
                row = [m, mode]
                for n in ns:
                    c = mine.get(n)
                    if c is None or "skipped" in c:
                        row.append("-")
                    else:
                        lo, hi = c["mops"]["ci95"]
                        row.append(f"{c['mops']['median']:.2f} [{max(0, lo):.1f}, {hi:.1f}]")
                top = mine.get(ns[-1])
                base = cells.get((BASELINE, name, "threads", ns[-1]))
                measured = [c for c in mine.values() if "skipped" not in c]
                last = top if top and "skipped" not in top else measured[-1]
                ratio = (top["mops"]["median"] / base["mops"]["median"]
                         if top and "skipped" not in top and base and "skipped" not in base
                         and base["mops"]["median"] > 0 else None)
                reps = [r for c in measured for r in c["reps"]]
                row += [ratio, last["latency_ns"]["p50"], last["latency_ns"]["p99"], last["latency_ns"]["p999"],
                        round(last["bytes_per_key"], 1) if last["bytes_per_key"] else None, sum(r["again"] for r in reps),
                        sum(r["failed_ops"] for r in reps), fairness(reps),
                        "ok" if all(c["correct"] for c in measured) else "INCORRECT"]
                rows.append(row)
        doc.table(head, rows)


def suite_table(doc, path):
    with open(path) as f:
        s = json.load(f)
    if "suite" not in s or not isinstance(s.get("results"), list):
        sys.exit(f"report: {path} is not a suite document (needs 'suite' and 'results')")
    doc.h(3, f"Suite: {s['suite']}" + (f" ({s['unit']})" if s.get("unit") else ""))
    if s.get("machine"):
        doc.p("Machine: " + ", ".join(f"{k} {v}" for k, v in s["machine"].items() if not isinstance(v, (list, dict))))
    rows_table(doc, s["results"])
    # Other lists of rows in the document (e.g. the rwlock suite's counters).
    for key, val in s.items():
        if key != "results" and isinstance(val, list) and val and all(isinstance(r, dict) for r in val):
            doc.p(f"{key}:")
            rows_table(doc, val)
    if s.get("summary"):
        doc.p("Summary: " + json.dumps(s["summary"]))


def rows_table(doc, results):
    rows, head = [], []
    for r in results:
        flat = {}
        for k, v in r.items():
            if isinstance(v, dict):
                for k2, v2 in v.items():
                    if not isinstance(v2, dict):
                        flat[f"{k2}" if k == "mops" else f"{k}.{k2}"] = v2
                    else:
                        for k3, v3 in v2.items():
                            flat[f"{k2} {k3}"] = v3
            else:
                flat[k] = v
        for k in flat:
            if k not in head:
                head.append(k)
        rows.append(flat)
    doc.table(head, [[r.get(h) for h in head] for r in rows])


def checks_section(doc, docs, cells, checks_path):
    measured = [c for c in cells.values() if "skipped" not in c]
    reps = [r for c in measured for r in c["reps"]]
    bad = [(c["map"], c["workload"], c["mode"], c["workers"], r.get("problem", "")) for c in measured
           for r in c["reps"] if not r["correct"]]
    doc.p(f"In-run checks (this run): {len(reps) - len(bad)} of {len(reps)} repetitions passed every check "
          "(every value read encodes its key; final size = prefill + inserts + created assigns - erases; "
          "verify(); every worker process exited cleanly).")
    if bad:
        doc.table(["map", "workload", "mode", "workers", "problem"], [list(b) for b in bad])
    if not checks_path or not os.path.exists(checks_path):
        doc.p("Model checks and stress tests: no test record was given to this report (run tools/test.sh; "
              "it writes results/checks.json). Nothing is claimed here about them.")
        return
    with open(checks_path) as f:
        ch = json.load(f)
    # The record may be of another commit than the runs measured here
    # (tools/run.sh attaches whatever results/checks.json holds): say so.
    measured = sorted({d["config"].get("commit") for d in docs
                       if isinstance(d.get("config"), dict) and d["config"].get("commit")})
    rec = str(ch.get("commit", ""))
    same = rec and "dirty" not in rec and all(not c.endswith("-dirty") and (c.startswith(rec) or rec.startswith(c))
                                              for c in measured)
    if measured and not same:
        doc.p(f"WARNING: the test record below is of commit {rec or '?'}, not of the commit measured here "
              f"({', '.join(measured)}): it says nothing about the code these numbers come from.")
    doc.p(f"Model checks, sanitizers and stress tests: the record of tools/test.sh run at {ch.get('date', '?')} "
          f"on commit {ch.get('commit', '?')} ({ch.get('passed', '?')} passed, {ch.get('failed', '?')} failed). "
          "Relacy model targets run every model to its configured search bound; the *_bug_* targets pass only "
          "when the model FAILS with that bug planted (proof the model can fail).")
    rows = [[t["target"], t["config"], t.get("kind", ""), t["status"], t.get("seconds")] for t in ch["tests"]]
    doc.table(["test target", "configuration", "kind", "status", "seconds"], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--figures", required=True, help="folder with figures.json (make_plots.py --out)")
    ap.add_argument("--suite", action="append", default=[], help="suite JSON (allocator, chain, cross_process)")
    ap.add_argument("--checks", help="tools/test.sh's checks.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default="mapbench report")
    args = ap.parse_args()
    docs, cells = load_runs(args.runs)
    with open(os.path.join(args.figures, "figures.json")) as f:
        figures = json.load(f)["figures"]
    os.makedirs(os.path.join(args.out, "figures"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    for item in figures:
        src = os.path.join(args.figures, item["file"])
        dst = os.path.join(args.out, "figures", item["file"])
        if os.path.abspath(src) != os.path.abspath(dst):
            shutil.copyfile(src, dst)
    for p in args.runs + args.suite + ([args.checks] if args.checks and os.path.exists(args.checks) else []):
        dst = os.path.join(args.out, "data", os.path.basename(p))
        if os.path.abspath(p) != os.path.abspath(dst):
            shutil.copyfile(p, dst)

    last = docs[-1]
    m, b, conf = last["machine"], last["build"], last["config"]
    doc = Doc()
    doc.h(1, args.title)
    doc.p(f"Generated {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} from "
          f"{len(docs)} run document(s); run started {last['created']}.")
    doc.h(2, "Machine and build")
    doc.table(["", ""], [["CPU", m["cpu_model"]], ["cores", m["cores"]], ["kernel", m["kernel"]],
                         ["memory", m.get("memory", "-")], ["compiler", b["compiler"]],
                         ["optimized build", b["optimized"]], ["flags", b.get("flags", "-")],
                         ["commit", conf.get("commit") or "-"], ["command", last["command"]]])
    dur = (f"{conf['duration_s']} s per repetition" if conf.get("duration_s") is not None
           else f"{conf.get('ops_per_worker')} operations per worker per repetition")
    doc.p(f"Method: {conf['reps']} repetitions per cell, each on a freshly built and prefilled map; {dur} after "
          f"{conf['warmup_s']} s of warm-up; workers start at one barrier; key and operation streams are generated "
          f"before timing (seed {conf['seed']}); {latency_method(conf)} Throughput is the median over repetitions "
          "with the 95% confidence interval of the mean (Student's t). Ratios compare maps measured in the same "
          "run.")
    if m["cores"] <= 2:
        doc.p(f"This machine has {m['cores']} cores: scaling beyond {m['cores']} workers is not measured here, "
              "and 2-worker figures share the cores with the driver and the system. Treat small differences "
              "as noise; the confidence intervals say how much.")
    if not last["correct"]:
        doc.p("WARNING: some repetitions failed their correctness checks; see Correctness below.")
    doc.h(2, "Results by workload")
    doc.p("Columns: throughput per worker count (median [95% CI]); the ratio to tbb at the largest thread "
          "count, measured in the same run; latency percentiles and bytes per key at the largest worker count; "
          "retries = the map's own 'again' count (speculative reads retried, busy locks); fairness = the smallest "
          "min/max ratio of per-worker operation counts; checks = the in-run correctness checks.")
    summary_tables(doc, docs, cells)
    doc.h(2, "Figures")
    for item in figures:
        doc.figure(os.path.join(args.out, "figures", item["file"]), item["caption"])
    if args.suite:
        doc.h(2, "Other suites")
        for p in args.suite:
            suite_table(doc, p)
    doc.h(2, "Correctness")
    checks_section(doc, docs, cells, args.checks)
    skipped = [c for c in cells.values() if "skipped" in c]
    if skipped:
        doc.h(2, "Cells not run")
        doc.table(["map", "workload", "mode", "workers", "why"],
                  [[c["map"], c["workload"], c["mode"], c["workers"], c["skipped"]] for c in skipped])
    with open(os.path.join(args.out, "index.html"), "w") as f:
        f.write(doc.html(args.title))
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(doc.markdown("figures/"))
    print(os.path.join(os.path.abspath(args.out), "index.html"))


if __name__ == "__main__":
    main()
