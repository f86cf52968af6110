#!/usr/bin/env bash
# The layering check of DESIGN.md "Layers": a file may include only headers
# of its own layer or of a lower one,
#   core < autograd < cuda < nn < data < models < eval < unlearn < programs,
# and the CUDA backend's headers (cuda/) are included by cuda/ itself and by
# programs/ (which start the backend) only: every library layer above
# autograd/ reaches the device through the ops and the kernel table.
# Usage: check_layers.sh [ROOT]   (default: the repository this script is in)
# Prints each offending include as FILE:LINE and exits 1 when there is one.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT"
LAYERS="core autograd cuda nn data models eval unlearn programs"
DIRS=$(for l in $LAYERS; do [ -d "$l" ] && echo "$l"; done)
checked=$(find $DIRS \( -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh' \) | wc -l)
bad=0
grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^/"]+/' $DIRS \
    --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' |
    awk -v layers="$LAYERS" '
        BEGIN { n = split(layers, L, " "); for (k = 1; k <= n; k++) rank[L[k]] = k }
        {
            file = $0; sub(/:.*/, "", file)
            rest = substr($0, length(file) + 2); line = rest; sub(/:.*/, "", line)
            inc = substr(rest, length(line) + 2); sub(/^[[:space:]]*/, "", inc)
            own = file; sub(/\/.*/, "", own)
            target = inc; sub(/^#[[:space:]]*include[[:space:]]*"/, "", target); sub(/\/.*/, "", target)
            if (!(target in rank)) next
            if (rank[target] > rank[own]) {
                printf "%s:%s: %s/ includes %s/ (a higher layer): %s\n", file, line, own, target, inc; bad = 1
            } else if (target == "cuda" && own != "cuda" && own != "programs") {
                printf "%s:%s: %s/ includes cuda/ (only cuda/ and programs/ may): %s\n", file, line, own, inc; bad = 1
            }
        }
        END { exit bad }' || bad=1
if [ "$bad" = 1 ]; then
    echo "layering check failed (DESIGN.md \"Layers\")"
    exit 1
fi
echo "layering check: $checked files, no include points up a layer"
