"""The schema of a `mapbench run` document (mapbench.run/1), checked by hand.

validate(doc) returns a list of problems (empty when the document is valid).
The plots and the report refuse documents with problems instead of drawing
something wrong.
"""

NUMBER = (int, float)

# field -> type, for the top level, the config, a result cell and a repetition.
TOP = {"schema": str, "created": str, "command": str, "config": dict, "machine": dict, "build": dict,
       "results": list, "correct": bool}
CONFIG = {"maps": list, "workloads": list, "threads": list, "procs": list, "warmup_s": NUMBER, "reps": int,
          "pin": bool, "seed": int, "latency_sample_every": int}
WORKLOAD = {"name": str, "mix": str, "dist": str, "key_space": int, "prefill": NUMBER, "key_size": int,
            "value_size": int}
MACHINE = {"cpu_model": str, "cores": int, "kernel": str}
BUILD = {"compiler": str, "optimized": bool}
CELL = {"map": str, "workload": str, "mode": str, "workers": int}
MEASURED = {"mops": dict, "latency_ns": dict, "bytes_per_key": (int, float, type(None)), "correct": bool, "reps": list}
SUMMARY = {"median": NUMBER, "mean": NUMBER, "ci95": list, "min": NUMBER, "max": NUMBER}
LATENCY = {"samples": int, "p50": NUMBER, "p90": NUMBER, "p99": NUMBER, "p999": NUMBER, "max": NUMBER,
           "cdf": list}
REP = {"mops": NUMBER, "seconds": NUMBER, "ops": int, "per_worker_ops": list, "failed_ops": int, "again": int,
       "bad_reads": int, "final_size": int, "expected_size": int, "correct": bool}


def _fields(obj, spec, where, out):
    if not isinstance(obj, dict):
        out.append(f"{where}: not an object")
        return False
    ok = True
    for key, typ in spec.items():
        if key not in obj:
            out.append(f"{where}: missing '{key}'")
            ok = False
        elif typ is int and (isinstance(obj[key], bool) or not isinstance(obj[key], int)):
            out.append(f"{where}.{key}: not an integer")
            ok = False
        elif typ is not int and not isinstance(obj[key], typ) or (typ is NUMBER and isinstance(obj[key], bool)):
            out.append(f"{where}.{key}: wrong type {type(obj[key]).__name__}")
            ok = False
    return ok


def validate(doc):
    out = []
    if not _fields(doc, TOP, "document", out):
        return out
    if doc["schema"] != "mapbench.run/1":
        out.append(f"document.schema: '{doc['schema']}' is not mapbench.run/1")
    if _fields(doc["config"], CONFIG, "config", out):
        for i, w in enumerate(doc["config"]["workloads"]):
            _fields(w, WORKLOAD, f"config.workloads[{i}]", out)
    _fields(doc["machine"], MACHINE, "machine", out)
    _fields(doc["build"], BUILD, "build", out)
    for i, r in enumerate(doc["results"]):
        where = f"results[{i}]"
        if not _fields(r, CELL, where, out):
            continue
        if r["mode"] not in ("threads", "procs"):
            out.append(f"{where}.mode: '{r['mode']}'")
        if "skipped" in r:
            if not isinstance(r["skipped"], str):
                out.append(f"{where}.skipped: not a string")
            continue
        if not _fields(r, MEASURED, where, out):
            continue
        if _fields(r["mops"], SUMMARY, where + ".mops", out):
            lo, hi = r["mops"]["ci95"]
            if not lo <= r["mops"]["mean"] <= hi:
                out.append(f"{where}.mops: mean outside its ci95")
        if _fields(r["latency_ns"], LATENCY, where + ".latency_ns", out):
            lat = r["latency_ns"]
            if lat["samples"] and not lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]:
                out.append(f"{where}.latency_ns: percentiles not ascending")
        if not r["reps"]:
            out.append(f"{where}.reps: empty")
        for j, rep in enumerate(r["reps"]):
            if _fields(rep, REP, f"{where}.reps[{j}]", out):
                if len(rep["per_worker_ops"]) != r["workers"] and rep["correct"]:
                    out.append(f"{where}.reps[{j}]: per_worker_ops has {len(rep['per_worker_ops'])} entries "
                               f"for {r['workers']} workers")
                if rep["correct"] and rep["final_size"] != rep["expected_size"]:
                    out.append(f"{where}.reps[{j}]: marked correct with final_size != expected_size")
    return out
