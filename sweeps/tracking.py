"""MLflow for a sweep: the parent run, one nested child run per trial, and the summary.

Child runs come from Ray's `MLflowLoggerCallback` (params = the trial's config, metrics =
every report), nested under the parent with the `mlflow.parentRunId` tag; the subclass
adds the `checkpoint` and `trial_id` tags and, when a sweep resumes after its driver died,
logs a trial into the run it already had instead of a second one. The summary (results table, the optimum
per metric with its bootstrap interval from sweeps/optimum.py, one plot per metric with
points, fit, band and interval, the optimum in words as the parent's description) is
pandas, scikit-learn and matplotlib.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import matplotlib
matplotlib.use("Agg")  # no display on a laptop terminal or a cluster head
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric
from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.tune.result import TIMESTEPS_TOTAL, TRAINING_ITERATION
from ray.tune.utils import flatten_dict

from sweeps.metrics import FINAL, SUMMARY_METRICS

BATCH = 1000  # MLflow's limit of metrics per log_batch


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


# While the tracking server does not answer, the sweep's driver asks it once a report at most
# this fast (MLflow's client would retry for minutes, holding up Tune's loop), then skips it
# for OUTAGE_S: Tune's results on disk are the record, and sweeps/sync.py logs what was missed.
QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
OUTAGE_S = 15.0


@contextmanager
def _quick_requests():
    before = {k: os.environ.get(k) for k in QUICK}
    os.environ.update({k: v for k, v in QUICK.items() if before[k] is None})  # a user's own setting stays
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)


class ChildRunCallback(MLflowLoggerCallback):
    """Per-trial MLflow runs nested under the sweep's parent run, tagged with Tune's trial id.
    A tracking server that stops answering mid-sweep stops nothing: training goes on, the
    callback says so once and tries again later (a trial's run is made when it can be)."""

    def __init__(self, *args, storage: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = storage
        self._down_since: float | None = None
        self._retry_at = 0.0
        self.missed = 0  # trial events MLflow did not get

    def _guarded(self, what, *args) -> None:
        if time.monotonic() < self._retry_at:
            self.missed += 1
            return
        try:
            with _quick_requests():
                what(*args)
        except Exception as e:  # noqa: BLE001 - any failure to log must not stop training
            if self._down_since is None:
                self._down_since = time.monotonic()
                print(f"[mlflow] {self.tracking_uri} did not answer ({type(e).__name__}): training goes on; "
                      f"once it is back, `python -m sweeps.sync --storage {self.storage or 'STORAGE'} --experiment "
                      f"{self.experiment_name}` logs what it missed", flush=True)
            self._retry_at = time.monotonic() + OUTAGE_S
            self.missed += 1
            return
        if self._down_since is not None:
            print(f"[mlflow] {self.tracking_uri} answers again after {time.monotonic() - self._down_since:.0f} s",
                  flush=True)
            self._down_since = None

    def on_experiment_end(self, trials, **info):
        if self.missed:
            print(f"[mlflow] {self.missed} trial events did not reach {self.tracking_uri} while it was down; "
                  f"`python -m sweeps.sync --storage {self.storage or 'STORAGE'} --experiment {self.experiment_name}` "
                  "logs them from Tune's records", flush=True)

    def log_trial_start(self, trial):
        self._guarded(self._start, trial)

    def log_trial_result(self, iteration, trial, result):
        self._guarded(self._result, trial, result)

    def log_trial_end(self, trial, failed: bool = False):
        self._guarded(self._end, trial, failed)

    def _start(self, trial):
        client = mlflow.MlflowClient(self.tracking_uri)
        if trial not in self._trial_runs:  # a trial resumed after the driver died keeps its run
            existing = self._run_of(client, trial.trial_id)
            if existing:
                self._trial_runs[trial] = existing
                client.update_run(existing, status="RUNNING")
        super().log_trial_start(trial)
        client.set_tag(self._trial_runs[trial], "trial_id", trial.trial_id)

    def _end(self, trial, failed: bool):
        if trial in self._trial_runs:
            super().log_trial_end(trial, failed)

    def _run_of(self, client: mlflow.MlflowClient, trial_id: str) -> str | None:
        """The child run this sweep already made for the trial (Ray's own callback would make a
        second one on restore: ray-project/ray#48664)."""
        experiment = client.get_experiment_by_name(self.experiment_name)
        parent = self.tags.get("mlflow.parentRunId")
        if experiment is None or not parent:
            return None
        runs = client.search_runs([experiment.experiment_id],
                                  f"tags.trial_id = '{trial_id}' and tags.`mlflow.parentRunId` = '{parent}'",
                                  max_results=1)
        return runs[0].info.run_id if runs else None

    def _result(self, trial, result):
        """A report's metrics in one `log_batch` (Ray's callback makes one call, one database
        transaction, per metric: a quarter of a second per report on a sqlite store)."""
        if trial not in self._trial_runs:  # its start was missed while the server was down
            self._start(trial)
        client = mlflow.MlflowClient(self.tracking_uri)
        log_result(client, self._trial_runs[trial], result)
        if result.get("checkpoint_path"):
            client.set_tag(self._trial_runs[trial], "checkpoint", result["checkpoint_path"])


def result_metrics(result: dict, timestamp_ms: int | None = None) -> list[Metric]:
    """A Tune result's numeric values as MLflow metrics at its step, as Ray's MLflow callback
    logs them (step: Tune's training iteration)."""
    step = result.get(TIMESTEPS_TOTAL) or result[TRAINING_ITERATION]
    now = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    metrics = []
    for key, value in flatten_dict(result).items():
        if isinstance(value, str):
            continue  # paths and names; Ray would log a string that parses as a number, none of ours do
        try:
            metrics.append(Metric(key, float(value), now, int(step)))
        except (TypeError, ValueError):
            continue
    return metrics


def log_result(client: mlflow.MlflowClient, run_id: str, result: dict, skip: set | None = None) -> int:
    """Log a result's metrics in batches, leaving out (key, step) pairs in `skip`; how many."""
    metrics = [m for m in result_metrics(result) if not skip or (m.key, m.step) not in skip]
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start:start + BATCH])
    return len(metrics)


def results_frame(result_grid, axes: list[str], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per finished trial: its axis values, seed and final metrics."""
    rows = []
    for r in result_grid:
        if r.error is not None or not (r.metrics or {}).get(FINAL):
            continue
        row = {**{a: r.config.get(a) for a in axes}, "seed": r.config["seed"], "trial_id": r.metrics.get("trial_id")}
        row.update({k: v for k, v in r.metrics.items()
                    if k.removesuffix("_stderr").removesuffix("_floor") in {*SUMMARY_METRICS, *extra}
                    or k in ("realized_code_ratio", "tokens_per_s", "mfu", "startup_s", "train_s", "train_cpu_s",
                             "eval_s", "checkpoint_path")})
        rows.append(row)
    return pd.DataFrame(rows).sort_values([*axes, "seed"]).reset_index(drop=True) if rows else pd.DataFrame()


def histories(result_grid, axes: list[str], metric: str) -> pd.DataFrame:
    """Every report of every trial, finished or stopped early: axes, seed, step, the metric."""
    frames = []
    for r in result_grid:
        h = r.metrics_dataframe
        if h is None or h.empty or "step" not in h:
            continue
        h = h[["step", *(k for k in (metric, f"{metric}_stderr") if k in h)]].copy()
        for a in axes:
            h[a] = r.config.get(a)
        h["seed"], h["trial_id"] = r.config.get("seed"), (r.metrics or {}).get("trial_id", r.path)
        h["finished"] = bool((r.metrics or {}).get(FINAL)) and r.error is None
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


MIN_COMPARED = 6  # trials an early-stopped sweep's optimum is read from, at least


def compared(history: pd.DataFrame, metric: str) -> dict | None:
    """Where trials stopped early (ASHA), the optimum is read where they are comparable: each
    trial's metric at the deepest step that at least MIN_COMPARED trials (or all) reached.
    None when every trial finished: then the final metrics are compared."""
    if history.empty or metric not in history or history.groupby("trial_id")["finished"].first().all():
        return None
    h = history.dropna(subset=[metric])
    counts = h.groupby("step")["trial_id"].nunique().sort_index()
    need = min(MIN_COMPARED, h["trial_id"].nunique())
    step = int(counts[counts >= need].index.max())
    at = h[h["step"] == step].drop_duplicates("trial_id")
    return {"step": step, "max_step": int(h["step"].max()), "frame": at}


def numeric(df: pd.DataFrame, axis: str) -> bool:
    return pd.api.types.is_numeric_dtype(df[axis])


def _groups(df: pd.DataFrame, axes: list[str]):
    """(label, rows) per value of the axes after the first: ('', df) for a one-axis sweep."""
    further = [a for a in axes[1:] if a in df and df[a].nunique() > 1]  # a one-valued axis splits nothing
    if not further:
        yield "", df
        return
    for key, rows in df.groupby(further, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        yield "/".join(f"{a}_{k}" for a, k in zip(further, key, strict=True)), rows


def best_points(df: pd.DataFrame, axis: str, metrics: dict[str, str] | None = None) -> dict[str, dict]:
    """Per metric: the optimum. On a numeric axis, the Gaussian-process fit's best point with
    its bootstrap interval (sweeps/optimum.py); on named variants, the best mean over seeds."""
    from joblib import Parallel, delayed

    from sweeps.optimum import describe, locate
    chosen = {m: mode for m, mode in (metrics or SUMMARY_METRICS).items() if m in df and df[m].notna().any()}
    located = {}
    if numeric(df, axis) and chosen:  # the fits run once the trials are done: every core is free for them
        fits = Parallel(n_jobs=min(len(chosen), os.cpu_count() or 1))(
            delayed(locate)(df[axis].to_numpy(float), df[m].to_numpy(float), mode,
                            df[f"{m}_stderr"].to_numpy(float) if f"{m}_stderr" in df else None)
            for m, mode in chosen.items())
        located = dict(zip(chosen, fits, strict=True))
    out = {}
    for metric, mode in chosen.items():
        means = df.groupby(axis)[metric].mean()
        if numeric(df, axis):
            opt = located[metric]
            out[metric] = {"best": opt.best, "value": opt.value, "mode": mode, "low": opt.low, "high": opt.high,
                           "interior": opt.interior, "p_best": opt.p_best, "p_flat": opt.p_flat,
                           "best_tried": float(means.idxmin() if mode == "min" else means.idxmax()),
                           "loo_mae": opt.loo_mae, "loo_spearman": opt.loo_spearman, "curve": opt.curve,
                           "noise": opt.noise,
                           "sentence": describe(metric, axis, opt)}
        else:
            best = means.idxmin() if mode == "min" else means.idxmax()
            out[metric] = {"best": best, "value": float(means[best]), "mode": mode, "low": best, "high": best,
                           "sentence": f"{metric} is best for {axis} {best} (mean over seeds {means[best]:.4f})"}
    return out


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


def log_summary(df: pd.DataFrame, axes: list[str], primary: str, mode: str,
                compared: dict | None = None, pareto: tuple[str, str] | None = None) -> dict[str, dict]:
    """Log table, plots and optimum to the active (parent) run; return the optimum per metric
    (per value of the further axes, keyed "metric/axis_value", on a several-axis sweep).
    `pareto` (a second metric and its mode): the front of the two objectives as well."""
    axis = axes[0]
    metrics = {**SUMMARY_METRICS, primary: mode, **dict([pareto] if pareto else [])}
    best = {}
    for label, rows in _groups(df, axes):
        for metric, b in best_points(rows, axis, metrics).items():
            best[f"{metric}/{label}" if label else metric] = {**b, "title": label, "frame": rows}
    if compared is not None:  # ASHA stopped trials early: the primary metric where they are comparable
        frame = compared["frame"]
        for label, rows in _groups(frame, axes):
            b = best_points(rows, axis, {primary: mode}).get(primary)
            if b:
                share = compared["step"] / compared["max_step"]
                b["sentence"] += (f" (read at step {compared['step']}, {share:.0%} of the budget, where "
                                  f"{len(rows)} trials were compared; trials stopped early have no final metrics)")
                best[f"{primary}/{label}" if label else primary] = {**b, "frame": rows, "title": label}
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
    mlflow.log_dict({m: {k: v for k, v in b.items() if k not in ("curve", "frame")} for m, b in best.items()},
                    "optimum.json")
    for key, b in best.items():
        metric, _, label = key.partition("/")
        suffix = f"/{label}" if label else ""
        mlflow.log_metric(f"best_{metric}{suffix}", b["value"])
        if numeric(df, axis):
            mlflow.log_metrics({f"best_{axis}_{metric}{suffix}": b["best"], f"best_{axis}_{metric}_low{suffix}": b["low"],
                                f"best_{axis}_{metric}_high{suffix}": b["high"]})
            if math.isfinite(b["loo_mae"]):
                mlflow.log_metrics({f"surrogate_loo_mae_{metric}{suffix}": b["loo_mae"]}
                                   | ({f"surrogate_loo_spearman_{metric}{suffix}": b["loo_spearman"]}
                                      if math.isfinite(b["loo_spearman"]) else {}))
        else:
            mlflow.set_tag(f"best_{axis}_{metric}{suffix}", b["best"])
    _log_comparison(df, axes)  # the study's relative-increase tables
    if primary in best and numeric(df, axis):
        b = best[primary]
        mlflow.log_metrics({f"best_{axis}": b["best"], f"best_{axis}_low": b["low"],
                            f"best_{axis}_high": b["high"]})
    lead = [(f"{k.partition('/')[2]}: " if "/" in k else "") + b["sentence"] for k, b in best.items()
            if k.partition("/")[0] == primary]
    plane = [a for a in axes if a in df and numeric(df, a) and df[a].nunique() > 1][:2]
    if len(plane) == 2 and primary in df and df[primary].notna().sum() >= 4:
        lead.append(_log_surface(df, plane, primary, mode))
    if pareto and primary in df and pareto[0] in df:
        lead.append(_log_pareto(df, axes, (primary, mode), pareto))
    if lead:  # the run's description in the MLflow UI: the optimum in a sentence
        others = [f"- {k.partition('/')[2] + ': ' if '/' in k else ''}{b['sentence']}" for k, b in best.items()
                  if k.partition("/")[0] != primary]
        mlflow.set_tag("mlflow.note.content", "\n\n".join(lead) + "\n\n" + "\n".join(others))
    return best


def _log_pareto(df: pd.DataFrame, axes: list[str], first: tuple[str, str], second: tuple[str, str]) -> str:
    """The Pareto front of two objectives on the parent run: pareto.png, pareto.json, a tag and
    a sentence."""
    from sweeps.pareto import front, label, plot_front
    points, on_front = front(df, axes, first, second)
    best = points[on_front].sort_values(first[0])
    names = [label(row, axes) for _, row in best.iterrows()]
    mlflow.log_dict({"objectives": [first[0], second[0]], "modes": [first[1], second[1]],
                     "front": best.to_dict("records"), "points": points.to_dict("records")}, "pareto.json")
    mlflow.set_tag("pareto_front", "; ".join(names))
    with tempfile.TemporaryDirectory() as tmp:
        plot_front(points, on_front, axes, first, second, Path(tmp) / "pareto.png")
        mlflow.log_artifact(str(Path(tmp) / "pareto.png"))
    return (f"Pareto front of {first[0]} and {second[0]} ({len(best)} of {len(points)} points; no other point is "
            f"better on both): {'; '.join(names)}.")


def _log_surface(df: pd.DataFrame, plane: list[str], metric: str, mode: str) -> str:
    """The surrogate over the plane of two numeric axes (sweeps/surface.py): its best point,
    its leave-one-out error and a contour plot on the parent run; returns it in a sentence."""
    from sweeps.surface import fit_surface, plot_surface
    rows = df.dropna(subset=[*plane, metric])
    s = fit_surface(rows[plane[0]], rows[plane[1]], rows[metric], mode)
    mlflow.log_metrics({f"surface_best_{plane[0]}_{metric}": s.best[0], f"surface_best_{plane[1]}_{metric}": s.best[1],
                        f"surface_best_{metric}": s.value}
                       | {f"surface_loo_{k}_{metric}": v for k, v in (("mae", s.loo_mae), ("spearman", s.loo_spearman))
                          if math.isfinite(v)})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"surface_{metric}.png"
        plot_surface(rows[plane[0]], rows[plane[1]], rows[metric], s, tuple(plane), metric, path)
        mlflow.log_artifact(str(path))
    return (f"Over the plane of {plane[0].replace('_', ' ')} x {plane[1].replace('_', ' ')}, a surrogate fitted on "
            f"{len(rows)} trials predicts {metric} best at ({s.best[0]:.2f}, {s.best[1]:.2f}), {s.value:.4g} there "
            f"(leave-one-trial-out MAE {s.loo_mae:.3g}, rank correlation {s.loo_spearman:.2f}).")


def _log_comparison(df: pd.DataFrame, axes: list[str]) -> None:
    """The study's tables: each point's category scores (mean over seeds) and its relative
    increase over the text-only one (code ratio 0, recipe text_only) or the first, per value
    of the further axes; comparison.md, comparison.csv and comparison.json on the parent."""
    from evaluation.compare import compare, table
    axis = axes[0]
    columns = [c for c in ("nl_reasoning", "world_knowledge", "code_pass1", "win_rate", "nl_reasoning_bpb",
                           "world_knowledge_bpb", "code_bpb", "val_bpb_text", "val_bpb_code")
               if c in df and df[c].notna().all()]
    sections, rows, results = [], [], {}
    for label, group in _groups(df, axes):
        means = group.groupby(axis)[columns].mean()
        if not columns or len(means) < 2:
            continue
        means.index = [f"{axis}={v:g}" if isinstance(v, float) else str(v) for v in means.index]
        baseline = next((v for v in means.index if v in (f"{axis}=0", ) or v.startswith("text_only")), means.index[0])
        result = compare(means, baseline)
        title = f"## {label.replace('_', ' ', 1)}\n\n" if label else ""
        scores = means.to_markdown(floatfmt=".4f")
        sections.append(f"{title}Scores (mean over seeds):\n\n{scores}\n\n{table(result, baseline)}\n")
        results[label or "all"] = {"baseline": baseline, "variants": result}
        for variant, cells in result.items():
            for c, r in cells.items():
                rows.append({"group": label, "variant": variant, "baseline_variant": baseline, "metric": c, **r})
    if not sections:
        return
    mlflow.log_text("\n".join(sections), "comparison.md")
    mlflow.log_dict(results if len(results) > 1 else next(iter(results.values())), "comparison.json")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "comparison.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        mlflow.log_artifact(str(path))
