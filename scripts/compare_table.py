#!/usr/bin/python3
"""One comparison table from the metrics.json of several runs (one row per
model; the original model once), with each method's time against Retrain's.
Usage: compare_table.py RUN_DIR_PARENT"""
import json
import math
import os
import sys


def fmt(value, digits=2):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def classification_table(names, rows, retrain):
    print("| model | Dt accuracy | Df | Df range | Df vs unseen | Dr vs unseen | MI ratio | time (s) | "
          "Retrain time / time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in names:
        r = rows[n]
        t = r.get("time_seconds")
        t = None if t is None or t < 0 else t
        speedup = retrain / t if retrain and t else None
        lo, hi = r.get("Df_min"), r.get("Df_max")
        span = f"{fmt(lo, 1)}-{fmt(hi, 1)}" if lo is not None and hi is not None else "n/a"
        print(f"| {n} | {fmt(r.get('accuracy'))} | {fmt(r.get('Df_reported'))} | {span} | "
              f"{fmt(r.get('df_vs_unseen'))} | {fmt(r.get('dr_vs_unseen'))} | {fmt(r.get('mi_ratio'), 3)} | "
              f"{fmt(t, 1)} | {fmt(speedup, 1)} |")


def retrieval_table(names, rows, retrain):
    print("| model | TR mean | IR mean | R mean | Df | Df vs unseen | Df (ITM) | Df vs unseen (ITM) | MI ratio | "
          "MI ratio (2nd attacker) | time (s) | Retrain time / time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in names:
        r = rows[n]
        t = r.get("time_seconds")
        t = None if t is None or t < 0 else t
        speedup = retrain / t if retrain and t else None
        print(f"| {n} | {fmt(r.get('tr_mean'))} | {fmt(r.get('ir_mean'))} | {fmt(r.get('r_mean'))} | "
              f"{fmt(r.get('Df_reported'))} | {fmt(r.get('df_vs_unseen'))} | {fmt(r.get('itm_Df_reported'))} | "
              f"{fmt(r.get('itm_df_vs_unseen'))} | {fmt(r.get('mi_ratio'), 3)} | {fmt(r.get('mi2_ratio'), 3)} | "
              f"{fmt(t, 1)} | {fmt(speedup, 1)} |")


def main(parent):
    rows = {}
    powers = None
    classification = None
    failed = {}
    for name in sorted(os.listdir(parent)):
        if name.endswith(".failed"):
            with open(os.path.join(parent, name)) as f:
                failed[name[:-len(".failed")]] = f.read().strip()
            continue
        path = os.path.join(parent, name, "metrics.json")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            metrics = json.load(f)
        if classification is None:
            classification = metrics.get("task_kind") == "classification"
        if powers is None and metrics.get("mi_power") is not None:
            powers = (metrics.get("mi_power"), metrics.get("mi2_power"))
        for model, r in metrics["models"].items():
            if model == "original" and "original" in rows:
                continue
            rows[model] = r
    retrain = rows.get("retrain", {}).get("time_seconds")
    order = ["original", "retrain", "multidelete", "multidelete-F"]
    names = [n for n in order if n in rows] + sorted(n for n in rows if n not in order)
    if classification:
        classification_table(names, rows, retrain)
    else:
        retrieval_table(names, rows, retrain)
    for row, why in sorted(failed.items()):
        if row not in rows:
            print(f"| {row} | did not run: {why} |")
    if powers:
        if classification:
            print(f"\nMI attacker's power on the original (AUC, held-out members vs non-members): {fmt(powers[0], 3)}")
        else:
            print(f"\nMI attackers' power on the original (AUC, held-out members vs non-members): the paper's "
                  f"{fmt(powers[0], 3)}, the second {fmt(powers[1], 3)}")
    if classification:
        print("Dt accuracy in %; Df = 100·(1 − the mean AUC of Df vs 5 Dr subsets, one per class column of the "
              "softmax (column 1 for 2 classes)), Df range the per-AUC values; 50 = indistinguishable.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/compare")
