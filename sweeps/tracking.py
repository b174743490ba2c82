"""MLflow for a sweep: the parent run, one nested child run per trial, and the summary.

Child runs come from Ray's `MLflowLoggerCallback` (params = the trial's config, metrics =
every report), nested under the parent with the `mlflow.parentRunId` tag; the subclass
only adds the `checkpoint` tag. The summary (results table, best point per metric with
its grid interval, one plot per metric) is plain pandas and matplotlib.
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
    """Per metric: the best axis value (mean over seeds) and, on a numeric axis, its neighbours."""
    out = {}
    points = sorted(df[axis].unique())
    for metric, mode in SUMMARY_METRICS.items():
        if metric not in df or df[metric].isna().all():
            continue
        means = df.groupby(axis)[metric].mean()
        best = means.idxmin() if mode == "min" else means.idxmax()
        i = points.index(best)
        out[metric] = {"best": best, "value": float(means[best]), "mode": mode,
                       "low": points[max(0, i - 1)], "high": points[min(len(points) - 1, i + 1)]}
    return out


def plot(df: pd.DataFrame, axis: str, best: dict[str, dict], path: Path) -> None:
    metrics = list(best)
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        means = df.groupby(axis)[metric].mean()
        if f"{metric}_floor" in df:  # the Glorot-random model's score on the same items
            ax.axhline(df[f"{metric}_floor"].mean(), color="grey", ls=":", lw=1, label="random floor")
        if numeric(df, axis):
            if f"{metric}_stderr" in df:
                ax.errorbar(df[axis], df[metric], yerr=df[f"{metric}_stderr"], fmt="none", ecolor="tab:blue",
                            alpha=0.4, lw=1)
            ax.scatter(df[axis], df[metric], s=14, alpha=0.5, label="trials")
            ax.plot(means.index, means.values, marker="o", label="mean over seeds")
            ax.axvline(best[metric]["best"], color="tab:red", ls="--", lw=1,
                       label=f"best {best[metric]['best']:g} ({best[metric]['mode']})")
        else:  # named variants (recipes): one bar each, the best in red
            colours = ["tab:red" if v == best[metric]["best"] else "tab:blue" for v in means.index]
            ax.bar(range(len(means)), means.values, color=colours, label=f"best in red ({best[metric]['mode']})")
            ax.set_xticks(range(len(means)), means.index, rotation=30, ha="right", fontsize=7)
        ax.set_xlabel(axis.replace("_", " "))
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
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
    for metric, b in best.items():
        mlflow.log_metric(f"best_{metric}", b["value"])
        if numeric(df, axis):
            mlflow.log_metric(f"best_{axis}_{metric}", b["best"])
        else:
            mlflow.set_tag(f"best_{axis}_{metric}", b["best"])
    if not numeric(df, axis):  # named variants (recipes): the study's relative-increase table
        _log_comparison(df, axis)
    if primary in best and numeric(df, axis):
        b = best[primary]
        mlflow.log_metrics({f"best_{axis}": b["best"], f"best_{axis}_low": b["low"],
                            f"best_{axis}_high": b["high"]})
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
