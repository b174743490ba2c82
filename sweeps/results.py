"""Tune's results as tables: one row per finished trial, every report of every trial, and
where trials stopped early can be compared. pandas only: no MLflow, no plotting."""

from __future__ import annotations

import pandas as pd

from sweeps.metrics import FINAL, SUMMARY_METRICS


def results_frame(result_grid, axes: list[str], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per finished trial: its axis values, seed and final metrics."""
    rows = []
    for r in result_grid:
        if r.error is not None or not (r.metrics or {}).get(FINAL):
            continue
        row = {**{a: r.config.get(a) for a in axes}, "seed": r.config["seed"], "trial_id": r.metrics.get("trial_id")}
        row.update({k: v for k, v in r.metrics.items()
                    if k.removesuffix("_stderr").removesuffix("_floor") in {*SUMMARY_METRICS, *extra}
                    or k.partition("/")[2] in SUMMARY_METRICS  # a recipe's stage's own score: "init/nl_reasoning"
                    or k in ("stages_reused", "realized_code_ratio", "tokens_per_s", "mfu", "startup_s", "train_s",
                             "train_cpu_s", "eval_s", "checkpoint_path")})
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


