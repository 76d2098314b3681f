#!/usr/bin/env python3
"""Turn tools/test.sh's bazel logs into results/checks.json for the report.

Each log is named after its configuration (default.log, tsan.log, asan.log);
every "//target  PASSED|FAILED ... in Ns" line becomes one entry, with the
kind of check read from the target name (model, planted bug, stress, ...).
"""
import argparse
import datetime
import json
import os
import re
import subprocess

LINE = re.compile(r"^(//\S+)\s+(?:\(cached\) )?(PASSED|FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)"
                  r"(?:.* in ([\d.]+)s)?")


def kind(target):
    name = target.split(":")[-1]
    if "_model_bug_" in name:
        return "Relacy model, planted bug (passes only if the model fails)"
    if name.endswith("_model"):
        return "Relacy model"
    if "stress" in name:
        return "stress"
    if "fork" in name or "crash" in name:
        return "multi-process"
    if target.startswith("//plots"):
        return "plots/report"
    if name == "sync_test":
        return "sanitizer canary"
    return "unit"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("logs", nargs="+")
    args = ap.parse_args()
    tests = []
    for path in args.logs:
        if not os.path.exists(path):
            continue
        config = os.path.splitext(os.path.basename(path))[0]
        with open(path, errors="replace") as f:
            for line in f:
                m = LINE.match(line)
                if m:
                    tests.append({"target": m.group(1), "config": config, "kind": kind(m.group(1)),
                                  "status": m.group(2), "seconds": float(m.group(3)) if m.group(3) else None})
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "commit": commit or "unknown",
           "passed": sum(t["status"] == "PASSED" for t in tests),
           "failed": sum(t["status"] != "PASSED" for t in tests), "tests": tests}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
