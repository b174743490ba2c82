"""The parent run's plot: each metric against the swept axis, with the trials, the fit, its
band, the optimum and its interval (named variants: one bar each)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
matplotlib.use("Agg")  # no display on a laptop terminal or a cluster head
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sweeps.results import numeric  # noqa: E402


def plot(df: pd.DataFrame, axis: str, best: dict[str, dict], path: Path) -> None:
    """One panel per metric: trials, fit, 95% band, the optimum and its interval."""
    metrics = list(best)
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    for ax, key in zip(axes.flat, metrics, strict=False):
        b, metric = best[key], key.partition("/")[0]  # "metric/axis_value" on a several-axis sweep
        data = b.get("frame", df)
        means = data.groupby(axis)[metric].mean()
        if f"{metric}_floor" in data:  # the Glorot-random model's score on the same items
            ax.axhline(data[f"{metric}_floor"].mean(), color="grey", ls=":", lw=1, label="random floor")
        if numeric(data, axis):
            if f"{metric}_stderr" in data:
                ax.errorbar(data[axis], data[metric], yerr=data[f"{metric}_stderr"], fmt="none", ecolor="tab:blue",
                            alpha=0.4, lw=1)
            ax.scatter(data[axis], data[metric], s=14, alpha=0.6, label="trials")
            if b.get("curve"):
                c = {k: np.asarray(v) for k, v in b["curve"].items()}
                ax.plot(c["x"], c["mean"], color="tab:orange", lw=1.5,
                        label=f"fit (LOO MAE {b['loo_mae']:.3g}, rho {b['loo_spearman']:.2f})")
                ax.fill_between(c["x"], c["mean"] - 1.96 * c["sd"], c["mean"] + 1.96 * c["sd"], color="tab:orange",
                                alpha=0.2, lw=0)
            ax.axvspan(b["low"], b["high"], color="tab:red", alpha=0.08)
            ax.axvline(b["best"], color="tab:red", ls="--", lw=1,
                       label=f"best {b['best']:.2f} [{b['low']:.2f}, {b['high']:.2f}]"
                             + ("" if b.get("interior") else " (not interior)"))
        else:  # named variants (recipes): one bar each, the best in red
            colours = ["tab:red" if v == b["best"] else "tab:blue" for v in means.index]
            ax.bar(range(len(means)), means.values, color=colours, label=f"best in red ({b['mode']})")
            ax.set_xticks(range(len(means)), means.index, rotation=30, ha="right", fontsize=7)
        ax.set_title(b.get("title", ""), fontsize=8)
        ax.set_xlabel(axis.replace("_", " "))
        ax.set_ylabel(f"{metric} ({'lower' if b['mode'] == 'min' else 'higher'} is better)", fontsize=8)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
