"""MLflow for a sweep: the parent run, one nested child run per trial, and the summary.

Child runs come from Ray's `MLflowLoggerCallback` (params = the trial's config, metrics =
every report), nested under the parent with the `mlflow.parentRunId` tag; the subclass
only adds the `checkpoint` and `trial_id` tags. The summary (results table, the optimum
per metric with its bootstrap interval from sweeps/optimum.py, one plot per metric with
points, fit, band and interval, the optimum in words as the parent's description) is
pandas, scikit-learn and matplotlib.
"""

from __future__ import annotations

import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import matplotlib
matplotlib.use("Agg")  # no display on a laptop terminal or a cluster head
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from ray.air.integrations.mlflow import MLflowLoggerCallback

# Metrics the summary reports, with the direction that is better.
SUMMARY_METRICS = {"val_bpb_text": "min", "val_bpb_code": "min", "val_bpb_markup": "min",
                   "val_bpb_code_adjacent": "min", "val_bpb_synthetic": "min",
                   "nl_reasoning": "max", "nl_reasoning_bpb": "min", "world_knowledge": "max",
                   "world_knowledge_bpb": "min", "code_pass1": "max", "code_bpb": "min", "win_rate": "max"}


@contextmanager
def tracking(uri: str):
    """Use this MLflow store for the sweep, then put back what was there: `set_tracking_uri`
    also exports MLFLOW_TRACKING_URI, which would leak into later sweeps and child processes."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        mlflow.set_tracking_uri(before)


class ChildRunCallback(MLflowLoggerCallback):
    """Per-trial MLflow runs nested under the sweep's parent run, tagged with Tune's trial id."""

    def log_trial_start(self, trial):
        super().log_trial_start(trial)
        mlflow.MlflowClient(self.tracking_uri).set_tag(self._trial_runs[trial], "trial_id", trial.trial_id)

    def log_trial_result(self, iteration, trial, result):
        super().log_trial_result(iteration, trial, result)
        if result.get("checkpoint_path") and trial in self._trial_runs:
            mlflow.MlflowClient(self.tracking_uri).set_tag(
                self._trial_runs[trial], "checkpoint", result["checkpoint_path"])


def results_frame(result_grid, axis: str) -> pd.DataFrame:
    """One row per finished trial: its axis value, seed and final metrics."""
    rows = []
    for r in result_grid:
        if r.error is not None or not (r.metrics or {}).get("done"):
            continue
        row = {axis: r.config[axis], "seed": r.config["seed"], "trial_id": r.metrics.get("trial_id")}
        row.update({k: v for k, v in r.metrics.items()
                    if k.removesuffix("_stderr").removesuffix("_floor") in SUMMARY_METRICS
                    or k in ("realized_code_ratio", "tokens_per_s", "mfu", "startup_s", "train_s", "eval_s",
                             "checkpoint_path")})
        rows.append(row)
    return pd.DataFrame(rows).sort_values([axis, "seed"]).reset_index(drop=True) if rows else pd.DataFrame()


def numeric(df: pd.DataFrame, axis: str) -> bool:
    return pd.api.types.is_numeric_dtype(df[axis])


def best_points(df: pd.DataFrame, axis: str) -> dict[str, dict]:
    """Per metric: the optimum. On a numeric axis, the Gaussian-process fit's best point with
    its bootstrap interval (sweeps/optimum.py); on named variants, the best mean over seeds."""
    from sweeps.optimum import describe, locate
    out = {}
    for metric, mode in SUMMARY_METRICS.items():
        if metric not in df or df[metric].isna().all():
            continue
        means = df.groupby(axis)[metric].mean()
        if numeric(df, axis):
            opt = locate(df[axis], df[metric], mode)
            out[metric] = {"best": opt.best, "value": opt.value, "mode": mode, "low": opt.low, "high": opt.high,
                           "interior": opt.interior, "p_best": opt.p_best, "p_flat": opt.p_flat,
                           "best_tried": float(means.idxmin() if mode == "min" else means.idxmax()),
                           "loo_mae": opt.loo_mae, "loo_spearman": opt.loo_spearman, "curve": opt.curve,
                           "sentence": describe(metric, axis, opt)}
        else:
            best = means.idxmin() if mode == "min" else means.idxmax()
            out[metric] = {"best": best, "value": float(means[best]), "mode": mode, "low": best, "high": best,
                           "sentence": f"{metric} is best for {axis} {best} (mean over seeds {means[best]:.4f})"}
    return out


def plot(df: pd.DataFrame, axis: str, best: dict[str, dict], path: Path) -> None:
    metrics = list(best)
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        b = best[metric]
        means = df.groupby(axis)[metric].mean()
        if f"{metric}_floor" in df:  # the Glorot-random model's score on the same items
            ax.axhline(df[f"{metric}_floor"].mean(), color="grey", ls=":", lw=1, label="random floor")
        if numeric(df, axis):
            if f"{metric}_stderr" in df:
                ax.errorbar(df[axis], df[metric], yerr=df[f"{metric}_stderr"], fmt="none", ecolor="tab:blue",
                            alpha=0.4, lw=1)
            ax.scatter(df[axis], df[metric], s=14, alpha=0.6, label="trials")
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
        ax.set_xlabel(axis.replace("_", " "))
        ax.set_ylabel(f"{metric} ({'lower' if b['mode'] == 'min' else 'higher'} is better)", fontsize=8)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def log_summary(df: pd.DataFrame, axis: str, primary: str) -> dict[str, dict]:
    """Log table, plot and optimum to the active (parent) run; return the optimum per metric."""
    best = best_points(df, axis)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        df.to_csv(tmp / "results.csv", index=False)
        (tmp / "results.md").write_text(df.drop(columns=["checkpoint_path", "trial_id"], errors="ignore")
                                        .to_markdown(index=False, floatfmt=".4f"))
        mlflow.log_artifact(str(tmp / "results.csv"))
        mlflow.log_artifact(str(tmp / "results.md"))
        if best:
            plot(df, axis, best, tmp / f"metrics_vs_{axis}.png")
            mlflow.log_artifact(str(tmp / f"metrics_vs_{axis}.png"))
    mlflow.log_dict({m: {k: v for k, v in b.items() if k != "curve"} for m, b in best.items()}, "optimum.json")
    for metric, b in best.items():
        mlflow.log_metric(f"best_{metric}", b["value"])
        if numeric(df, axis):
            mlflow.log_metrics({f"best_{axis}_{metric}": b["best"], f"best_{axis}_{metric}_low": b["low"],
                                f"best_{axis}_{metric}_high": b["high"]})
            if math.isfinite(b["loo_mae"]):
                mlflow.log_metrics({f"surrogate_loo_mae_{metric}": b["loo_mae"]}
                                   | ({f"surrogate_loo_spearman_{metric}": b["loo_spearman"]}
                                      if math.isfinite(b["loo_spearman"]) else {}))
        else:
            mlflow.set_tag(f"best_{axis}_{metric}", b["best"])
    if not numeric(df, axis):  # named variants (recipes): the study's relative-increase table
        _log_comparison(df, axis)
    if primary in best and numeric(df, axis):
        b = best[primary]
        mlflow.log_metrics({f"best_{axis}": b["best"], f"best_{axis}_low": b["low"],
                            f"best_{axis}_high": b["high"]})
    if primary in best:  # the run's description in the MLflow UI: the optimum in a sentence
        others = [f"- {b['sentence']}" for m, b in best.items() if m != primary]
        mlflow.set_tag("mlflow.note.content", "\n".join([best[primary]["sentence"] + ".", "", *others]))
    return best


def _log_comparison(df: pd.DataFrame, axis: str) -> None:
    """Each variant against the text-only one (or the first) per category, as in Table 2."""
    from evaluation.compare import compare, table
    columns = [c for c in ("nl_reasoning", "world_knowledge", "code_pass1", "nl_reasoning_bpb",
                           "world_knowledge_bpb", "code_bpb") if c in df and df[c].notna().all()]
    means = df.groupby(axis)[columns].mean()
    if not columns or len(means) < 2:
        return
    baseline = next((v for v in means.index if str(v).startswith("text_only")), means.index[0])
    result = compare(means, baseline)
    mlflow.log_text(table(result, baseline), "comparison.md")
    mlflow.log_dict({"baseline": baseline, "variants": result}, "comparison.json")
