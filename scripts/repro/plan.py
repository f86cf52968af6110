"""The runs of one reproduction: for every available task and seed, the
original model, every method of Table 2 and ablation of Table 4 on one
deletion request, the unimodal probe of Table 5, and Figure 2's runs at the
larger |Df|. Each run is a program, its flags and the runs it waits for.
"""
import os
import subprocess
import tempfile
from dataclasses import dataclass, field

import catalog


@dataclass
class Run:
    id: str                   # path under <out>/runs/, also its name in progress lines
    program: str              # bin/<program>
    flags: list               # [(name, value)], value a str or a bool (--name / --no-name)
    deps: list = field(default_factory=list)    # ids of the runs it needs
    inputs: list = field(default_factory=list)  # files and folders its result depends on (fingerprinted)
    outputs: tuple = ()       # files a finished run has written
    writes_config: bool = True  # the program writes config.json (mkdata does not)
    soft_deps: list = field(default_factory=list)  # runs it uses when they succeeded (the probe's checkpoints)
    finalize: object = None   # finalize(run, succeeded ids) sets flags and inputs from the soft deps that succeeded

    def argv(self, bin_dir, out_dir):
        args = [os.path.join(bin_dir, self.program)]
        for name, value in self.flags:
            if value is True:
                args.append(f"--{name}")
            elif value is False:
                args.append(f"--no-{name}")
            else:
                args += [f"--{name}", str(value)]
        if self.writes_config:
            args += ["--out", out_dir]
        return args


def parse_flags(tokens):
    """("--epochs", "1", "--fusion-only", "--no-md") -> [("epochs", "1"), ("fusion-only", True), ("md", False)]."""
    out, k = [], 0
    while k < len(tokens):
        tok = tokens[k]
        assert tok.startswith("--"), f"flag expected, got {tok!r}"
        name = tok[2:]
        if k + 1 < len(tokens) and not tokens[k + 1].startswith("--"):
            out.append((name, tokens[k + 1]))
            k += 2
        elif name.startswith("no-"):
            out.append((name[3:], False))
            k += 1
        else:
            out.append((name, True))
            k += 1
    return out


_MISSING_DATA = "/nonexistent-reproduce-paper-check"
_takes = {}


def takes_task(bin_dir, program, task_name, model):
    """(True, "") when bin/<program> gets past its --task and --model checks to reading the data
    (pointed at a folder that does not exist, so it stops there); else (False, its error)."""
    key = (program, task_name, model)
    if key not in _takes:
        with tempfile.TemporaryDirectory() as tmp:
            argv = [os.path.join(bin_dir, program), "--task", task_name, "--model", model, "--data", _MISSING_DATA,
                    "--out", os.path.join(tmp, "check")]
            try:
                out = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp)
                text = out.stdout + out.stderr
            except (OSError, subprocess.TimeoutExpired) as e:
                text = f"{argv[0]}: {e}"
        errors = [line for line in text.splitlines() if line.startswith("error:")]
        _takes[key] = (True, "") if _MISSING_DATA in text else (
            False, f"bin/{program}: " + (errors[-1][len("error: "):] if errors else text.strip()[-200:]))
    return _takes[key]


def task_flag(bin_dir, program, task, model):
    """The --task value that selects `task` in bin/<program> (the first of the task's names it takes),
    or (None, why)."""
    first_why = None
    for name in task.task_flags:
        ok, why = takes_task(bin_dir, program, name, model)
        if ok:
            return name, ""
        first_why = first_why or why
    return None, first_why


@dataclass
class Plan:
    runs: list
    tasks: list               # available Task objects
    unavailable: dict         # task name -> reason
    cells_unavailable: dict   # (task name, row) -> reason (a program that does not take the task)
    seeds: list
    settings: object
    model: str


def probe_run(task, seed, df_size, table_runs, paths, flags, deps, inputs):
    """Table 5's probe of every checkpoint of one deletion request; a method
    run that failed is left out of it rather than failing the probe."""
    rid = f"{task.name}/s{seed}/df{df_size}/probe"
    ckpt = {row: os.path.join(paths.run_dir(r.id), "model.safetensors") for row, r in table_runs.items()}

    def finalize(run, succeeded):
        rows = [row for row, r in table_runs.items() if r.id in succeeded]
        run.flags = flags + [("checkpoints", ",".join(ckpt[r] for r in rows)), ("names", ",".join(rows))]
        run.inputs = inputs + [ckpt[r] for r in rows]
        return bool(rows)

    run = Run(rid, catalog.PROBE_PROGRAM, list(flags), deps=list(deps), inputs=list(inputs), outputs=("probe.json",),
              soft_deps=[r.id for r in table_runs.values()], finalize=finalize)
    return run


def model_for(task, model):
    return task.models.get(model, model)


@dataclass
class _Request:
    """What every run of one task and seed shares."""
    task: object
    seed: int
    model: str
    data_flags: list   # [("data", dir)] or [] (the task's default data)
    data_deps: list
    data_inputs: list
    orig_id: str
    original: str      # the original model's checkpoint


def _world_run(task, settings, paths, bin_dir, runs, made, root):
    """The mkdata run of the task's synthetic world (once per world); (flags, deps, inputs) of its users.
    The mkdata binary is one of its inputs: a new build writes the world again, and the runs that read it
    run again only when its files changed. A task whose world the settings do not make reads its
    default_data folder of the repository (or the programs' default)."""
    world_flags = settings.worlds.get(task.world)
    if world_flags is None:
        if task.default_data is None:
            return [], [], []
        data_dir = os.path.join(root, task.default_data)
        return [("data", data_dir)], [], [data_dir]
    world_id = f"data/{task.world}"
    data_dir = paths.run_dir(world_id)
    if world_id not in made:
        made.add(world_id)
        runs.append(Run(world_id, "mkdata", [("out", data_dir)] + parse_flags(world_flags),
                        inputs=[os.path.join(bin_dir, "mkdata")], writes_config=False))
    return [("data", data_dir)], [world_id], [data_dir]


def _device(settings):
    """The --device flag of settings.common, for the runs that take no other common flag (--k-test)."""
    c = list(settings.common)
    return tuple(c[c.index("--device"):c.index("--device") + 2]) if "--device" in c else ()


def _original_run(req, flag, opts, settings):
    # The original does not depend on Df; --df-size 1 keeps it the same whatever |Df| the tables use.
    flags = [("model", req.model), ("task", flag)] + req.data_flags + [
        ("seed", str(req.seed)), ("df-size", "1"), ("eval-original", False)]
    flags += parse_flags(_device(settings)) + parse_flags(catalog.TRAIN.quick if opts.quick else ())
    return Run(req.orig_id, "train", flags, deps=list(req.data_deps), inputs=list(req.data_inputs),
               outputs=("model.safetensors",))


def _init_original(task, seed, opts, settings, bin_dir, paths, runs, worlds, root):
    """For a task that starts from another task's original (Task.init_from): ([("init", its checkpoint)],
    [its run id]), adding that original's run when the plan has none; else ([], [])."""
    if not task.init_from:
        return [], []
    base = next(t for t in catalog.TASKS if t.name == task.init_from)
    orig_id = f"{base.name}/s{seed}/original"
    if not any(r.id == orig_id for r in runs):
        model = model_for(base, opts.model)
        flag, why = task_flag(bin_dir, catalog.TRAIN.program, base, model)
        assert flag is not None, why
        data_flags, data_deps, data_inputs = _world_run(base, settings, paths, bin_dir, runs, worlds, root)
        runs.append(_original_run(_Request(base, seed, model, data_flags, data_deps, data_inputs, orig_id, ""),
                                  flag, opts, settings))
    return [("init", os.path.join(paths.run_dir(orig_id), "model.safetensors"))], [orig_id]


def _method_run(req, method, df_size, settings, opts, bin_dir, cells_unavailable):
    """One method on the request's Df of df_size units, or None (noted) when its program does not take the task."""
    prog_flag, why = task_flag(bin_dir, method.program, req.task, req.model)
    if prog_flag is None:
        cells_unavailable[(req.task.name, method.row)] = why
        return None
    rid = f"{req.task.name}/s{req.seed}/df{df_size}/{catalog.run_key(method.row)}"
    flags = [("model", req.model), ("task", prog_flag)] + req.data_flags + [
        ("original", req.original), ("seed", str(req.seed)), ("df-size", str(df_size)),
        # The original row is evaluated once per deletion request, by Retrain's run.
        ("eval-original", method.row == "Retrain" and df_size == settings.size_of(req.task))]
    flags += parse_flags(settings.common) + parse_flags(method.flags)
    if opts.quick:
        flags += parse_flags(method.quick) + parse_flags(req.task.quick.get(method.program, ()))
    return Run(rid, method.program, flags, deps=req.data_deps + [req.orig_id],
               inputs=req.data_inputs + [req.original], outputs=("metrics.json",))


def build(opts, settings, seeds, bin_dir, paths, root):
    """Every run of the reproduction, in an order that runs each seed's table runs before its timing runs."""
    runs, tasks, unavailable, cells_unavailable, worlds = [], [], {}, {}, set()
    for task in (t for t in catalog.TASKS if not opts.tasks or t.name in opts.tasks):
        model = model_for(task, opts.model)
        flag, why = task_flag(bin_dir, catalog.TRAIN.program, task, model)
        if flag is not None and not any(task_flag(bin_dir, m.program, task, model)[0] for m in catalog.METHODS):
            # An original model with nothing to unlearn it fills no cell.
            flag, why = None, task_flag(bin_dir, "unlearn_multidelete", task, model)[1]
        if flag is None:
            unavailable[task.name] = why
            continue
        tasks.append(task)
        data_flags, data_deps, data_inputs = _world_run(task, settings, paths, bin_dir, runs, worlds, root)
        size = settings.size_of(task)
        for seed in seeds:
            orig_id = f"{task.name}/s{seed}/original"
            req = _Request(task, seed, model_for(task, opts.model), data_flags, data_deps, data_inputs, orig_id,
                           os.path.join(paths.run_dir(orig_id), "model.safetensors"))
            init_flags, init_deps = _init_original(task, seed, opts, settings, bin_dir, paths, runs, worlds, root)
            original = _original_run(req, flag, opts, settings)
            runs.append(original)
            table_runs = {}
            for method in catalog.METHODS + catalog.ABLATIONS[1:]:
                run = _method_run(req, method, size, settings, opts, bin_dir, cells_unavailable)
                if run:
                    runs.append(run)
                    table_runs[method.row] = run
            # train and retrain start from the init; the other programs start from --original
            for run in [original] + [r for r in table_runs.values() if r.program == "retrain"]:
                run.flags += init_flags
                run.deps += init_deps
                run.inputs += [value for _, value in init_flags]
            probe_flag, why = task_flag(bin_dir, catalog.PROBE_PROGRAM, task, req.model)
            if probe_flag is None:
                cells_unavailable[(task.name, "probe")] = why
            elif table_runs:
                runs.append(probe_run(task, seed, size, table_runs, paths,
                                      [("model", req.model), ("task", probe_flag)] + data_flags + [
                                          ("original", req.original), ("seed", str(seed)),
                                          ("df-size", str(size))] + parse_flags(_device(settings)),
                                      data_deps + [orig_id], data_inputs + [req.original]))
            if task is tasks[0]:  # Figure 2 on the first available task; df_size's runs are Table 2's
                for fig2_size in (s for s in settings.fig2_sizes_of(task) if s != size):
                    for method in (m for m in catalog.METHODS if m.row in settings.fig2_rows):
                        run = _method_run(req, method, fig2_size, settings, opts, bin_dir, cells_unavailable)
                        if run:
                            runs.append(run)
    return Plan(runs, tasks, unavailable, cells_unavailable, seeds, settings, opts.model)
