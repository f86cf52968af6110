"""Numbers of the finished runs, read from the files the programs write
(metrics.json, probe.json; never from logs), and their mean and standard
deviation over seeds. A key a file lacks is noted once, by file and key, and
its cell stays empty.
"""
import json
import math
import os
import re


def _number(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


class Stat:
    """Values of one cell over seeds."""

    def __init__(self, values=()):
        self.values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]

    @property
    def n(self):
        return len(self.values)

    @property
    def mean(self):
        return sum(self.values) / self.n if self.n else None

    @property
    def std(self):
        """Sample standard deviation (n - 1); None with fewer than two values."""
        if self.n < 2:
            return None
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    def format(self, digits, seeds):
        if not self.n:
            return "—"
        text = f"{self.mean:.{digits}f}"
        if self.std is not None:
            text += f" ± {self.std:.{digits}f}"
        if self.n < seeds:
            text += f" (n={self.n})"
        return text


class Reader:
    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.missing = {}   # (file, what) -> None, in the order met
        self._cache = {}

    def _load(self, run_id, name):
        path = os.path.join(self.run_dir(run_id), name)
        if path not in self._cache:
            try:
                with open(path) as f:
                    self._cache[path] = json.load(f)
            except FileNotFoundError:
                self._cache[path] = None
            except ValueError as e:
                self.missing[(path, f"is not JSON: {e}")] = None
                self._cache[path] = None
        return path, self._cache[path]

    def _note(self, path, what):
        self.missing[(path, what)] = None

    def model_entry(self, run_id, row, model_name=None):
        """The metrics.json entry of the unlearned model of a run (or of model_name, e.g. "original")."""
        path, metrics = self._load(run_id, "metrics.json")
        if metrics is None:
            return path, None
        models = metrics.get("models")
        if not isinstance(models, dict):
            self._note(path, "has no key models")
            return path, None
        if model_name is not None:
            if model_name not in models:
                self._note(path, f"has no key models.{model_name}")
            return path, models.get(model_name)
        # The run's own model: its name spelled like the row ("lcodec-F" for L-codec-F), else the one entry
        # that is neither the original nor a Retrain reference row.
        def norm(name):
            return re.sub(r"[^a-z0-9]", "", name.lower())
        others = [k for k in models if k != "original" and (k != "retrain" or norm(row) == "retrain")]
        for name in others:
            if norm(name) == norm(row):
                return path, models[name]
        if len(others) == 1:
            return path, models[others[0]]
        self._note(path, f"has no entry for {row} under models (it has {', '.join(models)})")
        return path, None

    def value(self, run_id, row, keys, model_name=None, optional=False):
        """The first of `keys` the entry has, or None (noted unless optional)."""
        path, entry = self.model_entry(run_id, row, model_name)
        if entry is None:
            return None
        for key in keys:
            if key in entry:
                if entry[key] is None and not optional:
                    self._note(path, f"has {key} = null in models.{model_name or row}")
                return _number(entry[key])
        if not optional:
            self._note(path, f"has no key {' or '.join(keys)} in models.{model_name or row}")
        return None

    def class_df(self, run_id, row, model_name=None):
        """{scored class column: Df} of a classification run: 100·(1 − the mean over the Dr subsets of that
        column's AUC), from Df_class_aucs (subset by subset, the scored columns of each; eval/report.h)."""
        path, metrics = self._load(run_id, "metrics.json")
        _, entry = self.model_entry(run_id, row, model_name)
        if metrics is None or entry is None:
            return {}
        columns, aucs = metrics.get("score_columns"), entry.get("Df_class_aucs")
        if not isinstance(columns, list) or not columns or not isinstance(aucs, list) or len(aucs) % len(columns):
            self._note(path, f"has no score_columns with Df_class_aucs in models.{model_name or row}")
            return {}
        nc = len(columns)
        return {c: 100.0 * (1.0 - sum(aucs[k] for k in range(j, len(aucs), nc)) / (len(aucs) // nc))
                for j, c in enumerate(columns)}

    def top(self, run_id, key):
        """A top-level number of a run's metrics.json (None when absent: such keys are optional)."""
        _, metrics = self._load(run_id, "metrics.json")
        return _number(metrics.get(key)) if isinstance(metrics, dict) else None

    def probe(self, run_id, row, key):
        path, probe = self._load(run_id, "probe.json")
        if probe is None:
            return None
        entry = probe.get(row)
        if not isinstance(entry, dict):
            self._note(path, f"has no key {row}")
            return None
        if key not in entry:
            self._note(path, f"has no key {row}.{key}")
            return None
        return float(entry[key])

    def df_list(self, run_id):
        path = os.path.join(self.run_dir(run_id), "df_list.txt")
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return None
