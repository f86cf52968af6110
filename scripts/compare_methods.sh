#!/usr/bin/env bash
# Runs MultiDelete, Retrain and every baseline (with their -F variants where
# the paper has one) on one deletion request, then prints one comparison
# table (scripts/compare_table.py). Extra arguments go to every program, e.g.
#   scripts/compare_methods.sh --data runs/synth-longtail --df-size 60 --seed 42
#   scripts/compare_methods.sh --task snli_ve      (or nlvr2: the classification table)
# Runs go to runs/compare/<row>/ (runs/compare-<task>/ with --task other than flickr30k). Every row is run each time: a program finds
# a complete run of the same configuration (flags, data, deletion list, code)
# in its directory and stops at once, so an interrupted comparison resumes
# where it stopped, while a row asked with other arguments (another --seed)
# is run again instead of reporting the old one.
set -uo pipefail
usage() {
    cat <<'USAGE'
usage: scripts/compare_methods.sh [FLAGS]

Runs Retrain, MultiDelete(-F) and every baseline (FineTune, NegGrad, DtD,
L-codec, UL with their -F variants, Erm-Ktp) on one deletion request, then
prints one comparison table (scripts/compare_table.py).

FLAGS go unchanged to every program (bin/unlearn_multidelete --help lists
them), e.g. --data DIR --df-size 60 --seed 42 --device cuda, or
--task snli_ve|nlvr2 (classification: the table shows Dt accuracy and the
class-column Df; a program that does not run the task yet is listed as such).
Runs go to $OUT/<row>/ (OUT defaults to runs/compare, runs/compare-<task>
for another --task); a program that finds a complete run of the same
configuration there stops at once, so an interrupted comparison resumes.
USAGE
}
for a in "$@"; do
    case "$a" in
    -h | --help) usage; exit 0 ;;
    esac
done
cd "$(dirname "$0")/.."
# --task pgr: the run driver does not load PGR data yet, so bin/pgr_train trains
# the original once and compares the methods that run on the task interface in
# one process (default: delete 200 of the 3,686 training rows); other
# arguments go to it. Its log is $OUT/pgr.log.
rest=() pgr=0 task=flickr30k
while (($#)); do
    case $1 in
        --task=*) task=${1#--task=}; [ "$task" = pgr ] && pgr=1 || rest+=("$1") ;;
        --task) task=${2:-}; if [ "$task" = pgr ]; then pgr=1; shift; else rest+=("$1"); fi ;;
        *) rest+=("$1") ;;
    esac
    shift
done
set -- ${rest[@]+"${rest[@]}"}
if [ "$task" = flickr30k ]; then OUT=${OUT:-runs/compare}; else OUT=${OUT:-runs/compare-$task}; fi
mkdir -p "$OUT"
if ((pgr)); then
    [ -x bin/pgr_train ] || make -s bin/pgr_train
    bin/pgr_train --df-size 200 "$@" 2>&1 | tee "$OUT/pgr.log"
    exit "${PIPESTATUS[0]}"
fi
run() {
    local row=$1 prog=$2
    shift 2
    echo "== $row"
    rm -f "$OUT/$row.failed"
    if ! "bin/$prog" --out "$OUT/$row" "$@" >"$OUT/$row.log" 2>&1; then
        echo "   $row failed: see $OUT/$row.log" >&2
        tail -3 "$OUT/$row.log" >&2
        # the table lists the row with its error (a program that does not run the task yet says so)
        { grep -m1 '^error: ' "$OUT/$row.log" || tail -1 "$OUT/$row.log"; } >"$OUT/$row.failed"
    fi
}
ARGS=("$@")
run retrain retrain "${ARGS[@]}"
run multidelete unlearn_multidelete "${ARGS[@]}"
run multidelete-F unlearn_multidelete --fusion-only "${ARGS[@]}"
for m in finetune neggrad dtd lcodec ul; do
    run "$m" "unlearn_$m" "${ARGS[@]}"
    run "$m-F" "unlearn_$m" --fusion-only "${ARGS[@]}"
done
run ermktp unlearn_ermktp "${ARGS[@]}"
/usr/bin/python3 scripts/compare_table.py "$OUT"
