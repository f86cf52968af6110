"""Tables 2-5 and Figure 2's numbers from the finished runs: every cell is the
mean ± standard deviation over seeds of the runs' own numbers; an average
column is averaged per seed first, so its spread is the seeds' spread too.
"""
import hashlib
from dataclasses import dataclass, field

import catalog
from metrics import Stat


@dataclass
class Table:
    key: str
    title: str
    columns: list
    rows: list = field(default_factory=list)      # (row label, [cell text])
    records: list = field(default_factory=list)   # long-format CSV rows

    def add_record(self, row, task, column, metric, stat):
        self.records.append({"table": self.key, "row": row, "task": task, "column": column, "metric": metric,
                             "mean": stat.mean, "std": stat.std, "n": stat.n,
                             "values": ";".join(f"{v:.6g}" for v in stat.values)})


def run_id(task, seed, df_size, row):
    return f"{task.name}/s{seed}/df{df_size}/{row if row == 'probe' else catalog.run_key(row)}"


class Builder:
    def __init__(self, plan, reader, status):
        self.plan, self.reader, self.status = plan, reader, status
        self.seeds, self.size = plan.seeds, plan.settings.size_of
        self.n = len(plan.seeds)

    def _per_seed(self, task, row, keys, size=None, model_name=None, optional=False):
        """{seed: value} of one metric of one method's runs."""
        out = {}
        source_row = "Retrain" if model_name == "original" else row
        for seed in self.seeds:
            rid = run_id(task, seed, size or self.size(task), source_row)
            if self.status.get(rid) in ("ran", "reused"):
                out[seed] = self.reader.value(rid, source_row, keys, model_name, optional)
        return out

    def _has_itm_df(self, task):
        return any(v is not None for v in self._per_seed(task, "Retrain", catalog.ITM_DF_KEYS, optional=True).values())

    def _dt_df(self, task, row, model_name=None):
        """Per Dt column of the task: ({seed: Dt}, {seed: Df}); and {seed: Df vs unseen}."""
        df = self._per_seed(task, row, catalog.DF_KEYS, model_name=model_name)
        cols = [(self._per_seed(task, row, keys, model_name=model_name), df) for _, keys in task.dt_columns]
        return cols, self._per_seed(task, row, catalog.UNSEEN_KEYS, model_name=model_name)

    def _cell(self, dt, df):
        return f"{Stat(dt.values()).format(1, self.n)} / {Stat(df.values()).format(1, self.n)}"

    def _dt_df_table(self, key, title, rows):
        """Tables 2 and 4: "Dt / Df" per Dt column of every task, the task's Df vs unseen, and the average."""
        columns = []
        for task in self.plan.tasks:
            columns += [f"{task.label} {c}" for c, _ in task.dt_columns]
            columns.append(f"{task.label} Df vs unseen")
            if self._has_itm_df(task):
                columns.append(f"{task.label} Df (ITM)")
        columns.append("Avg")
        table = Table(key, title, columns)
        for label, row, model_name in rows:
            cells, avg_dt, avg_df = [], [], []
            for task in self.plan.tasks:
                itm = self._has_itm_df(task)
                if (task.name, row) in self.plan.cells_unavailable:
                    cells += ["n/a"] * (len(task.dt_columns) + 1 + itm)
                    continue
                cols, unseen = self._dt_df(task, row, model_name)
                for (col_label, _), (dt, df) in zip(task.dt_columns, cols):
                    cells.append(self._cell(dt, df))
                    table.add_record(label, task.name, col_label, "Dt", Stat(dt.values()))
                    table.add_record(label, task.name, col_label, "Df", Stat(df.values()))
                    avg_dt.append(dt)
                    avg_df.append(df)
                cells.append(Stat(unseen.values()).format(1, self.n))
                table.add_record(label, task.name, "", "Df_vs_unseen", Stat(unseen.values()))
                if itm:
                    itm_df = Stat(self._per_seed(task, row, catalog.ITM_DF_KEYS, model_name=model_name).values())
                    cells.append(itm_df.format(1, self.n))
                    table.add_record(label, task.name, "", "Df_itm", itm_df)
            dt_avg, df_avg = self._seed_average(avg_dt), self._seed_average(avg_df)
            cells.append(self._cell(dt_avg, df_avg))
            table.add_record(label, "all", "Avg", "Dt", Stat(dt_avg.values()))
            table.add_record(label, "all", "Avg", "Df", Stat(df_avg.values()))
            table.rows.append((label, cells))
        return table

    def _seed_average(self, columns):
        """{seed: mean over columns} for the seeds every column has a value for."""
        out = {}
        if not columns:
            return out
        for seed in self.seeds:
            vals = [c.get(seed) for c in columns]
            if all(v is not None for v in vals):
                out[seed] = sum(vals) / len(vals)
        return out

    def table2(self):
        rows = [("Original", "Retrain", "original")] + [(m.row, m.row, None) for m in catalog.METHODS]
        return self._dt_df_table("table2", "Table 2: Dt ↑ / Df ↓ per method and task (Df = 100·(1 − AUC); 50 = "
                                 "Df indistinguishable from Dr), with Df vs unseen test pairs (50 = looks unseen)",
                                 rows)

    def table2_classes(self):
        """Df per scored class column of the classification tasks (the mean of these columns is Table 2's Df;
        spec §6.2): which class's probabilities still tell Df from Dr."""
        tasks = [t for t in self.plan.tasks if t.classes]
        columns = [f"{t.label} Df ({t.classes[c]})" for t in tasks for c in self._class_columns(t)]
        table = Table("table2_classes", "Table 2, classification tasks: Df ↓ per class column of the output "
                                        "probabilities (100·(1 − AUC) of Df against the Dr subsets)", columns)
        for label, row, model_name in [("Original", "Retrain", "original")] + [(m.row, m.row, None)
                                                                              for m in catalog.METHODS]:
            cells = []
            for task in tasks:
                cols = self._class_columns(task)
                if (task.name, row) in self.plan.cells_unavailable:
                    cells += ["n/a"] * len(cols)
                    continue
                per_seed = {s: self.reader.class_df(run_id(task, s, self.size(task), row), row, model_name)
                            for s in self.seeds if self.status.get(run_id(task, s, self.size(task), row))
                            in ("ran", "reused")}
                for c in cols:
                    stat = Stat(v.get(c) for v in per_seed.values())
                    cells.append(stat.format(1, self.n))
                    table.add_record(label, task.name, task.classes[c], "Df_class", stat)
            table.rows.append((label, cells))
        return table

    def _class_columns(self, task):
        """The scored class columns of a classification task, from its first finished Retrain run (a
        two-class task scores column 1 alone, its complement being column 0)."""
        for seed in self.seeds:
            rid = run_id(task, seed, self.size(task), "Retrain")
            if self.status.get(rid) in ("ran", "reused"):
                cols = sorted(self.reader.class_df(rid, "Retrain"))
                if cols:
                    return [c for c in cols if c < len(task.classes)]
        return list(range(1 if len(task.classes) == 2 else 0, len(task.classes)))

    def table3(self):
        columns = [t.label for t in self.plan.tasks] + ["Avg"]
        table = Table("table3", "Table 3: MI ratio P_before / P_after of Df (higher = existence probability fell "
                                "more; spec §6.3)", columns)
        for m in catalog.METHODS:
            cells, per_task = [], []
            for task in self.plan.tasks:
                if (task.name, m.row) in self.plan.cells_unavailable:
                    cells.append("n/a")
                    continue
                mi = self._per_seed(task, m.row, catalog.MI_KEYS)
                per_task.append(mi)
                cells.append(Stat(mi.values()).format(3, self.n))
                table.add_record(m.row, task.name, "", "mi_ratio", Stat(mi.values()))
            avg = self._seed_average(per_task)
            cells.append(Stat(avg.values()).format(3, self.n))
            table.add_record(m.row, "all", "Avg", "mi_ratio", Stat(avg.values()))
            table.rows.append((m.row, cells))
        power = []
        for task in self.plan.tasks:
            vals = [self.reader.top(run_id(task, s, self.size(task), "Retrain"), catalog.MI_POWER_KEY) for s in self.seeds
                    if self.status.get(run_id(task, s, self.size(task), "Retrain")) in ("ran", "reused")]
            power.append(Stat(vals))
        if any(p.n for p in power):
            label = "attacker power (AUC, held-out members vs test)"
            table.rows.append((label, [p.format(3, self.n) for p in power] + [""]))
            for task, p in zip(self.plan.tasks, power):
                table.add_record(label, task.name, "", "mi_power", p)
        return table

    def table4(self):
        rows = [(m.row, m.row, None) for m in catalog.ABLATIONS]
        return self._dt_df_table("table4", "Table 4: MultiDelete without one of its losses (--no-md, --no-ukr, "
                                 "--no-mkr), Dt ↑ / Df ↓", rows)

    # (column, probe.json keys averaged): test pairs as the paper's Table 5, then Df's pairs.
    PROBE_COLUMNS = (("image", ("image_test",)), ("text", ("text_test",)), ("mean", ("mean_test",)),
                     ("Df mean", ("image_df", "text_df")))

    def table5(self):
        columns = [f"{t.label} {c}" for t in self.plan.tasks for c, _ in self.PROBE_COLUMNS]
        table = Table("table5", "Table 5: unimodal probe accuracy (%): classifiers fit on the original's image "
                                "and text features of Dr, scored on each model's features of the test pairs (and, "
                                "last, of Df's pairs)",
                      columns)
        rows = ["original"] + [m.row for m in catalog.METHODS] + [m.row for m in catalog.ABLATIONS[1:]]
        for row in rows:
            cells = []
            for task in self.plan.tasks:
                if (task.name, "probe") in self.plan.cells_unavailable:
                    cells += ["n/a"] * len(self.PROBE_COLUMNS)
                    continue
                for col, keys in self.PROBE_COLUMNS:
                    vals = []
                    for seed in self.seeds:
                        rid = run_id(task, seed, self.size(task), "probe")
                        if self.status.get(rid) in ("ran", "reused"):
                            parts = [self.reader.probe(rid, row, k) for k in keys]
                            vals.append(None if None in parts else sum(parts) / len(parts))
                    stat = Stat(vals)
                    cells.append(stat.format(1, self.n))
                    table.add_record("Original" if row == "original" else row, task.name, col, "+".join(keys), stat)
            table.rows.append(("Original" if row == "original" else row, cells))
        return table

    def figure2(self):
        """Unlearning time (s) per method and |Df| on the first task, and its ratio to Retrain's (per seed)."""
        task = self.plan.tasks[0]
        points = []
        for size in self.plan.settings.fig2_sizes_of(task):
            retrain = self._per_seed(task, "Retrain", catalog.TIME_KEYS, size)
            pairs = self._df_pairs(task, size)
            for row in self.plan.settings.fig2_rows:
                if (task.name, row) in self.plan.cells_unavailable:
                    continue
                t = self._per_seed(task, row, catalog.TIME_KEYS, size)
                ratio = {s: t[s] / retrain[s] for s in t if t[s] is not None and retrain.get(s)}
                points.append({"task": task.name, "row": row, "df_images": size, "df_pairs": pairs,
                               "time": Stat(t.values()), "ratio": Stat(ratio.values())})
        return task, points

    def _df_pairs(self, task, size):
        for seed in self.seeds:
            rid = run_id(task, seed, size, "Retrain")
            if self.status.get(rid) in ("ran", "reused"):
                path, metrics = self.reader._load(rid, "metrics.json")
                if metrics and "n_df" in metrics:
                    return int(metrics["n_df"])
        return None

    def tradeoff(self, task):
        """(row, Dt stat, Df stat) of the original and each method: Dt = the mean of the task's Dt columns
        (retrieval: R mean, the mean of IR and TR)."""
        out = []
        for label, row, model_name in [("Original", "Retrain", "original")] + [
                (m.row, m.row, None) for m in catalog.METHODS]:
            if (task.name, row) in self.plan.cells_unavailable:
                continue
            cols, _ = self._dt_df(task, row, model_name)
            dt = self._seed_average([c[0] for c in cols])
            out.append((label, Stat(dt.values()), Stat(cols[0][1].values())))
        return out

    def pattern(self):
        """The paper's findings of Table 2, each against ours: (finding, what our means show)."""
        rows = self.table2_means()
        out = []
        for task in self.plan.tasks:
            means = {r: v for r, v in rows.items() if v[task.name][0] is not None and v[task.name][1] is not None}
            if "MultiDelete" not in means or len(means) < 2:
                continue
            df = {r: v[task.name][1] for r, v in means.items()}
            dt = {r: v[task.name][0] for r, v in means.items()}
            lowest = min(df, key=df.get)
            out.append((f"{task.label}: MultiDelete has the lowest Df of all methods",
                        f"lowest Df: {lowest} ({df[lowest]:.1f}); MultiDelete {df['MultiDelete']:.1f}"
                        + self._within_spread(task, lowest, df)))
            if "Retrain" in dt:
                out.append((f"{task.label}: MultiDelete keeps Dt within about 1 point of Retrain",
                            f"MultiDelete {dt['MultiDelete']:.1f}, Retrain {dt['Retrain']:.1f}"))
            worst = min(dt, key=dt.get)
            out.append((f"{task.label}: DtD loses the most Dt", f"lowest Dt: {worst} ({dt[worst]:.1f})"))
        return out

    def _within_spread(self, task, lowest, df):
        """The rows whose mean Df is within one standard deviation over seeds of the lowest one's: a
        "lowest" that others match within its spread is no winner (empty with one seed)."""
        cols, _ = self._dt_df(task, lowest, None)
        sd = Stat(cols[0][1].values()).std
        if sd is None:
            return ""
        near = [r for r in df if r != lowest and abs(df[r] - df[lowest]) <= sd]
        names = ", ".join(near[:4]) + (f" and {len(near) - 4} more" if len(near) > 4 else "")
        return f"; within its sd ({sd:.1f}) over seeds: {names or 'none'}"

    def table2_means(self):
        """{row: {task: (mean Dt over the task's columns, mean Df)}} over seeds."""
        out = {}
        for m in catalog.METHODS:
            out[m.row] = {}
            for task in self.plan.tasks:
                if (task.name, m.row) in self.plan.cells_unavailable:
                    out[m.row][task.name] = (None, None)
                    continue
                cols, _ = self._dt_df(task, m.row)
                out[m.row][task.name] = (Stat(self._seed_average([c[0] for c in cols]).values()).mean,
                                         Stat(cols[0][1].values()).mean)
        return out

    def deletion_check(self):
        """Per task and seed: whether every run of Tables 2-5 read the same deletion list."""
        lines = []
        for task in self.plan.tasks:
            for seed in self.seeds:
                lists = {}
                for run in self.plan.runs:
                    if run.id.startswith(f"{task.name}/s{seed}/df{self.size(task)}/") and run.writes_config and \
                            self.status.get(run.id) in ("ran", "reused"):
                        text = self.reader.df_list(run.id)
                        if text is not None:
                            lists.setdefault(hashlib.sha256(text.encode()).hexdigest()[:12], []).append(run.id)
                if len(lists) == 1:
                    digest, ids = next(iter(lists.items()))
                    lines.append(f"- {task.label}, seed {seed}: all {len(ids)} runs read the same deletion list "
                                 f"({self.size(task)} {task.unit}, sha256 {digest}…)")
                elif lists:
                    lines.append(f"- {task.label}, seed {seed}: **the runs read {len(lists)} different deletion "
                                 f"lists**: " + "; ".join(f"{d}: {', '.join(i)}" for d, i in lists.items()))
        return lines
