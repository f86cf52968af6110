"""REPORT.md and the CSV files of one reproduction: each of our tables
followed by the paper's published cells for the same methods and tasks,
then the configuration, seeds, machine and the state of every run."""
import csv
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass

import catalog
import paper


def md_table(first, columns, rows):
    lines = ["| " + " | ".join([first] + list(columns)) + " |",
             "|" + "---|" + "---:|" * len(columns)]
    for label, cells in rows:
        lines.append("| " + " | ".join([label] + list(cells)) + " |")
    return "\n".join(lines)


def _num(v, digits):
    return "—" if v is None else f"{v:.{digits}f}"


def paper_table2(tasks):
    cols = [c for t in tasks for c in t.paper_columns]
    idx = [paper.TABLE2_COLUMNS.index(c) for c in cols] + [paper.TABLE2_COLUMNS.index("Avg")]
    rows = []
    for m in catalog.METHODS:
        cells = paper.TABLE2[m.row]
        rows.append((m.row, ["N/A" if cells[i] is None else f"{cells[i][0]:.1f} / {cells[i][1]:.1f}" for i in idx]))
    return md_table("method (paper)", cols + ["Avg (paper: all five columns)"], rows)


def paper_table3(tasks):
    cols = [c for t in tasks for c in paper.TABLE3_COLUMNS if c in t.paper_columns]
    idx = [paper.TABLE3_COLUMNS.index(c) for c in cols] + [paper.TABLE3_COLUMNS.index("Avg")]
    rows = [(m.row, [_num(paper.TABLE3[m.row][i], 2) for i in idx]) for m in catalog.METHODS]
    return md_table("method (paper)", cols + ["Avg (paper: image-text columns)"], rows)


def paper_table4(tasks):
    ours = {c for t in tasks for c in t.paper_columns}
    cols = [c for c in paper.TABLE4_COLUMNS if c in ours]
    note = ""
    if not cols:
        cols = list(paper.TABLE4_COLUMNS)
        note = ("The paper's ablation covers NLVR2 and PGR only, none of the tasks run here, so no cell is shared; "
                "its table in full:\n\n")
    idx = [paper.TABLE4_COLUMNS.index(c) for c in cols]
    rows = [(row, [f"{v[i][0]:.1f} / {v[i][1]:.1f}" for i in idx]) for row, v in paper.TABLE4.items()]
    return note + md_table("variant (paper)", cols, rows)


def paper_table5():
    rows = [(row, [f"{acc:.1f}"]) for row, acc in paper.TABLE5.items()]
    return md_table("method (paper)", ["accuracy (dataset not stated)"], rows)


def write_csv(path, records):
    fields = ["table", "row", "task", "column", "metric", "mean", "std", "n", "values"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in records:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in fields})


def write_figure2_csv(path, points):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "row", "df_images", "df_pairs", "time_s_mean", "time_s_std", "n",
                    "ratio_to_retrain_mean", "ratio_to_retrain_std", "time_s_values"])
        for p in points:
            t, r = p["time"], p["ratio"]
            w.writerow([p["task"], p["row"], p["df_images"], "" if p["df_pairs"] is None else p["df_pairs"],
                        "" if t.mean is None else f"{t.mean:.6g}", "" if t.std is None else f"{t.std:.6g}", t.n,
                        "" if r.mean is None else f"{r.mean:.6g}", "" if r.std is None else f"{r.std:.6g}",
                        ";".join(f"{v:.6g}" for v in t.values)])


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
        mem = f"{mem_kb / 2 ** 20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        mem = "unknown memory"
    gpu = "none"
    if shutil.which("nvidia-smi"):
        gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip() or "none"
    return f"{cpu}, {os.cpu_count()} cores, {mem}; {platform.system()} {platform.release()}; GPU: {gpu}"


def run_times(wall):
    """Wall and CPU seconds per program over the finished runs (what a longer reproduction will spend)."""
    progs = {}
    for program, w, cpu in wall.values():
        progs.setdefault(program, []).append((w, cpu))
    total_w = sum(w for _, w, _ in wall.values())
    cpus = [c for _, _, c in wall.values() if c is not None]
    lines = [f"{len(wall)} finished runs: {total_w:.0f} s of wall time in all"
             + (f", {sum(cpus):.0f} CPU-seconds" if cpus else "") + " (times of the invocation that ran each):", ""]
    rows = []
    for program, ts in sorted(progs.items(), key=lambda kv: -sum(w for w, _ in kv[1])):
        c = [cpu for _, cpu in ts if cpu is not None]
        rows.append((f"bin/{program}", [str(len(ts)), f"{sum(w for w, _ in ts):.0f}", f"{sum(w for w, _ in ts) / len(ts):.1f}",
                                         f"{sum(c):.0f}" if c else "—"]))
    return lines + [md_table("program", ["runs", "wall (s)", "wall per run (s)", "CPU (s)"], rows), ""]


def data_setting(plan):
    """What the runs read: the synthetic worlds, and a task's real corpus where it has no world."""
    real = [f"{t.label} on its real corpus ({t.default_data})" for t in plan.tasks
            if t.world not in plan.settings.worlds and t.default_data]
    return "the synthetic worlds" + (f" ({'; '.join(real)})" if real else "")


@dataclass
class Inputs:
    """What the report is written from."""
    plan: object
    builder: object     # tables.Builder
    status: dict        # run id -> ran | reused | failed | skipped
    reasons: dict       # run id -> why it failed or was skipped
    reader: object      # metrics.Reader (its notes of missing values)
    opts: object
    argv: list
    commits: set
    wall: dict          # run id -> (program, wall s, CPU s)
    started: float


def _header(x):
    plan = x.plan
    counts = {s: sum(1 for v in x.status.values() if v == s) for s in ("ran", "reused", "failed", "skipped")}
    L = [f"# Reproduction of MultiDelete's tables ({plan.model})", "",
         f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `scripts/reproduce_paper.sh "
         f"{' '.join(x.argv)}`: {len(plan.runs)} runs ({counts['ran']} run now, {counts['reused']} reused from "
         f"earlier invocations, {counts['failed']} failed, {counts['skipped']} skipped); this invocation took "
         f"{time.time() - x.started:.0f} s.", "",
         f"Every cell is the mean ± sample standard deviation over {len(plan.seeds)} seeds "
         f"({', '.join(map(str, plan.seeds))}); a seed draws the deletion request, the original model's "
         "training and every method's randomness. \"(n=k)\" marks a cell with fewer seeds (a run failed), "
         "\"—\" a missing value, \"n/a\" a method the task's programs do not take. After each of our tables "
         f"comes the paper's for the same cells: **the paper's numbers are {paper.SETTING}**, ours are "
         f"{plan.model} on {data_setting(plan)}, so only the pattern (which methods forget, which keep Dt) is "
         "comparable, not the values.", "",
         "Tasks: " + (", ".join(t.label for t in plan.tasks) or "none available") + "."]
    L += [f"- **{name}: not available** ({why})." for name, why in plan.unavailable.items()]
    L += [f"- {task} {row}: not available ({why})." for (task, row), why in plan.cells_unavailable.items()]
    return L + [""]


def _tables(x, t2, t2c, t3, t4, t5):
    tasks = x.plan.tasks
    L = ["## " + t2.title, "",
         "Retrieval's Dt is the mean recall (R@1/5/10) of image retrieval (IR) and text retrieval (TR); the "
         "classification tasks' Dt is test accuracy (%), their Df the mean over the scored class columns "
         "(per column below).", "", md_table("method", t2.columns, t2.rows), "",
         "The paper's Table 2 (Dt / Df) for the same cells:", "", paper_table2(tasks), ""]
    if t2c.columns:
        L += ["### " + t2c.title, "", md_table("method", t2c.columns, t2c.rows), "",
              "The paper reports one Df per task (Table 2 above); it gives no per-class values.", ""]
    findings = x.builder.pattern()
    if findings:
        L += ["The paper's findings from Table 2 against our means:", "",
              md_table("finding (paper)", ["ours"], [(f, [o]) for f, o in findings]).replace("---:|", "---|"), ""]
    L += ["## " + t3.title, "", md_table("method", t3.columns, t3.rows), "",
          "The paper's MI ratios (ALBEF, appendix Table 7; PGR from Table 3) for the same cells (retrieval's MI is "
          "one pair-level number, so its TR and IR columns are equal):", "", paper_table3(tasks), ""]
    L += ["## " + t4.title, "", md_table("variant", t4.columns, t4.rows), "",
          "The paper's Table 4 (Dt / Df):", "", paper_table4(tasks), ""]
    L += ["## " + t5.title, "", md_table("model", t5.columns, t5.rows), "",
          "The paper's Table 5 (one accuracy per method, image and text classifiers together):", "",
          paper_table5(), ""]
    return L


def _figures(x, out_dir):
    """Draws Figure 2 and the Dt-vs-Df plots; their report sections."""
    import plots  # matplotlib only when drawing
    plan, n = x.plan, len(x.plan.seeds)
    setting = f"{plan.model} on {data_setting(plan)}, {n} seed(s)"
    task, points = x.builder.figure2()
    write_figure2_csv(os.path.join(out_dir, "figure2.csv"), points)
    plots.figure2(os.path.join(out_dir, "figure2.png"), task.label, points, setting)
    rows = [(p["row"], [str(p["df_images"]), "—" if p["df_pairs"] is None else str(p["df_pairs"]),
                        p["time"].format(2, n), "1" if p["row"] == "Retrain" else p["ratio"].format(3, n)])
            for p in points]
    L = ["## Figure 2: unlearning time against |Df|", "", "![Figure 2](figure2.png)", "",
         f"Task {task.label}; times of the unlearning loop alone (`time_seconds`, evaluation excluded, spec §6.5); "
         "the ratio is each method's time over Retrain's on the same seed and deletion request. Numbers: "
         "`figure2.csv`.", "", md_table("method", ["|Df| images", "|Df| pairs", "time (s)", "time / Retrain's"], rows),
         "", paper.FIGURE2, "", "## Dt against Df per task", ""]
    for t in plan.tasks:
        name = f"tradeoff_{t.name}.png"
        dt_label = "R mean, the mean of IR and TR" if len(t.dt_columns) > 1 else "test accuracy"
        plots.tradeoff(os.path.join(out_dir, name), t.label, dt_label, x.builder.tradeoff(t), setting)
        L += [f"![{t.label}]({name})", ""]
    return L


def _configuration(x):
    plan, s, opts = x.plan, x.plan.settings, x.opts
    L = ["## Configuration", "",
         f"- model: `{plan.model}`" + "".join(
             f"; {t.label} runs `{t.models[plan.model]}`" for t in plan.tasks if plan.model in t.models),
         f"- mode: {'--quick' if opts.quick else 'full'}; seeds {', '.join(map(str, plan.seeds))}",
         "- |Df| of Tables 2-5: " + ", ".join(f"{t.label} {s.size_of(t)} {t.unit}" for t in plan.tasks)
         + f"; Figure 2 ({plan.tasks[0].label}): {', '.join(map(str, s.fig2_sizes_of(plan.tasks[0])))} with "
         f"{', '.join(s.fig2_rows)}"]
    L += [f"- world {world}: `bin/mkdata {' '.join(flags) or '(defaults)'}`" for world, flags in s.worlds.items()
          if any(t.world == world for t in plan.tasks)]
    L += [f"- {t.label}: the original and Retrain start from the same seed's "
          f"{next(b.label for b in catalog.TASKS if b.name == t.init_from)} original (`--init`), as the programs do on "
          "the synthetic world (programs/run_default_init.h), the stand-in for the pretrained ALBEF the paper starts from"
          for t in plan.tasks if t.init_from]
    L.append(f"- flags of every method run: `{' '.join(s.common) or '(none: each recipe default)'}`")
    if opts.quick:
        L += [f"- --quick: {m.row} (bin/{m.program}) adds `{' '.join(m.quick)}`"
              for m in (catalog.TRAIN,) + catalog.METHODS if m.quick]
        L += [f"- --quick on {t.label}: bin/{prog} adds `{' '.join(flags)}`" for t in plan.tasks
              for prog, flags in t.quick.items()]
    L += [f"- {opts.jobs} run(s) at a time, OMP_NUM_THREADS={opts.threads} each"
          + (" (times measured while runs share the cores)" if opts.jobs > 1 else ""),
          f"- built from commit(s): {', '.join(sorted(x.commits)) or 'unknown'}",
          f"- machine: {machine()}",
          "- every run's resolved settings: `runs/<task>/s<seed>/df<k>/<method>/config.json`; its numbers: "
          "`metrics.json` (probe: `probe.json`); the command and exit: `repro_run.json`; its output: `logs/`", ""]
    return L


def _runs(x):
    L = ["## Runs", ""] + run_times(x.wall)
    for rid in (r.id for r in x.plan.runs):
        if x.status.get(rid) in ("failed", "skipped", None):
            L.append(f"- {rid}: **{x.status.get(rid) or 'not run'}** {x.reasons.get(rid, '')}")
    if x.reader.missing:
        L += ["", "Values missing from the runs' files (their cells show —):"]
        L += [f"- `{path}` {what}" for path, what in x.reader.missing]
    return L + [""]


def write(out_dir, x):
    """REPORT.md, tables*.csv, figure2.{csv,png} and tradeoff_<task>.png into out_dir."""
    tables = [x.builder.table2(), x.builder.table2_classes(), x.builder.table3(), x.builder.table4(),
              x.builder.table5()]
    write_csv(os.path.join(out_dir, "tables.csv"), [r for t in tables for r in t.records])
    for t in tables:
        write_csv(os.path.join(out_dir, f"{t.key}.csv"), t.records)
    lines = _header(x) + _tables(x, *tables) + _figures(x, out_dir)
    lines += ["## Same deletion request", ""] + x.builder.deletion_check() + [""]
    lines += _configuration(x) + _runs(x)
    with open(os.path.join(out_dir, "REPORT.md"), "w") as f:
        f.write("\n".join(lines))
