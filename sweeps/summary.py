"""A finished sweep's summary on its parent run: the optimum per metric (sweeps/optimum.py)
and, per value of any further axis, the results table, the plot, the study's comparison
tables, a Pareto front and a surface where asked, and the optimum in words as the run's
description. `best_points` computes; `log_summary` writes to the active MLflow run."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from sweeps.metrics import SUMMARY_METRICS
from sweeps.plots import plot
from sweeps.results import numeric


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
