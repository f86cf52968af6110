"""What the reproduction runs: the tasks, the methods (rows of Tables 2-3),
the MultiDelete ablations (Table 4), and the settings of the full and the
--quick reproduction.

A task joins the reproduction by appearing in TASKS, once. The programs say
which tasks they take (their --help lists the --task choices); a task no
program takes is reported as "not available" instead of failing the run.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Task:
    name: str                 # key in file names and tables
    label: str                # as the paper names it
    task_flags: tuple         # --task values meaning this task, newest first (the first one the programs list wins)
    world: str                # key in Settings.worlds of the mkdata world it reads (no entry: default_data)
    dt_columns: tuple         # ((column label, (metrics.json key candidates)), ...)
    paper_columns: tuple      # the paper's column per Dt column (keys of paper.TABLE2)
    models: dict = field(default_factory=dict)  # --model per requested model (the task's variant of it)
    unit: str = "images"      # what --df-size counts for this task
    default_data: str = None  # data folder (relative to the repository) read when its world is not in Settings.worlds
    quick: dict = field(default_factory=dict)  # bin/<program> -> its extra flags under --quick on this task
    classes: tuple = ()       # class names by output column (classification tasks; data/<task>.c)
    # The task whose original (same seed, same world) the models trained here start from (--init): the
    # programs' own default on the synthetic world (programs/run_default_init.h), the stand-in for the
    # pretrained ALBEF the paper fine-tunes SNLI-VE and NLVR2 from; from a random init the tiny classifiers
    # stay at chance (bench/README.md).
    init_from: str = None


# DtD's noise σ (spec §4.5) grows as 1/(wd·n): with PGR's weight decay 1e-4
# and the 300-row world it is 6e6, and the noised model's outputs overflow
# fp32 (NaN class probabilities; so does the real corpus's σ of about 4e5).
# The full reproduction keeps the recipe's T = 1 and reports that run's
# error; --quick, which checks the plumbing, assumes T = 2000 iterations
# (σ about 3e3) so that the run finishes.
_DTD_PGR_QUICK = ("--T", "2000")

# Retrieval reports IR and TR separately as the paper's Table 2 does; the
# classification tasks report accuracy (spec/unlearning_methods.md §6.1).
ACCURACY_KEYS = ("accuracy", "acc", "dt_accuracy")
TASKS = (
    Task("flickr30k", "Flickr30K", ("flickr30k", "retrieval"), "image-text",
         (("IR", ("ir_mean",)), ("TR", ("tr_mean",))), ("Flickr IR", "Flickr TR")),
    Task("snli_ve", "SNLI-VE", ("snli_ve", "ve"), "image-text", (("acc", ACCURACY_KEYS),), ("SNLI-VE",),
         {"albef-tiny": "albef-tiny-ve", "albef-base": "albef-base-ve"},
         classes=("contradiction", "neutral", "entailment"), init_from="flickr30k"),
    Task("nlvr2", "NLVR2", ("nlvr2", "nlvr"), "image-text", (("acc", ACCURACY_KEYS),), ("NLVR2",),
         {"albef-tiny": "albef-tiny-nlvr", "albef-base": "albef-base-nlvr"}, unit="image pairs",
         classes=("False", "True"), init_from="flickr30k"),
    Task("pgr", "PGR", ("pgr",), "graph-text", (("acc", ACCURACY_KEYS),), ("PGR",),
         {"albef-tiny": "pgr-tiny", "albef-base": "pgr-base"}, unit="rows", default_data="data/pgr_corpus",
         quick={"unlearn_dtd": _DTD_PGR_QUICK}, classes=("False", "True")),
)

DF_KEYS = ("Df_reported",)
UNSEEN_KEYS = ("df_vs_unseen",)
MI_KEYS = ("mi_ratio",)
# Shown when the runs have them: Df on the ITM match probability (the fusion
# layers' view of a pair, which -F variants can change), and the MI
# attacker's power (AUC on held-out members vs test pairs; near 0.5 the
# MI ratios say nothing).
ITM_DF_KEYS = ("itm_Df_reported",)
MI_POWER_KEY = "mi_power"
TIME_KEYS = ("time_seconds",)


@dataclass(frozen=True)
class Method:
    row: str          # row name (paper's spelling)
    program: str      # bin/<program>
    flags: tuple = ()  # extra flags of this row
    quick: tuple = ()  # extra flags under --quick (the smallest loop that still runs every step)


_LCODEC_QUICK = ("--perturbations", "4", "--batch", "16", "--hessian-batches", "1", "--guard-pairs", "16")
_UL_QUICK = ("--epochs", "2", "--mlm-head-epochs", "1")
_ERMKTP_QUICK = ("--erm-epochs", "1", "--ktp-epochs", "1", "--mask-period", "1", "--mask-epoch-min", "0")
# Table 2's rows in the paper's order; -F = --fusion-only (spec §2.3). Erm-Ktp has no -F row in the paper.
METHODS = (
    Method("Retrain", "retrain", (), ("--epochs", "1")),
    Method("FineTune", "unlearn_finetune"),
    Method("FineTune-F", "unlearn_finetune", ("--fusion-only",)),
    Method("NegGrad", "unlearn_neggrad"),
    Method("NegGrad-F", "unlearn_neggrad", ("--fusion-only",)),
    Method("DtD", "unlearn_dtd"),
    Method("DtD-F", "unlearn_dtd", ("--fusion-only",)),
    Method("L-codec", "unlearn_lcodec", (), _LCODEC_QUICK),
    Method("L-codec-F", "unlearn_lcodec", ("--fusion-only",), _LCODEC_QUICK),
    Method("Erm-Ktp", "unlearn_ermktp", (), _ERMKTP_QUICK),
    Method("UL", "unlearn_ul", (), _UL_QUICK),
    Method("UL-F", "unlearn_ul", ("--fusion-only",), _UL_QUICK),
    Method("MultiDelete", "unlearn_multidelete", (), ("--epochs", "1")),
    Method("MultiDelete-F", "unlearn_multidelete", ("--fusion-only",), ("--epochs", "1")),
)
# Table 4: MultiDelete without one of its three losses (spec §5.1). The full
# row is the MultiDelete run of Table 2 (the same resolved config).
ABLATIONS = (
    Method("MultiDelete", "unlearn_multidelete", (), ("--epochs", "1")),
    Method("-MD", "unlearn_multidelete", ("--no-md",), ("--epochs", "1")),
    Method("-UKR", "unlearn_multidelete", ("--no-ukr",), ("--epochs", "1")),
    Method("-MKR", "unlearn_multidelete", ("--no-mkr",), ("--epochs", "1")),
)
TRAIN = Method("original", "train", (), ("--epochs", "1"))


def run_key(row):
    """A row's run directory name: lower case, safe in a shell ("-MD" -> "multidelete-no-md")."""
    if row.startswith("-"):
        return "multidelete-no-" + row[1:].lower()
    return row[:-2].lower() + "-F" if row.endswith("-F") else row.lower()
PROBE_PROGRAM = "probe"

# The paper's seeds for drawing Df (spec §1.2), then more when asked for.
PAPER_SEEDS = (42, 87, 21)


def seeds_for(n):
    return list(PAPER_SEEDS[:n]) + [1000 + k for k in range(max(0, n - len(PAPER_SEEDS)))]


@dataclass(frozen=True)
class Settings:
    df_size: int             # deleted units (images; spec §1.1) of Tables 2-5
    task_df_size: dict       # task name -> its own |Df| of Tables 2-5 (PGR deletes rows)
    fig2_sizes: tuple        # |Df| of Figure 2 (with df_size among them, whose runs are Table 2's)
    fig2_rows: tuple         # Method rows timed for Figure 2 (Retrain first)
    worlds: dict             # world key -> bin/mkdata flags (None: the task's own default data)
    common: tuple            # flags every run of a model gets (original, methods, probe)
    seeds: int
    jobs: int

    def size_of(self, task):
        return self.task_df_size.get(task.name, self.df_size)

    def fig2_sizes_of(self, task):
        """Figure 2's sizes for a task with its own |Df|: the same multiples of its Table 2 size."""
        own = self.size_of(task)
        return tuple(sorted({max(1, round(s * own / self.df_size)) for s in self.fig2_sizes}))


# The default world has 800 training images: 60 deleted as the programs'
# default, Figure 2 up to 120 (at most 1/6 of the images: the Df AUC needs
# 5·|Df| retained pairs, spec §6.2). PGR runs on the shipped real corpus
# (data/pgr_corpus, 4,083 training rows) and deletes the programs' default
# 200 rows.
FULL = Settings(
    df_size=60,
    task_df_size={"pgr": 200},
    fig2_sizes=(30, 60, 90, 120),
    fig2_rows=tuple(m.row for m in METHODS),
    worlds={"image-text": ()},
    common=(),
    seeds=3,
    jobs=1,
)
# --quick: a 60-image world and one-epoch loops. |Df| from 4 images (20
# pairs: MultiDelete's Df batch is 16) to 10, the most a 60-image world allows
# (the Df AUC needs 5·|Df| retained pairs, spec §6.2); Tables 2-5 at 8 (NegGrad
# needs one batch of 32 pairs). Figure 2 times Retrain and MultiDelete only.
# NLVR2 deletes 32 image pairs (about 34 items: one NegGrad batch) from 300
# items (--nlvr-pairs-percent 250: 5·|Df| items remain for the AUC up to the
# 40 pairs of Figure 2 when NLVR2 is the first task).
# PGR: a 300-row synthetic graph-text world (mkdata) instead of the real
# corpus, 32 rows deleted (one NegGrad batch; 5·32 retained rows for the AUC).
# One seed (a cell is then one value, no ± std): CI checks the plumbing.
QUICK = Settings(
    df_size=8,
    task_df_size={"nlvr2": 32, "pgr": 32},
    fig2_sizes=(4, 6, 8, 10),
    fig2_rows=("Retrain", "MultiDelete"),
    worlds={"image-text": ("--train-images", "60", "--val-images", "12", "--test-images", "12",
                           "--nlvr-pairs-percent", "250"),
            "graph-text": ("--kind", "graph-text", "--genes", "80", "--phenotypes", "24", "--modules", "4",
                           "--train-rows", "300", "--test-rows", "40")},
    common=("--k-test", "4"),
    seeds=1,
    jobs=2,
)
