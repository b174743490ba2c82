"""A mixture search's answer on its parent run: every law's held-out score, the proposal
with an interval per part, and the plot a person looks at.

    answer = summarise_mixtures(df, parts, shares, metric, mode, bounds)   # pure: numbers only
    log_mixture_summary(answer, parts, run_id, tracking_uri)

`df` has one row per finished trial with its `mixture` label and the metric; `shares`
maps a label to its shares over `parts`. Seeds of one mixture are separate trials to the
laws (each its own noisy draw of the same point).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from sweeps.mixture_law import best_law, make_law, optimum_interval, propose, score_laws

POINTS = 25  # shares per part on the partial-dependence curve


def partial_dependence(law: str, X: np.ndarray, y: np.ndarray, bounds: np.ndarray) -> dict[int, list]:
    """Per part: shares across its bounds and the fitted law's mean prediction over the trials'
    mixtures with that part set to the share (the others scaled to fill the rest)."""
    fitted = make_law(law).fit(X, y)
    curves = {}
    for i in range(X.shape[1]):
        grid = np.linspace(bounds[i, 0], bounds[i, 1], POINTS)
        rest = np.delete(X, i, axis=1)
        rest = rest / np.maximum(rest.sum(axis=1, keepdims=True), 1e-12)
        means = []
        for s in grid:
            Z = np.insert(rest * (1 - s), i, s, axis=1)
            means.append(float(fitted.predict(Z).mean()))
        curves[i] = [grid.tolist(), means]
    return curves


def fitted_rows(df, metric: str, needed: int):
    """The trials the laws are fitted on: the finished ones; or, when ASHA stopped too many for
    the laws (fewer than `needed` finished), every trial's value at the last step that at
    least `needed` trials reached (ASHA's own premise: trials rank at a rung as they would at
    the end). Returns (rows with `mixture` and the metric, that step or None)."""
    history = df.attrs.get("history")
    if len(df.dropna(subset=[metric])) >= needed or history is None or history.empty or metric not in history:
        return df, None
    reports = history.dropna(subset=[metric])
    reached = reports.groupby("step")["trial_id"].nunique()
    enough = reached[reached >= needed]
    if enough.empty:
        return df, None
    step = int(enough.index.max())
    return reports[reports["step"] == step].drop_duplicates("trial_id"), step


def summarise_mixtures(df, parts: tuple[str, ...], shares: dict[str, list[float]], metric: str, mode: str,
                       bounds: np.ndarray, resamples: int = 30, seed: int = 0, allowed=None,
                       region: str = "support") -> dict:
    from sweeps.mixture_law import min_trials, search_bounds
    df, step = fitted_rows(df, metric, min_trials(len(parts)))
    rows = df.dropna(subset=[metric])
    from sweeps.simplex import parse_label
    X = np.array([shares.get(m) or [parse_label(m).get(p, 0.0) for p in parts] for m in rows["mixture"]], dtype=float)
    y = rows[metric].to_numpy(dtype=float)
    scores = score_laws(X, y, seed=seed)
    law = best_law(scores)
    best, predicted = propose(law, X, y, bounds, mode, seed=seed, allowed=allowed, region=region)
    low, high = optimum_interval(law, X, y, bounds, scores[law]["mae"], mode, resamples=resamples, seed=seed,
                                 allowed=allowed, region=region)
    searched = search_bounds(X, bounds, region)
    return {"metric": metric, "mode": mode, "law": law, "scores": scores, "trials": len(y), "at_step": step,
            "region": region, "searched": {p: [float(a), float(b)] for p, (a, b) in zip(parts, searched, strict=True)},
            "partial": partial_dependence(law, X, y, bounds),
            "mixture": dict(zip(parts, map(float, best), strict=True)),
            "low": dict(zip(parts, map(float, low), strict=True)), "high": dict(zip(parts, map(float, high), strict=True)),
            "predicted": predicted, "X": X.tolist(), "y": y.tolist()}


def log_mixture_summary(answer: dict, parts: tuple[str, ...], run_id: str, tracking_uri: str) -> None:
    """On the parent run: best_share_<part> with _low/_high, predicted_<metric>, each law's
    scores, the chosen law as a param, best_mixture.json and the partial-dependence plot."""
    import mlflow
    client = mlflow.MlflowClient(tracking_uri)
    metrics = {"predicted_" + answer["metric"]: answer["predicted"]}
    for p in parts:
        key = p.replace("/", "_")
        metrics.update({f"best_share_{key}": answer["mixture"][p], f"best_share_{key}_low": answer["low"][p],
                        f"best_share_{key}_high": answer["high"][p]})
    for law, s in answer["scores"].items():
        metrics.update({f"law_{law}_{k}": v for k, v in s.items()})
    for k, v in metrics.items():
        client.log_metric(run_id, k, float(v))
    client.log_param(run_id, "mixture_law", answer["law"])
    client.log_param(run_id, "mixture_region", answer.get("region", "bounds"))
    with tempfile.TemporaryDirectory() as tmp:
        out = {k: answer.get(k) for k in ("metric", "mode", "law", "scores", "trials", "at_step", "region",
                                          "searched", "mixture", "low", "high", "predicted")}
        (Path(tmp) / "best_mixture.json").write_text(json.dumps(out, indent=1))
        plot_shares(answer, parts, Path(tmp) / "metric_vs_share.png")
        client.log_artifacts(run_id, tmp)


def plot_shares(answer: dict, parts: tuple[str, ...], path: Path) -> None:
    """Each part's share against the metric: the trials as points, the fitted law's partial
    dependence as a line, the proposal and its interval marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    X, y = np.array(answer["X"]), np.array(answer["y"])
    cols = min(4, len(parts))
    rows = -(-len(parts) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False, sharey=True)
    for i, part in enumerate(parts):
        ax = axes[i // cols][i % cols]
        ax.scatter(X[:, i], y, s=12, alpha=0.7, label="trials")
        if "partial" in answer:
            grid, means = answer["partial"][i]
            ax.plot(grid, means, color="tab:orange", label=f"{answer['law']} law, partial dependence")
        ax.axvspan(answer["low"][part], answer["high"][part], color="tab:green", alpha=0.15, label="95% interval")
        ax.axvline(answer["mixture"][part], color="tab:green", label="proposal")
        ax.set_xlabel(f"share of {part}")
        if i % cols == 0:
            ax.set_ylabel(answer["metric"])
    for j in range(len(parts), rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{answer['metric']} against each part's share ({answer['law']} law chosen)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
