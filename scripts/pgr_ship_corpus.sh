#!/bin/bash
# Copies the PGR corpus (lasigeBioTM/PGR at 1c89f10, Apache-2.0) into
# data/pgr_corpus/, the default data of --task pgr, so a fresh clone needs no
# download. The three corpus TSVs and the licence are copied unchanged; the two
# NER lexicons are cut to the lines whose id occurs in a corpus row (the node
# names of spec/pgr_graph_text.md §4.1 item 4), 3.7 MB down to 0.3 MB.
#   scripts/pgr_ship_corpus.sh [SRC]   (SRC default ../shared/data/pgr)
set -euo pipefail
src=${1:-../shared/data/pgr}
dst=data/pgr_corpus
mkdir -p "$dst"
cp "$src/train.tsv" "$src/test.tsv" "$src/train_2019.tsv" "$src/LICENSE" "$dst/"
ids=$(mktemp)
trap 'rm -f "$ids"' EXIT
for f in train.tsv train_2019.tsv test.tsv; do tail -n +2 "$src/$f"; done | awk -F'\t' '{print "G" $5; print "H" $6}' |
    sort -u > "$ids"
# genes_links.tsv: name <TAB> NCBI gene id; hp_links.tsv: name <TAB> PURL ending in HP_nnnnnnn.
awk -F'\t' 'NR == FNR { keep[$1] = 1; next } ("G" $2) in keep' "$ids" "$src/genes_links.tsv" > "$dst/genes_links.tsv"
awk -F'\t' 'NR == FNR { keep[$1] = 1; next } { n = split($2, p, "/") } ("H" p[n]) in keep' "$ids" "$src/hp_links.tsv" \
    > "$dst/hp_links.tsv"
wc -l "$dst"/*.tsv
# The WordPiece vocabulary of the from-scratch text encoder (data/wordpiece_build.h):
# learned from the training sentences (2018 and 2019 releases; not test.tsv), the
# node names, and the two mention markers of data/pgr_corpus.h.
corpus=$(mktemp)
trap 'rm -f "$ids" "$corpus"' EXIT
{ echo '@ $'; for f in train.tsv train_2019.tsv; do tail -n +2 "$dst/$f" | cut -f2; done; cut -f1 "$dst/genes_links.tsv" "$dst/hp_links.tsv"; } > "$corpus"
bin/tokenize vocab build --corpus "$corpus" --size 8000 --out "$dst/vocab.txt"
wc -l "$dst/vocab.txt"
