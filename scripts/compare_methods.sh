#!/usr/bin/env bash
# Runs MultiDelete, Retrain and every baseline (with their -F variants where
# the paper has one) on one deletion request, then prints one comparison
# table (scripts/compare_table.py). Extra arguments go to every program, e.g.
#   scripts/compare_methods.sh --data runs/synth-longtail --df-size 60 --seed 42
#   scripts/compare_methods.sh --task snli_ve      (or nlvr2: the classification table)
# Runs go to runs/compare/<row>/ (runs/compare-<task>/ for another --task).
# Every row is run each time: a program finds a complete run of the same
# configuration (flags, data, deletion list, code) in its directory and stops
# at once, so an interrupted comparison resumes where it stopped, while a row
# asked with other arguments (another --seed) is run again instead of
# reporting the old one.
set -uo pipefail
usage() {
    cat <<'USAGE'
usage: scripts/compare_methods.sh [FLAGS]

Runs Retrain, MultiDelete(-F) and every baseline (FineTune, NegGrad, DtD,
L-codec, UL with their -F variants, Erm-Ktp) on one deletion request, then
prints one comparison table (scripts/compare_table.py).

FLAGS go unchanged to every program (bin/unlearn_multidelete --help lists
them), e.g. --data DIR --df-size 60 --seed 42 --device cuda, or --task
snli_ve|nlvr2|pgr (classification: the table shows Dt accuracy and the
class-column Df; a program that does not run the task yet is listed as such;
pgr: the shipped PGR corpus, pgr-tiny, 200 deleted rows).
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
task=flickr30k prev=
for a in "$@"; do # the task names the default run folder; the flag itself goes to every program
    [ "$prev" = --task ] && task=$a
    case "$a" in --task=*) task=${a#--task=} ;; esac
    prev=$a
done
if [ "$task" = flickr30k ]; then OUT=${OUT:-runs/compare}; else OUT=${OUT:-runs/compare-$task}; fi
mkdir -p "$OUT"
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
