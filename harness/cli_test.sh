#!/usr/bin/env bash
# The mapbench CLI: help, list, and a clear message with exit status 2 for
# every bad command line.
set -u
bin=${1:?usage: cli_test.sh path/to/mapbench}
fails=0

expect() {  # expect STATUS PATTERN -- ARGS...
  local want=$1 pattern=$2
  shift 3
  local out status
  out=$("$bin" "$@" 2>&1)
  status=$?
  if [[ $status -ne $want ]] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL: mapbench $* -> status $status (want $want), output:"
    echo "$out" | head -5
    fails=$((fails + 1))
  fi
}

expect 0 "usage:" -- --help
expect 2 "usage:" --
expect 0 "cds_michael" -- list
expect 0 "YCSB A" -- list
expect 2 "unknown command 'frobnicate'" -- frobnicate
expect 2 "unknown map 'nosuchmap'" -- run --maps=chain,nosuchmap
expect 2 "map 'tbb' given twice" -- run --maps=tbb,tbb
expect 2 "unknown workload 'Q'" -- run --workloads=Q
expect 2 "sum to 95" -- run --mix=find=90,insert=5
expect 2 "unknown op 'jump'" -- run --mix=find=90,jump=10
expect 2 "unknown distribution" -- run --dist=normal
expect 2 "theta" -- run --dist=zipfian:2
expect 2 "--threads=0: expected an integer" -- run --threads=0
expect 2 "--threads=x: expected an integer" -- run --threads=1,x
expect 2 "--prefill=1.5: expected a number" -- run --prefill=1.5
expect 2 "--keys=5: expected an integer" -- run --keys=5
expect 2 "--duration and --ops exclude" -- run --duration=1 --ops=5
expect 2 "--reps needs a value" -- run --reps
expect 2 "--seed=9007199254740992: expected an integer" -- run --seed=9007199254740992
expect 2 "--key-size=4: expected an integer in \[8, 255\]" -- run --key-size=4
expect 2 "--value-size=70000" -- run --value-size=70000
expect 2 "unknown option '--fast'" -- run --fast
expect 2 "cannot write" -- run --out=/nonexistent/dir/x.json

# A tiny real run writes a document and exits 0.
tmp=${TEST_TMPDIR:-/tmp}/cli_test.json
expect 0 "wrote" -- run --maps=chain,tbb --workloads=mix50 --keys=1000 --ops=500 --warmup=0 --reps=1 --threads=1 --out="$tmp"
grep -q '"schema": "mapbench.run/1"' "$tmp" || { echo "FAIL: no schema in $tmp"; fails=$((fails + 1)); }

echo "cli_test: $fails failure(s)"
exit $((fails != 0))
