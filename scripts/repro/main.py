"""scripts/reproduce_paper.sh's work: plan the runs, run the missing ones,
write the tables, plots and REPORT.md. Run through the shell script, which
builds the programs first."""
import argparse
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import catalog  # noqa: E402
import plan as planner  # noqa: E402
import report  # noqa: E402
import runner  # noqa: E402
import tables  # noqa: E402
from metrics import Reader  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


class Paths:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.work_dir = os.path.join(out_dir, "work")  # the programs' working directory (their caches)

    def run_dir(self, run_id):
        return os.path.join(self.out_dir, "runs", run_id)

    def log_path(self, run_id):
        return os.path.join(self.out_dir, "logs", run_id + ".log")


def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def parse(argv):
    p = argparse.ArgumentParser(
        prog="scripts/reproduce_paper.sh",
        description="Reproduces the paper's Tables 2-5 and Figure 2: runs Retrain, MultiDelete and every baseline "
                    "(with the -F variants) on the same deletion request per task and seed, MultiDelete's "
                    "ablations, the unimodal probe and the timing runs, then writes results/<name>/REPORT.md "
                    "(each table beside the paper's), the tables as CSV and the plots as PNG. Finished runs are "
                    "reused (keyed by their resolved config), so an interrupted or extended reproduction picks "
                    "up where it stopped.",
        epilog="Time: the default (355 runs: Flickr30K 183 of them, two thirds Figure 2's; SNLI-VE, NLVR2 and "
               "PGR 57 each on the real PGR corpus) measured 4.2 CPU-hours on a 2-core VM (Erm-Ktp 26%, Retrain "
               "20%, the originals 12%): about 2 hours 5 minutes on a quiet 2-core machine with --jobs 2. "
               "Smaller: --tasks snli_ve,nlvr2,pgr (about 2.2 CPU-hours), --seeds 1 (a third), --fig2-methods "
               "Retrain,MultiDelete,MultiDelete-F (Figure 2's runs from 1.4 to 0.5 CPU-hours). --quick: 82 runs, "
               "about a minute.",
    )
    p.add_argument("--model", default="albef-tiny", help="model config: albef-tiny (default), albef-base or a JSON path; PGR runs its own pgr-tiny/pgr-base")
    p.add_argument("--tasks", default=",".join(t.name for t in catalog.TASKS),
                   help="comma-separated tasks (default: all, %(default)s); one the programs do not take is reported as "
                        "not available")
    p.add_argument("--seeds", type=int, default=None,
                   help=f"seeds per cell (mean ± std); the paper's {', '.join(map(str, catalog.PAPER_SEEDS))} first "
                        f"(default {catalog.FULL.seeds}, --quick {catalog.QUICK.seeds})")
    p.add_argument("--quick", action="store_true",
                   help="the smallest settings that still produce every table and plot for every task (one seed, "
                        "a 60-image world, a 300-row PGR world, one-epoch loops; for CI: about a minute on 2 cores)")
    p.add_argument("--df-size", type=int, default=None,
                   help=f"deleted units of Tables 2-5, every task (default {catalog.FULL.df_size} images, PGR "
                        f"{catalog.FULL.task_df_size['pgr']} rows; --quick {catalog.QUICK.df_size} images, PGR "
                        f"{catalog.QUICK.task_df_size['pgr']} rows)")
    p.add_argument("--fig2-sizes", type=int_list, default=None,
                   help=f"|Df| values of Figure 2, at least four (default "
                        f"{','.join(map(str, catalog.FULL.fig2_sizes))}, --quick "
                        f"{','.join(map(str, catalog.QUICK.fig2_sizes))})")
    p.add_argument("--fig2-methods", default=None,
                   help="comma-separated rows timed for Figure 2 (default: every method; --quick Retrain,MultiDelete)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where every program runs (default: cpu); cuda uses the programs' default precision")
    p.add_argument("--jobs", type=int, default=None,
                   help=f"runs at a time (default {catalog.FULL.jobs}, --quick {catalog.QUICK.jobs})")
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of each run (default: cores / jobs)")
    p.add_argument("--out", default=None, help="results directory (default results/<model>[-cuda][-quick])")
    p.add_argument("--bin", default=os.path.join(ROOT, "bin"), help="the programs' directory (default: bin)")
    p.add_argument("--redo", action="store_true", help="run everything again instead of reusing finished runs")
    p.add_argument("--report-only", action="store_true", help="write the report from the finished runs, run nothing")
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether each would run, run nothing")
    opts = p.parse_args(argv)
    base = catalog.QUICK if opts.quick else catalog.FULL
    fig2_rows = base.fig2_rows if opts.fig2_methods is None else tuple(
        r.strip() for r in opts.fig2_methods.split(",") if r.strip())
    known = {m.row for m in catalog.METHODS}
    for r in fig2_rows:
        if r not in known:
            p.error(f"--fig2-methods: unknown method {r!r} (one of {', '.join(sorted(known))})")
    if "Retrain" not in fig2_rows:
        fig2_rows = ("Retrain",) + fig2_rows
    df_size = opts.df_size or base.df_size
    sizes = opts.fig2_sizes or list(base.fig2_sizes)
    if opts.df_size and not opts.fig2_sizes:
        sizes = [max(1, df_size // 2), df_size, df_size * 3 // 2, df_size * 2]
    if len(set(sizes)) < 4 or min(sizes) < 1:
        p.error("--fig2-sizes: at least four different positive sizes")
    sizes = sorted(set(sizes) | {df_size}) if df_size not in sizes else sorted(set(sizes))
    opts.seeds = opts.seeds or base.seeds
    if opts.seeds < 1:
        p.error("--seeds: at least 1")
    opts.jobs = opts.jobs or base.jobs
    opts.threads = opts.threads or max(1, (os.cpu_count() or 1) // opts.jobs)
    opts.tasks = [t.strip() for t in opts.tasks.split(",") if t.strip()]
    names = {t.name for t in catalog.TASKS}
    for t in opts.tasks:
        if t not in names:
            p.error(f"--tasks: unknown task {t!r} (one of {', '.join(sorted(names))})")
    name = os.path.basename(opts.model).removesuffix(".json") + ("-cuda" if opts.device == "cuda" else "") + (
        "-quick" if opts.quick else "")
    opts.out = os.path.abspath(opts.out or os.path.join(ROOT, "results", name))
    common = base.common + (("--device", "cuda") if opts.device == "cuda" else ())
    settings = catalog.Settings(df_size=df_size, task_df_size={} if opts.df_size else base.task_df_size,
                                fig2_sizes=tuple(sizes), fig2_rows=fig2_rows, worlds=base.worlds,
                                common=common, seeds=opts.seeds, jobs=opts.jobs)
    return opts, settings


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the runner stops its runs before exiting


def main(argv):
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.time()
    opts, settings = parse(argv)
    bin_dir = os.path.abspath(opts.bin)
    paths = Paths(opts.out)
    os.makedirs(paths.work_dir, exist_ok=True)
    the_plan = planner.build(opts, settings, catalog.seeds_for(opts.seeds), bin_dir, paths, ROOT)
    for name, why in the_plan.unavailable.items():
        print(f"task {name}: not available ({why})", flush=True)
    if not the_plan.tasks:
        print("error: none of the tasks is available; nothing to reproduce", file=sys.stderr)
        return 1
    print(f"{len(the_plan.runs)} runs: tasks {', '.join(t.name for t in the_plan.tasks)}, seeds "
          f"{', '.join(map(str, the_plan.seeds))}, |Df| " + ", ".join(
              f"{t.name} {settings.size_of(t)} {t.unit}" for t in the_plan.tasks) + f"; Figure 2 on "
          f"{the_plan.tasks[0].name} at {', '.join(map(str, settings.fig2_sizes_of(the_plan.tasks[0])))}; "
          f"results in {opts.out}", flush=True)
    if opts.dry_run:
        will = runner.predict(the_plan.runs, paths.run_dir, opts.redo)
        for k, run in enumerate(the_plan.runs, 1):
            print(f"[run {k}/{len(the_plan.runs)}] {run.id} (bin/{run.program}): {will.get(run.id, 'done before')}")
        return 0
    r = runner.Runner(the_plan, paths, bin_dir, ROOT, opts.jobs, opts.threads, redo=opts.redo)
    if opts.report_only:
        r.by_id = {x.id: x for x in the_plan.runs}
        for run in the_plan.runs:
            ok = {d for d in run.soft_deps if runner.why_not_done(r.by_id[d], paths.run_dir(d)) is None}
            if run.finalize:
                run.finalize(run, ok)
            r.status[run.id] = "reused" if runner.why_not_done(run, paths.run_dir(run.id)) is None else None
    else:
        try:
            r.run_all()
        except KeyboardInterrupt:
            done = sum(1 for v in r.status.values() if v in ("ran", "reused"))
            print(f"\ninterrupted: {done} of {len(the_plan.runs)} runs finished; the same command picks up from there",
                  file=sys.stderr)
            return 130
    commits, wall = set(), {}
    for run in the_plan.runs:
        rec = os.path.join(paths.run_dir(run.id), runner.RECORD)
        if r.status.get(run.id) in ("ran", "reused") and os.path.isfile(rec):
            with open(rec) as f:
                data = json.load(f)
            commits.add(data.get("commit", "unknown"))
            wall[run.id] = (run.program, float(data.get("wall_seconds", 0)), data.get("cpu_seconds"))
    reader = Reader(paths.run_dir)
    builder = tables.Builder(the_plan, reader, r.status)
    report.write(opts.out, report.Inputs(the_plan, builder, r.status, r.reasons, reader, opts, argv, commits, wall,
                                         started))
    for path, what in reader.missing:
        print(f"warning: {path} {what}", file=sys.stderr)
    failed = [rid for rid, s in r.status.items() if s in ("failed", "skipped")]
    print(f"wrote {os.path.join(opts.out, 'REPORT.md')} ({len(failed)} of {len(the_plan.runs)} runs did not finish)"
          if failed else f"wrote {os.path.join(opts.out, 'REPORT.md')}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
