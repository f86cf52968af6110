#!/usr/bin/env bash
# Reproduces the paper's Tables 2-5 and Figure 2 in one command:
#   scripts/reproduce_paper.sh                 # albef-tiny, every available task, 3 seeds -> results/albef-tiny/
#   scripts/reproduce_paper.sh --quick         # the smallest settings that write every table (CI)
#   scripts/reproduce_paper.sh --help          # every flag
# It installs missing Debian packages (python3-matplotlib draws the plots),
# builds the programs, then runs scripts/repro/main.py: the runs, the tables
# (from each run's metrics.json) and results/<name>/REPORT.md. Rerunning it
# reuses every finished run and runs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do
    case "$arg" in
    -h | --help) exec /usr/bin/python3 scripts/repro/main.py --help ;;
    esac
done
bash scripts/install_deps.sh
# The library and the programs the reproduction runs; quiet unless something is rebuilt or fails.
if ! build_log=$(make --no-print-directory -j"$(nproc)" albef 2>&1); then
    echo "$build_log" >&2
    echo "error: make albef failed" >&2
    exit 1
fi
grep -v "is up to date\|Nothing to be done" <<<"$build_log" || true
exec /usr/bin/python3 scripts/repro/main.py "$@"
