#!/usr/bin/python3
"""Checks that a reproduction wrote every table and plot, well formed:
REPORT.md has Tables 2-5 and Figure 2, each followed by the paper's; every
cell of every method and available task holds "mean ± std" over all seeds
(one seed: the value alone);
the CSVs parse and agree with the report; the PNGs are images of a readable
size with something drawn; Figure 2 has at least four |Df| with positive
times and a ratio to Retrain; every task (default: every task of
catalog.TASKS) has its columns in Tables 2-5, its per-class Df columns when it
is a classification task, and its Dt-vs-Df plot. Prints each problem; exit 1
when any.
Usage: check_outputs.py RESULTS_DIR SEEDS [TASKS, comma-separated]"""
import csv
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalog  # noqa: E402



def cell_patterns(seeds):
    """(one value, Tables 2 and 4's "Dt / Df" or Df-vs-unseen cell) as a complete cell over `seeds` seeds."""
    one = r"-?\d+\.\d+" + (r" ± \d+\.\d+" if seeds > 1 else "")
    return re.compile(f"^{one}$"), re.compile(f"^{one}( / {one})?$")

problems = []


def problem(text):
    problems.append(text)
    print("FAIL:", text)


def section(report, heading):
    """The text from a '## <heading>' line to the next '## '."""
    m = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", report, re.M | re.S)
    if not m:
        problem(f"REPORT.md has no section '## {heading}'")
        return ""
    return m.group(1)


def md_tables(text):
    """Each Markdown table of a section: (header cells, {row label: cells})."""
    tables, lines = [], text.splitlines()
    k = 0
    while k < len(lines):
        if lines[k].startswith("| ") and k + 1 < len(lines) and lines[k + 1].startswith("|---"):
            header = [c.strip() for c in lines[k].strip("|").split("|")]
            rows = {}
            k += 2
            while k < len(lines) and lines[k].startswith("| "):
                cells = [c.strip() for c in lines[k].strip().strip("|").split("|")]
                rows[cells[0]] = cells[1:]
                k += 1
            tables.append((header, rows))
        else:
            k += 1
    return tables


def check_table(name, text, rows, pattern, n_paper_min=1):
    tables = md_tables(text)
    if len(tables) < 1 + n_paper_min:
        problem(f"{name}: {len(tables)} tables in its section, expected ours and the paper's")
        return
    header, ours = tables[0]
    for row in rows:
        if row not in ours:
            problem(f"{name}: no row {row}")
            continue
        cells = ours[row]
        if len(cells) != len(header) - 1:
            problem(f"{name} {row}: {len(cells)} cells for {len(header) - 1} columns")
        for col, cell in zip(header[1:], cells):
            if cell != "n/a" and not pattern.match(cell):
                problem(f"{name} {row} / {col}: {cell!r} is not a complete cell (mean ± std over every seed)")
    if "paper" not in text:
        problem(f"{name}: the paper's table is not labelled as the paper's")


def check_png(path):
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        problem(f"{path}: missing")
        return
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        problem(f"{path}: not a PNG")
        return
    w, h = struct.unpack(">II", head[16:24])
    if w < 600 or h < 400:
        problem(f"{path}: {w}x{h} pixels, too small to read")
    import matplotlib.image
    pixels = matplotlib.image.imread(path)
    if pixels.std() < 0.02:
        problem(f"{path}: blank (pixel std {pixels.std():.4f})")


def all_na(text):
    """Whether every cell of a section's first table is n/a (no task's programs ran it)."""
    tables = md_tables(text)
    return bool(tables) and all(c == "n/a" for cells in tables[0][1].values() for c in cells)


def per_class_text(report):
    """Table 2's subsection of per-class Df (classification tasks), or ''."""
    m = re.search(r"^### Table 2, classification.*?$(.*?)(?=^##|\Z)", report, re.M | re.S)
    return m.group(1) if m else ""


def check_tasks(report, tasks):
    """Each task's columns in every table, and its plot."""
    by_name = {t.name: t for t in catalog.TASKS}
    for name in tasks:
        task = by_name.get(name)
        if task is None:
            problem(f"unknown task {name!r}")
            continue
        for heading in ("Table 2", "Table 3", "Table 4", "Table 5"):
            tables = md_tables(section(report, heading))
            if not tables or not any(c.startswith(task.label) for c in tables[0][0][1:]):
                problem(f"{heading}: no column of {task.label}")
        if task.classes:
            per_class = md_tables(per_class_text(report))
            if not per_class or not any(c.startswith(f"{task.label} Df (") for c in per_class[0][0]):
                problem(f"Table 2: no per-class Df columns of {task.label}")
        if f"(tradeoff_{task.name}.png)" not in report:
            problem(f"REPORT.md embeds no Dt-vs-Df plot of {task.label}")


def main(out, seeds, tasks):
    CELL, PAIR = cell_patterns(seeds)
    path = os.path.join(out, "REPORT.md")
    try:
        with open(path) as f:
            report = f.read()
    except OSError as e:
        problem(f"{path}: {e}")
        return 1
    methods = [m.row for m in catalog.METHODS]
    check_table("Table 2", section(report, "Table 2"), ["Original"] + methods, PAIR)
    per_class = md_tables(per_class_text(report))
    for header, rows in per_class[:1]:
        for row in ["Original"] + methods:
            for col, cell in zip(header[1:], rows.get(row, [])):
                if cell != "n/a" and not CELL.match(cell):
                    problem(f"Table 2 per class {row} / {col}: {cell!r} is not a complete cell")
            if row not in rows:
                problem(f"Table 2 per class: no row {row}")
    check_tasks(report, tasks)
    check_table("Table 3", section(report, "Table 3"), methods, CELL)
    check_table("Table 4", section(report, "Table 4"), [m.row for m in catalog.ABLATIONS], PAIR)
    check_table("Table 5", section(report, "Table 5"), ["Original"] + methods + [m.row for m in catalog.ABLATIONS[1:]],
                CELL)
    fig = section(report, "Figure 2")
    if "figure2.png" not in fig or not md_tables(fig):
        problem("Figure 2: the section embeds no figure2.png or has no table of times")
    for key in ("table2", "table3", "table4", "table5", "tables") + (("table2_classes",) if per_class else ()):
        with open(os.path.join(out, f"{key}.csv")) as f:
            records = list(csv.DictReader(f))
        if not records and not (key == "table5" and all_na(section(report, "Table 5"))):
            problem(f"{key}.csv: no rows")
        for r in records:
            if r["n"] != str(seeds) or not r["mean"]:
                problem(f"{key}.csv: {r['row']} {r['task']} {r['column']} {r['metric']}: n={r['n']}, mean={r['mean']!r}")
                break
    with open(os.path.join(out, "figure2.csv")) as f:
        points = list(csv.DictReader(f))
    sizes = {p["df_images"] for p in points}
    if len(sizes) < 4:
        problem(f"figure2.csv: {len(sizes)} |Df| sizes, at least 4 expected")
    for p in points:
        if not p["time_s_mean"] or float(p["time_s_mean"]) <= 0 or p["n"] != str(seeds):
            problem(f"figure2.csv: {p['row']} at {p['df_images']}: time {p['time_s_mean']!r} over n={p['n']}")
        if p["row"] != "Retrain" and not p["ratio_to_retrain_mean"]:
            problem(f"figure2.csv: {p['row']} at {p['df_images']}: no ratio to Retrain")
    check_png(os.path.join(out, "figure2.png"))
    pngs = re.findall(r"!\[[^\]]*\]\((tradeoff_[a-z0-9_]+\.png)\)", report)
    if not pngs:
        problem("REPORT.md embeds no Dt-vs-Df plot")
    for name in pngs:
        check_png(os.path.join(out, name))
    for heading in ("Configuration", "Same deletion request"):
        section(report, heading)
    if "machine:" not in report or "seeds" not in report:
        problem("REPORT.md does not name the machine and the seeds")
    print(f"{out}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    names = sys.argv[3].split(",") if len(sys.argv) == 4 else [t.name for t in catalog.TASKS]
    sys.exit(main(sys.argv[1], int(sys.argv[2]), names))
