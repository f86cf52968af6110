"""Figure 2 (unlearning time against |Df|, with each method's time as a
fraction of Retrain's) and the Dt-against-Df trade-off per task, as PNG
files drawn with Debian's matplotlib (Agg, no display)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

# One colour per method; its -F variant shares it with a hollow marker.
_COLORS = {"Retrain": "black", "FineTune": "tab:blue", "NegGrad": "tab:orange", "DtD": "tab:green",
           "L-codec": "tab:purple", "Erm-Ktp": "tab:brown", "UL": "tab:pink", "MultiDelete": "tab:red",
           "-MD": "tab:gray", "-UKR": "tab:olive", "-MKR": "tab:cyan"}
_MARKERS = {"Retrain": "s", "FineTune": "o", "NegGrad": "v", "DtD": "^", "L-codec": "D", "Erm-Ktp": "P",
            "UL": "X", "MultiDelete": "*"}


def _legend(ax, **kw):
    """A legend when something was drawn; otherwise a note that no run finished."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)
    else:
        ax.text(0.5, 0.5, "no finished runs", transform=ax.transAxes, ha="center", va="center")


def _label_log_axis(axis):
    """Plain numbers at 1, 2 and 5 times each power of ten: a log axis spanning less than a decade
    otherwise shows a single labelled tick."""
    fmt = ticker.FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(ticker.NullFormatter())


def _style(row):
    base = row[:-2] if row.endswith("-F") else row
    return {"color": _COLORS.get(base, "tab:gray"), "marker": _MARKERS.get(base, "o"),
            "markerfacecolor": "none" if row.endswith("-F") else _COLORS.get(base, "tab:gray")}


def _log_yerr(stats):
    """Error bars of mean ± std on a log axis: a lower bar that would reach zero or below (std >= mean, a
    spread over seeds wider than the mean) is cut at 10% of the mean, where a log axis can still draw it."""
    lower = [min(s.std or 0, 0.9 * s.mean) if s.mean > 0 else 0 for s in stats]
    return [lower, [s.std or 0 for s in stats]]


def figure2(path, task_label, points, setting):
    """Left: seconds of the unlearning loop per |Df| (mean ± std over seeds, log scale). Right: the same
    as a fraction of Retrain's time on the same seed and request. One legend beside both names each
    method with its fraction at the largest |Df|."""
    rows = []
    for p in points:
        if p["row"] not in rows:
            rows.append(p["row"])
    largest = max((p["df_images"] for p in points), default=0)
    fig, (ax_t, ax_r) = plt.subplots(1, 2, figsize=(13, 5.2))
    handles = []
    for row in rows:
        pts = sorted((p for p in points if p["row"] == row and p["time"].n), key=lambda p: p["df_images"])
        if not pts:
            continue
        xs = [p["df_images"] for p in pts]
        style = _style(row)
        rpts = [p for p in pts if p["ratio"].n]
        label = row
        if row != "Retrain" and rpts:
            label = f"{row} ({rpts[-1]['ratio'].mean:.2g}×" + (
                f" at {rpts[-1]['df_images']})" if rpts[-1]["df_images"] != largest else ")")
        handles.append(ax_t.errorbar(xs, [p["time"].mean for p in pts], yerr=_log_yerr([p["time"] for p in pts]),
                                     label=label, capsize=3, linewidth=1.5, markersize=7, **style))
        if row != "Retrain" and rpts:
            ax_r.errorbar([p["df_images"] for p in rpts], [p["ratio"].mean for p in rpts],
                          yerr=_log_yerr([p["ratio"] for p in rpts]), capsize=3, linewidth=1.5, markersize=7, **style)
    ax_t.set_yscale("log")
    ax_t.set_xlabel("|Df| (deleted images)")
    ax_t.set_ylabel("unlearning time (s, log scale)")
    ax_t.set_title(f"{task_label}: wall time of the unlearning loop")
    handles.append(ax_r.axhline(1.0, color="black", linewidth=1, linestyle="--", label="ratio 1 (Retrain's time)"))
    ax_r.set_yscale("log")
    ax_r.set_xlabel("|Df| (deleted images)")
    ax_r.set_ylabel("time / Retrain's time (log scale)")
    ax_r.set_title("ratio to Retrain (same seed and request)")
    for ax in (ax_t, ax_r):
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xticks(sorted({p["df_images"] for p in points}))
        _label_log_axis(ax.yaxis)
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.80, 0.5), fontsize=8, frameon=False,
                   title=f"method (time / Retrain's\nat |Df| = {largest})", title_fontsize=8)
    else:
        ax_t.text(0.5, 0.5, "no finished runs", transform=ax_t.transAxes, ha="center", va="center")
    fig.suptitle(f"Figure 2: unlearning time vs |Df|; {setting}\nmean ± std over seeds (a lower bar reaching 0 is "
                 "cut at 10% of the mean)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.80, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tradeoff(path, task_label, dt_label, rows, setting):
    """Dt against Df per method (mean ± std over seeds), the original model first as the reference:
    the ideal is top left (Dt kept, Df low); the dashed line marks Df = 50, deleted pairs
    indistinguishable from retained ones."""
    fig, ax = plt.subplots(figsize=(8.5, 5.8))
    for row, dt, df in rows:
        if row == "Original":
            if dt.n and df.n:
                ax.errorbar([df.mean], [dt.mean], xerr=[df.std or 0], yerr=[dt.std or 0], label="Original (before)",
                            capsize=3, markersize=14, linestyle="none", marker="o", color="gray", alpha=0.5)
            continue
        if not (dt.n and df.n):
            continue
        ax.errorbar([df.mean], [dt.mean], xerr=[df.std or 0], yerr=[dt.std or 0], label=row, capsize=3,
                    markersize=9, linestyle="none", **_style(row))
    ax.axvline(50.0, color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel("Df (%, AUC of Df vs Dr pairs; lower = more forgotten)")
    ax.set_ylabel(f"Dt (%, {dt_label}; higher = kept)")
    ax.set_title(f"{task_label}: Dt against Df per method\n{setting}", fontsize=10)
    ax.grid(True, alpha=0.3)
    _legend(ax, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
