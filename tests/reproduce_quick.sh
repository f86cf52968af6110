#!/usr/bin/env bash
# The reproduction script's check (part of `make test`): the --quick
# reproduction runs every method, ablation, probe and timing run on every task
# (Flickr30K, SNLI-VE, NLVR2, PGR; one seed) and writes every table and plot,
# well formed, with each task's columns (scripts/repro/check_outputs.py). Then
# the same command again must reuse all of its runs, and after one run's
# config.json is changed and another run's completion record is removed (a
# run stopped half way), exactly those two must run again.
# Usage: tests/reproduce_quick.sh <bin dir>
set -euo pipefail
BIN=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3
SEEDS=1
quick() { "$PY" scripts/repro/main.py --quick --seeds "$SEEDS" --bin "$BIN" --out "$T/r" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

start=$(date +%s)
quick >"$T/first.log" 2>&1 || { tail -30 "$T/first.log"; fail "the --quick reproduction failed"; }
echo "quick reproduction: $(grep -c '] start' "$T/first.log") runs in $(($(date +%s) - start)) s"
"$PY" scripts/repro/check_outputs.py "$T/r" "$SEEDS" || fail "outputs not well formed"

quick >"$T/second.log" 2>&1 || { tail -30 "$T/second.log"; fail "the second invocation failed"; }
started=$(grep -c '] start' "$T/second.log" || true)
[ "$started" = 0 ] || { grep '] start' "$T/second.log"; fail "the second invocation ran $started runs again"; }
grep -q "run 1/.*done before" "$T/second.log" || fail "no progress line 'run 1/N ... done before'"

# A changed resolved config and an interrupted run: only those two run again.
changed=$(ls -d "$T"/r/runs/flickr30k/s*/df10/multidelete | head -1)
"$PY" - "$changed/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["flags"]["k-test"] = 5
json.dump(config, open(path, "w"))
PY
interrupted=$(ls -d "$T"/r/runs/flickr30k/s*/df4/retrain | tail -1)
rm "$interrupted/repro_run.json"
quick >"$T/third.log" 2>&1 || { tail -30 "$T/third.log"; fail "the third invocation failed"; }
grep '] start' "$T/third.log" | sed 's/ |.*//'
[ "$(grep -c '] start' "$T/third.log")" = 2 ] || fail "expected exactly 2 runs again"
grep -q "start (.*config.json: k-test is 5.*): ${changed#"$T"/r/runs/}" "$T/third.log" ||
    fail "the run with a changed config.json was not redone for that reason"
grep -q "start (interrupted before it finished): ${interrupted#"$T"/r/runs/}" "$T/third.log" ||
    fail "the interrupted run was not redone"
"$PY" scripts/repro/check_outputs.py "$T/r" "$SEEDS" >/dev/null || fail "outputs not well formed after resuming"

# A rebuilt mkdata (other bytes) writes its worlds again; they come out the
# same, so no run that reads them is redone.
mkdir "$T/bin"
for f in "$BIN"/*; do ln -s "$f" "$T/bin/"; done
rm "$T/bin/mkdata" && cp "$BIN/mkdata" "$T/bin/mkdata" && printf 'rebuilt' >>"$T/bin/mkdata"
quick --bin "$T/bin" >"$T/fourth.log" 2>&1 || { tail -30 "$T/fourth.log"; fail "the run with a rebuilt mkdata failed"; }
grep '] start' "$T/fourth.log" | sed 's/ |.*//'
[ "$(grep -c '] start' "$T/fourth.log")" -ge 1 ] || fail "a changed mkdata binary did not write the world again"
grep '] start' "$T/fourth.log" | grep -v '(bin/mkdata)' && fail "runs that read an unchanged world were redone"
echo "reproduce_quick: OK ($(($(date +%s) - start)) s)"
