#!/usr/bin/env bash
# Bounded fuzzing of every Fuzz target in the module.
#
# Go 1.26's fuzz coordinator can fail a duration-bound run with a bare
# "context deadline exceeded" at the end of -fuzztime although nothing
# failed (go.dev/issue/75804, fixed in Go 1.27). Such a run writes no
# reproducer. So: a target that fails and writes a reproducer to
# testdata/fuzz (or says "Failing input written to") fails the run at once;
# a target that fails with a deadline error and no reproducer is run once
# more, and fails the run only if it fails again.
#
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 10s; "Nx" bounds by executions)
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
fuzztime=${1:-${FUZZTIME:-10s}}
failed=0 runs=0 retried=0

# reproducers present now; a new one after a run is a real finding
snapshot() { find . -path '*/testdata/fuzz/*' -type f 2>/dev/null | sort; }

run_target() { # pkg fn -> 0 ok, 1 real failure, 2 deadline flake
  local pkg=$1 fn=$2 before after out status
  before=$(snapshot)
  out=$(mktemp)
  "$GO" test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" -fuzzminimizetime 3s "$pkg" >"$out" 2>&1
  status=$?
  after=$(snapshot)
  if [ $status -eq 0 ]; then tail -1 "$out"; rm -f "$out"; return 0; fi
  cat "$out"
  if [ "$before" != "$after" ] || grep -q 'Failing input written to' "$out"; then
    rm -f "$out"; return 1
  fi
  if grep -q 'context deadline exceeded' "$out"; then rm -f "$out"; return 2; fi
  rm -f "$out"; return 1
}

for f in $(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do
  f=${f#./}; pkg=./$(dirname "$f")
  for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    runs=$((runs + 1))
    echo "fuzz $pkg $fn ($fuzztime)"
    run_target "$pkg" "$fn"; rc=$?
    if [ $rc -eq 2 ]; then
      retried=$((retried + 1))
      echo "fuzz $pkg $fn: deadline error without a reproducer (go.dev/issue/75804); running it once more"
      run_target "$pkg" "$fn"; rc=$?
    fi
    if [ $rc -ne 0 ]; then
      echo "FAIL fuzz $pkg $fn"
      failed=$((failed + 1))
    fi
  done
done
echo "fuzz: $runs targets, $retried retried after a coordinator deadline error"
echo "$((runs - failed)) passed, $failed failed"
[ $failed -eq 0 ]
