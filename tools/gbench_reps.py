"""Per-repetition figures from a Google Benchmark JSON document.

The target benchmarks run with --benchmark_repetitions=N and
--benchmark_enable_random_interleaving=true, so the repetitions of the maps
being compared alternate in time and share the machine's noise. collect()
keeps every repetition (aggregate rows are skipped: the median is computed
here, with the spread beside it); medians() and spreads() reduce each map's
list.
"""
import statistics


def collect(doc, pattern):
    """{(workload key...): {map: [million items/s, one per repetition]}}.

    pattern: a compiled regex over the benchmark name whose group "map"
    names the map and whose other named groups, in order, form the key.
    """
    rows = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or "items_per_second" not in b:
            continue
        m = pattern.match(b.get("name", ""))
        if not m:
            continue
        g = m.groupdict()
        key = tuple(int(v) if v.isdigit() else v for k, v in g.items() if k != "map")
        rows.setdefault(key, {}).setdefault(g["map"], []).append(b["items_per_second"] / 1e6)
    return rows


def medians(maps):
    return {m: statistics.median(v) for m, v in maps.items()}


def spreads(maps):
    return {m: [min(v), max(v)] for m, v in maps.items()}
