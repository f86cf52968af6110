#!/usr/bin/python3
"""Writes tests/fixtures/auc_cases.json: score/label sets with many ties and
sklearn's roc_auc_score for each, so the C AUC is checked against sklearn."""
import json
import random

from sklearn.metrics import roc_auc_score

rng = random.Random(1234)
cases = []
for n, levels in [(10, 3), (57, 5), (200, 11), (333, 1000), (40, 1)]:
    labels = [rng.randint(0, 1) for _ in range(n)]
    labels[0], labels[1] = 0, 1
    # Few distinct levels means many ties; positives shifted up a little.
    scores = [round(rng.randint(0, levels - 1) / max(levels - 1, 1) + 0.15 * y * rng.random(), 2)
              for y in labels]
    cases.append({"scores": scores, "labels": labels, "auc": roc_auc_score(labels, scores)})
with open("tests/fixtures/auc_cases.json", "w") as f:
    json.dump(cases, f)
    f.write("\n")
