"""The paper's published numbers (Cheng & Amiri, ECCV 2024; ALBEF-base on the
real datasets, single runs), as transcribed in
../shared/spec/unlearning_methods.md §7 (Tables 2, 4, 7 and PGR's MI of
Table 3) and §6.4 (Table 5)."""

SETTING = ("ALBEF-base (PGR: GCN + BERT) fine-tuned on the real Flickr30K, SNLI-VE, NLVR2 and PGR data, "
           "|Df| = 5K images, one run per cell")

# Table 2: (Dt, Df) per column; Df = 100·(1 − AUC_code), lower = forgotten.
TABLE2_COLUMNS = ("Flickr IR", "Flickr TR", "SNLI-VE", "NLVR2", "PGR", "Avg")
TABLE2 = {
    "Retrain": ((97.8, 50.4), (93.5, 50.4), (79.4, 50.2), (80.3, 50.3), (67.5, 50.2), (83.4, 50.3)),
    "FineTune": ((96.7, 50.4), (94.1, 50.4), (79.1, 50.5), (80.3, 49.8), (67.4, 49.9), (83.5, 50.2)),
    "FineTune-F": ((97.1, 49.9), (94.6, 49.9), (79.5, 49.9), (81.2, 50.0), (67.5, 50.1), (83.8, 49.9)),
    "NegGrad": ((92.4, 50.5), (91.7, 50.5), (77.8, 48.6), (77.3, 50.6), (63.4, 49.6), (80.5, 50.0)),
    "NegGrad-F": ((93.3, 50.2), (90.6, 50.2), (79.6, 50.6), (80.8, 50.0), (63.5, 49.9), (81.5, 50.2)),
    "DtD": ((10.3, 51.4), (8.9, 51.4), (45.2, 50.1), (50.8, 49.8), (50.0, 50.2), (33.0, 50.5)),
    "DtD-F": ((22.5, 50.9), (20.7, 50.9), (48.6, 49.8), (50.9, 49.8), (53.6, 50.2), (39.2, 50.2)),
    "L-codec": ((83.5, 50.0), (78.5, 50.0), (56.7, 49.9), (55.3, 52.7), (57.8, 48.8), (66.3, 50.3)),
    "L-codec-F": ((87.4, 49.4), (50.6, 48.2), (57.4, 48.4), (56.8, 53.1), (59.1, 46.9), (62.2, 49.2)),
    "Erm-Ktp": ((57.4, 48.7), (56.2, 49.0), (53.2, 48.9), (52.9, 50.8), None, (54.9, 49.3)),
    "UL": ((95.1, 50.4), (90.3, 50.4), (75.7, 49.8), (76.3, 50.4), (64.8, 49.7), (80.4, 50.2)),
    "UL-F": ((94.4, 50.2), (94.1, 50.2), (79.1, 49.7), (76.8, 50.4), (66.1, 48.8), (82.1, 49.8)),
    "MultiDelete": ((97.1, 33.2), (94.3, 33.2), (79.8, 35.3), (80.8, 23.5), (68.5, 18.6), (84.2, 28.7)),
    "MultiDelete-F": ((96.8, 34.4), (94.1, 34.5), (79.5, 36.3), (80.4, 26.4), (67.7, 19.5), (83.7, 30.2)),
}

# MI ratio P_before / P_after (higher = more forgetting, spec §6.3): ALBEF Table 7
# (Flickr TR, Flickr IR, SNLI-VE, NLVR2) and PGR from Table 3; Avg is Table 7's
# (over the four image-text columns).
TABLE3_COLUMNS = ("Flickr TR", "Flickr IR", "SNLI-VE", "NLVR2", "PGR", "Avg")
TABLE3 = {
    "Retrain": (1.10, 1.10, 1.05, 1.07, 1.09, 1.08),
    "FineTune": (1.03, 1.03, 1.04, 1.08, None, 1.04),
    "FineTune-F": (1.06, 1.06, 1.07, 1.09, None, 1.07),
    "NegGrad": (1.11, 1.11, 1.09, 1.06, None, 1.09),
    "NegGrad-F": (1.14, 1.14, 1.10, 1.08, None, 1.11),
    "DtD": (1.41, 1.41, 1.60, 1.71, None, 1.53),
    "DtD-F": (1.40, 1.40, 1.58, 1.66, None, 1.51),
    "L-codec": (1.21, 1.21, 1.23, 1.23, 1.07, 1.22),
    "L-codec-F": (1.22, 1.22, 1.26, 1.26, 1.09, 1.24),
    "Erm-Ktp": (1.10, 1.10, 1.11, 1.21, None, 1.13),
    "UL": (0.97, 0.97, 1.04, 1.07, None, 1.01),
    "UL-F": (0.98, 0.98, 1.10, 1.04, None, 1.02),
    "MultiDelete": (1.27, 1.27, 1.30, 1.25, 1.24, 1.27),
    "MultiDelete-F": (1.25, 1.25, 1.26, 1.21, 1.20, 1.24),
}

# Table 4: MultiDelete's ablations, NLVR2 and PGR only, (Dt, Df).
TABLE4_COLUMNS = ("NLVR2", "PGR")
TABLE4 = {
    "MultiDelete": ((80.8, 23.5), (67.8, 18.6)),
    "-MD": ((80.3, 50.3), (67.5, 49.3)),
    "-UKR": ((79.2, 25.8), (66.3, 22.6)),
    "-MKR": ((77.1, 25.6), (64.8, 23.7)),
}

# Table 5: one accuracy (%) per method of the unimodal classifiers trained on
# the original's embeddings and tested on the unlearned model's; the dataset
# is not stated (spec §6.4).
TABLE5 = {
    "FineTune": 83.2, "NegGrad": 81.7, "DtD": 43.8, "L-codec": 55.2, "UL": 82.7, "MultiDelete": 83.6,
    "-UKR": 77.9,
}

FIGURE2 = ("The paper gives Figure 2 as a plot only, without numbers: MultiDelete's and Retrain's training time "
           "on each dataset as |Df| grows from 1K to 5K images; MultiDelete's time grows linearly with |Df| and "
           "stays far below Retrain's (§4.0.8).")
