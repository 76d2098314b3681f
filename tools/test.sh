#!/usr/bin/env bash
# The test command (README): installs what is missing, then runs every Bazel
# test target in three configurations:
#   default  optimized build: unit, stress, fork tests and the Relacy models
#            (including the planted-bug targets, which pass only when their
#            model fails)
#   tsan     ThreadSanitizer, no suppressions (Relacy models excluded)
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer (models excluded)
# and ends with one line "N passed, N failed" counting test targets over all
# three runs (a configuration that fails to build counts as one failure).
# It also writes results/checks.json (every target, configuration and status,
# with the commit and date) for the report's correctness section.
# Exit status: 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
logs=$(mktemp -d)

run_config() {
  local name=$1
  shift
  local log="$logs/$name.log"
  echo "=== bazel test $* //...   [$name]"
  bazel test "$@" //... >"$log" 2>&1
  local rc=$?
  grep -E '^//[^ ]+ +.*(PASSED|FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log" | sed 's/^/  /'
  local p f
  p=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
  f=$(grep -cE '^//[^ ]+ +.*(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log")
  if ((rc != 0 && f == 0)); then
    echo "  [$name] bazel exited $rc without a failing test: build or setup error:"
    grep -E 'ERROR|error:' "$log" | head -20 | sed 's/^/    /'
    f=1
    # The record (results/checks.json) counts it too, as a target of its own.
    echo "//:build_$name FAILED (bazel exited $rc: build or setup error)" >>"$log"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
}

run_config default
run_config tsan --config=tsan
run_config asan --config=asan

mkdir -p results
python3 tools/checks_record.py --out results/checks.json "$logs"/default.log "$logs"/tsan.log "$logs"/asan.log ||
  echo "  (could not write results/checks.json)"
echo "logs: $logs"
echo "$passed passed, $failed failed"
((failed == 0))
