"""Two objectives at once (NL reasoning against code): the points no other point beats on both.

    points, on_front = front(df, ["code_ratio"], ("nl_reasoning_bpb", "min"), ("code_bpb", "min"))

A point of the sweep is one setting of its axes, its metrics the mean over its seeds. A point
is on the Pareto front when no other point is at least as good on both objectives and better
on one. The plot puts every point on the two objectives' plane, the front joined as a
staircase and labelled by its settings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def front(df: pd.DataFrame, axes: list[str], first: tuple[str, str], second: tuple[str, str]):
    """(points, mask): the mean of each point over its seeds, and which are on the front."""
    (a, a_mode), (b, b_mode) = first, second
    axes = [x for x in axes if x in df]
    points = df.dropna(subset=[a, b]).groupby(axes, dropna=False)[[a, b]].mean().reset_index()
    # Better is larger after the sign flip: a point is dominated by one >= on both and > on one.
    va = points[a].to_numpy() * (1 if a_mode == "max" else -1)
    vb = points[b].to_numpy() * (1 if b_mode == "max" else -1)
    dominated = np.array([np.any((va >= va[i]) & (vb >= vb[i]) & ((va > va[i]) | (vb > vb[i])))
                          for i in range(len(points))], dtype=bool)
    return points, ~dominated


def label(row: pd.Series, axes: list[str]) -> str:
    return " ".join(f"{x}={row[x]:g}" if isinstance(row[x], float) else f"{x}={row[x]}" for x in axes if x in row)


def plot_front(points: pd.DataFrame, on_front, axes: list[str], first: tuple[str, str], second: tuple[str, str],
               path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    (a, a_mode), (b, b_mode) = first, second
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(points[a], points[b], c="tab:blue", s=20, alpha=0.6, label="points (mean over seeds)")
    best = points[on_front].sort_values(a)
    ax.step(best[a], best[b], where="post", color="tab:red", lw=1)
    ax.scatter(best[a], best[b], c="tab:red", s=36, label="Pareto front")
    for _, row in best.iterrows():
        ax.annotate(label(row, axes), (row[a], row[b]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{a} ({'lower' if a_mode == 'min' else 'higher'} is better)")
    ax.set_ylabel(f"{b} ({'lower' if b_mode == 'min' else 'higher'} is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
