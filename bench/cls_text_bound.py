#!/usr/bin/python3
"""How much of a SNLI-VE or NLVR2 world's labels the sentences alone tell
(bench/README.md, "Synthetic SNLI-VE / NLVR2"): three predictors that never
see an image, fitted on the train split and scored on the test split.

  sentence  the most frequent train label of the same sentence
            (the train split's most frequent label for a sentence never seen)
  template  the same with colour, shape and number words replaced by
            placeholders, so "the red circle is large" and "the blue square is
            large" count as one template
  words     multinomial naive Bayes on the sentence's words and word pairs
            (add-one smoothing), the usual bag-of-words text classifier

    python3 bench/cls_text_bound.py --data DIR [--task snli_ve|nlvr2]

Prints one line per predictor with its test accuracy, and chance (the test
split's most frequent label share). Plain Python, no packages.
"""
import argparse
import collections
import json
import math
import os

COLOURS = {"red", "green", "blue", "yellow", "purple", "orange", "white", "black"}
SHAPES = {"circle", "square", "triangle", "diamond", "cross"}
NUMBERS = {"zero", "one", "two", "three", "four", "five"}


def load(path):
    with open(path) as f:
        return [(r["sentence"], r["label"]) for r in json.load(f)]


def template(sentence):
    out = []
    for w in sentence.split():
        out.append("C" if w in COLOURS else "S" if w in SHAPES else "N" if w in NUMBERS else w)
    return " ".join(out)


def majority_by(key, train, test):
    fallback = collections.Counter(label for _, label in train).most_common(1)[0][0]
    seen = collections.defaultdict(collections.Counter)
    for s, label in train:
        seen[key(s)][label] += 1
    # Ties go to the label that sorts first, so the bound is deterministic.
    pred = {k: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for k, c in seen.items()}
    return sum(pred.get(key(s), fallback) == label for s, label in test) / len(test)


def features(sentence):
    w = sentence.split()
    return w + [a + " " + b for a, b in zip(w, w[1:])]


def naive_bayes(train, test):
    labels = sorted({label for _, label in train})
    prior = collections.Counter(label for _, label in train)
    counts = {label: collections.Counter() for label in labels}
    for s, label in train:
        counts[label].update(features(s))
    vocab = set().union(*counts.values())
    totals = {label: sum(counts[label].values()) for label in labels}

    def score(s, label):
        lp = math.log(prior[label] / len(train))
        for f in features(s):
            lp += math.log((counts[label][f] + 1) / (totals[label] + len(vocab)))
        return lp

    return sum(max(labels, key=lambda label: score(s, label)) == y for s, y in test) / len(test)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a bin/mkdata image-text world")
    ap.add_argument("--task", default="snli_ve", choices=["snli_ve", "nlvr2"])
    a = ap.parse_args()
    prefix = "ve" if a.task == "snli_ve" else "nlvr"
    train = load(os.path.join(a.data, prefix + "_train.json"))
    test = load(os.path.join(a.data, prefix + "_test.json"))
    chance = collections.Counter(label for _, label in test).most_common(1)[0][1] / len(test)
    print(f"{a.task}: {len(train)} train / {len(test)} test sentences, text only (test accuracy):")
    print(f"  sentence  {majority_by(lambda s: s, train, test):.3f}")
    print(f"  template  {majority_by(template, train, test):.3f}")
    print(f"  words     {naive_bayes(train, test):.3f}")
    print(f"  chance    {chance:.3f}")


if __name__ == "__main__":
    main()
