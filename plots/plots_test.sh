#!/usr/bin/env bash
# The plots and the report from the small committed fixtures (testdata/: a
# real `mapbench run` of a tiny grid and a quick allocator suite): every
# figure is drawn, the schema check accepts the fixture and rejects damaged
# copies, and the report names every figure and every map.
set -u
dir=$(dirname "$0")
py=/usr/bin/python3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$py" "$dir/make_plots.py" "$dir/testdata/run_small.json" --alloc "$dir/testdata/alloc_small.json" --cross "$dir/testdata/cross_small.json" \
  --out "$tmp/figs" >"$tmp/list" || fail "make_plots exited non-zero"
for f in throughput speedup latency_percentiles latency_cdf heatmap_vs_tbb bytes_per_key allocator cross_process; do
  png="$tmp/figs/$f.png"
  if [[ ! -s $png ]]; then fail "no $f.png"; continue; fi
  [[ $(head -c 8 "$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$f.png is not a PNG"
  (($(stat -c %s "$png") > 8000)) || fail "$f.png is suspiciously small"
  grep -q "\"$f.png\"" "$tmp/figs/figures.json" || fail "$f.png missing from figures.json"
done
[[ $(wc -l <"$tmp/list") -eq 8 ]] || fail "make_plots listed $(wc -l <"$tmp/list") figures, want 8"

# The schema check: the fixture passes; each damaged copy is refused.
"$py" - "$dir" <<'PY' || fail "schema checks"
import copy, json, sys
sys.path.insert(0, sys.argv[1])
import schema
doc = json.load(open(sys.argv[1] + "/testdata/run_small.json"))
assert schema.validate(doc) == [], schema.validate(doc)
cell = next(i for i, c in enumerate(doc["results"]) if "skipped" not in c)
def broken(edit):
    d = copy.deepcopy(doc)
    edit(d)
    return schema.validate(d)
assert broken(lambda d: d.pop("machine"))
assert broken(lambda d: d.__setitem__("schema", "other/1"))
assert broken(lambda d: d["results"][cell]["mops"].pop("median"))
assert broken(lambda d: d["results"][cell]["latency_ns"].__setitem__("p50", 10**12))
assert broken(lambda d: d["results"][cell]["reps"][0].__setitem__("final_size", -1))
assert broken(lambda d: d["results"][cell]["reps"][0].__setitem__("ops", "many"))
assert broken(lambda d: d["results"][cell].__setitem__("mode", "fibers"))
print("schema: ok")
PY

# make_plots refuses a damaged document, drawing nothing.
"$py" -c "import json,sys; d=json.load(open(sys.argv[1])); d['results'][0].pop('map'); json.dump(d, open(sys.argv[2],'w'))" \
  "$dir/testdata/run_small.json" "$tmp/bad.json"
if "$py" "$dir/make_plots.py" "$tmp/bad.json" --out "$tmp/badfigs" 2>"$tmp/err"; then fail "damaged input accepted"; fi
grep -q "not a valid mapbench.run/1" "$tmp/err" || fail "no clear message for damaged input"
[[ ! -e $tmp/badfigs/throughput.png ]] || fail "figures drawn from damaged input"

"$py" "$dir/report.py" "$dir/testdata/run_small.json" --figures "$tmp/figs" \
  --suite "$dir/testdata/alloc_small.json" --suite "$dir/testdata/cross_small.json" --out "$tmp/report" >/dev/null || fail "report exited non-zero"
for m in chain rwlock robinhood tbb libcuckoo cds_michael cds_feldman std_shared_mutex absl_flat; do
  grep -q "| $m |" "$tmp/report/report.md" || fail "report.md has no row for $m"
done
for f in $(cat "$tmp/list"); do
  grep -q "figures/$(basename "$f")" "$tmp/report/report.md" || fail "report.md does not show $(basename "$f")"
  [[ -s $tmp/report/figures/$(basename "$f") ]] || fail "report folder lacks $(basename "$f")"
done
[[ $(grep -o "data:image/png;base64" "$tmp/report/index.html" | wc -l) -eq 8 ]] || fail "index.html does not embed 8 figures"
grep -q "Suite: allocator" "$tmp/report/report.md" || fail "allocator suite missing"
grep -q "Suite: cross_process" "$tmp/report/report.md" || fail "cross-process suite missing"
grep -q "repetitions passed every check" "$tmp/report/report.md" || fail "no correctness summary"

# The method says where latency was sampled: the fixture (a run from before
# the latency phase) inside the measured phase; a run with the phase after it.
grep -q "timed for latency, inside the measured phase" "$tmp/report/report.md" || fail "an old run's sampling not stated"
"$py" -c "import json,sys; d=json.load(open(sys.argv[1])); d['config']['latency_share']=0.25; json.dump(d, open(sys.argv[2],'w'))" \
  "$dir/testdata/run_small.json" "$tmp/phase.json"
"$py" "$dir/report.py" "$tmp/phase.json" --figures "$tmp/figs" --out "$tmp/report_phase" >/dev/null || fail "report of a phased run exited non-zero"
grep -q "latency is sampled after the measured phase, in a phase 0.25 times as long" "$tmp/report_phase/report.md" ||
  fail "a run's latency phase not stated"

# A test record of another commit than the run's is flagged; one of the
# same commit is not.
commit=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['config']['commit'])" "$dir/testdata/run_small.json")
for rec in other "$commit"; do
  printf '{"date": "x", "commit": "%s", "passed": 1, "failed": 0, "tests": []}' "$rec" >"$tmp/checks.json"
  "$py" "$dir/report.py" "$dir/testdata/run_small.json" --figures "$tmp/figs" --checks "$tmp/checks.json" \
    --out "$tmp/report_$rec" >/dev/null || fail "report with --checks exited non-zero"
  if [[ $rec == other ]]; then
    grep -q "WARNING: the test record below is of commit other" "$tmp/report_$rec/report.md" || fail "a record of another commit was not flagged"
  else
    grep -q "WARNING: the test record" "$tmp/report_$rec/report.md" && fail "a record of the run's own commit was flagged"
  fi
done

echo "plots_test: $fails failure(s)"
exit $((fails != 0))
