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

from sweeps.mixture_law import best_law, bootstrap_interval, propose, score_laws


def summarise_mixtures(df, parts: tuple[str, ...], shares: dict[str, list[float]], metric: str, mode: str,
                       bounds: np.ndarray, resamples: int = 30, seed: int = 0, allowed=None) -> dict:
    rows = df.dropna(subset=[metric])
    X = np.array([shares[label] for label in rows["mixture"]], dtype=float)
    y = rows[metric].to_numpy(dtype=float)
    scores = score_laws(X, y, seed=seed)
    law = best_law(scores)
    best, predicted = propose(law, X, y, bounds, mode, seed=seed, allowed=allowed)
    low, high = bootstrap_interval(law, X, y, bounds, mode, resamples=resamples, seed=seed, allowed=allowed)
    return {"metric": metric, "mode": mode, "law": law, "scores": scores, "trials": len(y),
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
        metrics.update({f"law_{law}_spearman": s["spearman"], f"law_{law}_mae": s["mae"]})
    for k, v in metrics.items():
        client.log_metric(run_id, k, float(v))
    client.log_param(run_id, "mixture_law", answer["law"])
    with tempfile.TemporaryDirectory() as tmp:
        out = {k: answer[k] for k in ("metric", "mode", "law", "scores", "trials", "mixture", "low", "high",
                                      "predicted")}
        (Path(tmp) / "best_mixture.json").write_text(json.dumps(out, indent=1))
        plot_shares(answer, parts, Path(tmp) / "metric_vs_share.png")
        client.log_artifacts(run_id, tmp)


def plot_shares(answer: dict, parts: tuple[str, ...], path: Path) -> None:
    """Each part's share against the metric: the trials as points, the proposal and its
    interval marked."""
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
