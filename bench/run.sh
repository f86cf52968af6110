#!/usr/bin/env bash
# `make bench`: runs every bench/*.bench.sh in name order. Each prints its own
# side-by-side table (this project against PyTorch on the same cores).
set -euo pipefail
cd "$(dirname "$0")/.."
for script in bench/*.bench.sh; do
    [ -e "$script" ] || continue
    echo "== $script"
    bash "$script"
done
