"""Runs a plan's runs, each at most once: a run is reused when its record
(repro_run.json, written after the program exited 0) names the same program
and flags, the config.json the program wrote holds those flags, its inputs
have the same content, and its outputs exist. Anything else (a run stopped
half way, a changed flag, a retrained original) is run again from an empty
directory. Runs whose dependencies are done run up to `jobs` at a time; a
progress line says which run of how many and the time left.
"""
import hashlib
import json
import os
import shutil
import subprocess
import time

RECORD = "repro_run.json"
_hashes = {}


def fingerprint(path):
    """Content hash of a file, or of every file under a folder (a dataset: its annotations, vocabulary
    and images). Each file is hashed once per process. A folder's own completion record is left out:
    it holds the commit and the times of the run that wrote the folder, so counting it would make a
    rebuilt mkdata that writes the same world look like new data to every run that reads it."""
    if os.path.isdir(path):
        h = hashlib.sha256()
        for name in sorted(os.listdir(path)):
            if name == RECORD:
                continue
            full = os.path.join(path, name)
            h.update(name.encode() + b"\0" + fingerprint(full).encode())
        return h.hexdigest()
    if not os.path.exists(path):
        return "missing"
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _hashes:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _hashes[key] = h.hexdigest()
    return _hashes[key]


def flags_json(run):
    return [[name, value] for name, value in run.flags]


def same_value(requested, recorded):
    if isinstance(requested, bool) or isinstance(recorded, bool):
        return requested is recorded or requested == recorded
    if recorded is None:
        return False
    try:
        return float(requested) == float(recorded)
    except (TypeError, ValueError):
        return str(requested) == str(recorded)


def why_not_done(run, run_dir):
    """None when the run in run_dir is finished with this run's resolved
    config; otherwise the reason to run it (again)."""
    record_path = os.path.join(run_dir, RECORD)
    if not os.path.isfile(record_path):
        return "not run yet" if not os.path.exists(run_dir) else "interrupted before it finished"
    with open(record_path) as f:
        record = json.load(f)
    if record.get("program") != run.program:
        return f"it was a run of bin/{record.get('program')}"
    old, new = dict(map(tuple, record.get("flags", []))), dict(run.flags)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed or record.get("flags") != flags_json(run):
        return "flags changed: " + ", ".join(f"--{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:3]) \
            if changed else "flag order changed"
    for path in run.inputs:
        if record.get("inputs", {}).get(path) != fingerprint(path):
            return f"input {path} changed"
    if run.writes_config:
        config_path = os.path.join(run_dir, "config.json")
        try:
            with open(config_path) as f:
                resolved = json.load(f).get("flags", {})
        except (OSError, ValueError) as e:
            return f"{config_path}: {e}"
        for name, value in run.flags:
            if name not in resolved:
                return f"{config_path} has no flag {name}"
            if not same_value(value, resolved[name]):
                return f"{config_path}: {name} is {resolved[name]!r}, this run asks for {value!r}"
    for out in run.outputs:
        if not os.path.isfile(os.path.join(run_dir, out)):
            return f"{out} is missing"
    return None


def predict(runs, run_dir, redo=False):
    """{run id: why it will run} for the runs an invocation will run: those not finished with their
    config, and those after a run that will run (its output is their input)."""
    will = {}
    for run in runs:
        waits = [d for d in run.deps + run.soft_deps if d in will]
        if run.finalize:  # as if every input finishes
            run.finalize(run, set(run.soft_deps))
        why = f"after {waits[0]}" if waits else ("--redo" if redo else why_not_done(run, run_dir(run.id)))
        if why:
            will[run.id] = why
    return will


def git_commit(root):
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + ("+changes" if dirty else "") if head else "unknown"
    except OSError:
        return "unknown"


def fmt_duration(s):
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Runner:
    def __init__(self, plan, paths, bin_dir, root, jobs, threads, redo=False, log=None):
        self.plan, self.paths, self.bin_dir, self.root = plan, paths, bin_dir, root
        self.jobs, self.threads, self.redo = jobs, threads, redo
        self.log = log or (lambda line: print(line, flush=True))
        self.status = {}     # id -> "reused" | "ran" | "failed" | "skipped"
        self.reasons = {}    # id -> why it failed or was skipped
        self.wall = {}       # id -> seconds of the program (this or an earlier invocation)
        self.commit = git_commit(root)

    def _estimate(self, run):
        """Expected seconds of a run: the mean wall time of finished runs of the same program on the same
        task and |Df| on any seed (then the same program and task, then the same program, then any run);
        5 s before anything has finished."""
        def key(r, depth):
            parts = r.id.split("/")  # <task>/s<seed>/df<k>/<row>
            return (r.program,) + tuple(parts[:1] + parts[2:3])[:depth]
        for depth in (2, 1, 0):
            same = [w for rid, w in self.wall.items() if key(self.by_id[rid], depth) == key(run, depth)]
            if same:
                return sum(same) / len(same)
        return sum(self.wall.values()) / len(self.wall) if self.wall else 5.0

    def _progress(self, event, run, started, pending, running):
        """One line: which run of how many, what happened, elapsed time and the ETA (the estimated
        seconds of the runs left, over the jobs that run them)."""
        now = time.time()
        left = sum(self._estimate(r) for r in pending if r.id in self.todo and r.id not in self.status) + sum(
            max(0.0, self._estimate(self.by_id[rid]) - (now - t0)) for rid, (_, _, t0) in running.items())
        width = max(1, min(self.jobs, len(pending) + len(running)))
        self.log(f"[run {self.index[run.id]}/{len(self.plan.runs)}] {event} {run.id} (bin/{run.program}) | "
                 f"elapsed {fmt_duration(now - started)}, ETA {fmt_duration(left / width)}")

    def _launch(self, run):
        run_dir = self.paths.run_dir(run.id)
        if os.path.exists(run_dir):
            shutil.rmtree(run_dir)
        os.makedirs(os.path.dirname(run_dir), exist_ok=True)
        if not run.writes_config:
            os.makedirs(run_dir, exist_ok=True)
        log_path = self.paths.log_path(run.id)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(self.threads))
        if self.jobs > 1:  # spinning OpenMP threads of concurrent runs slow each other down many times over
            env.setdefault("OMP_WAIT_POLICY", "passive")
        log_file = open(log_path, "w")
        argv = run.argv(self.bin_dir, run_dir)
        log_file.write("$ " + " ".join(argv) + "\n")
        log_file.flush()
        proc = subprocess.Popen(argv, cwd=self.paths.work_dir, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        return proc, log_file

    def _finish(self, run, proc, log_file, seconds, cpu_seconds):
        log_file.close()
        run_dir = self.paths.run_dir(run.id)
        if proc.returncode != 0:
            with open(self.paths.log_path(run.id), errors="replace") as f:
                tail = f.read().strip().splitlines()[-3:]
            self.status[run.id] = "failed"
            self.reasons[run.id] = f"exit {proc.returncode}: " + " / ".join(tail)
            return
        missing = [o for o in run.outputs if not os.path.isfile(os.path.join(run_dir, o))]
        if missing:
            self.status[run.id] = "failed"
            self.reasons[run.id] = f"exited 0 but wrote no {', '.join(missing)}"
            return
        record = {"program": run.program, "flags": flags_json(run),
                  "inputs": {p: fingerprint(p) for p in run.inputs}, "commit": self.commit,
                  "wall_seconds": seconds, "cpu_seconds": cpu_seconds, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "argv": run.argv(self.bin_dir, run_dir)}
        with open(os.path.join(run_dir, RECORD), "w") as f:
            json.dump(record, f, indent=1)
        self.status[run.id] = "ran"
        self.wall[run.id] = seconds

    def run_all(self):
        runs = self.plan.runs
        self.by_id = {r.id: r for r in runs}
        self.index = {r.id: k + 1 for k, r in enumerate(runs)}
        for r in runs:  # earlier invocations' wall times feed the ETA
            rec = os.path.join(self.paths.run_dir(r.id), RECORD)
            if os.path.isfile(rec):
                try:
                    with open(rec) as f:
                        self.wall[r.id] = float(json.load(f)["wall_seconds"])
                except (ValueError, KeyError, OSError):
                    pass
        self.todo = predict(runs, self.paths.run_dir, self.redo)
        pending, running, started = list(runs), {}, time.time()
        try:
            while pending or running:
                for run in list(pending):
                    if len(running) >= self.jobs:
                        break
                    waits = run.deps + run.soft_deps
                    if any(self.status.get(d) is None for d in waits):
                        continue
                    pending.remove(run)
                    failed = [d for d in run.deps if self.status[d] in ("failed", "skipped")]
                    if failed:
                        self.status[run.id], self.reasons[run.id] = "skipped", f"{failed[0]} did not finish"
                        self.log(f"[run {self.index[run.id]}/{len(runs)}] skipped {run.id}: {failed[0]} did not finish")
                        continue
                    ok = {d for d in run.soft_deps if self.status[d] in ("ran", "reused")}
                    if run.finalize and not run.finalize(run, ok):
                        self.status[run.id], self.reasons[run.id] = "skipped", "none of its inputs finished"
                        continue
                    why = "--redo" if self.redo else why_not_done(run, self.paths.run_dir(run.id))
                    if why is None:
                        self.status[run.id] = "reused"
                        self._progress("done before:", run, started, pending, running)
                        continue
                    self._progress(f"start ({why}):", run, started, pending, running)
                    proc, log_file = self._launch(run)
                    running[run.id] = (proc, log_file, time.time())
                if not running:
                    if pending and all(any(self.status.get(d) is None for d in r.deps + r.soft_deps)
                                       for r in pending):
                        raise RuntimeError("dependency cycle among: " + ", ".join(r.id for r in pending))
                    continue
                time.sleep(0.2)
                for rid, (proc, log_file, t0) in list(running.items()):
                    # wait4 rather than poll: the child's CPU time comes with its exit status.
                    pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid == 0:
                        continue
                    proc.returncode = os.waitstatus_to_exitcode(wait_status)
                    del running[rid]
                    run = self.by_id[rid]
                    self._finish(run, proc, log_file, time.time() - t0, usage.ru_utime + usage.ru_stime)
                    if self.status[rid] == "failed":
                        self.log(f"[run {self.index[rid]}/{len(runs)}] FAILED {rid}: {self.reasons[rid]} "
                                 f"(log: {self.paths.log_path(rid)})")
                    else:
                        self._progress(f"done in {time.time() - t0:.1f}s:", run, started, pending, running)
        finally:
            for proc, log_file, _ in running.values():
                proc.terminate()
                proc.wait()
                log_file.close()
        return self.status
