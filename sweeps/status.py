"""Watch a sweep from a terminal: its trials, their state and progress, and the best point so far.

    python -m sweeps.status --storage runs --experiment codemix-ratio
    python -m sweeps.status --storage runs --experiment codemix-ratio --watch 30   # every 30 s until done

Reads what the sweep writes as it goes: Tune's experiment snapshot and each trial's results
under STORAGE/tune (the record of the sweep, whether or not the tracking server is up), and
from MLflow the sweep's metric and axis and, once it is done, the optimum its parent run
logged. While it runs, the best point and its 95% interval are fitted on the trials finished
so far (sweeps/optimum.py), and the line says how many that is.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import pandas as pd

DONE = {"FINISHED", "STOPPED", "ERROR"}  # STOPPED: by ASHA


def _sweep(storage, experiment: str) -> dict:
    from sweeps import store
    state = store.join(storage, f"{experiment}.sweep.json")
    if not store.exists(state):
        raise ValueError(f"no sweep {experiment!r} under {storage} (no {experiment}.sweep.json); "
                         "give the --storage and --experiment the sweep was started with")
    return json.loads(store.read_text(state))


def _parent(tracking_uri: str, run_id: str):
    """The parent run, or None (with a line saying why) when the tracking server does not answer
    (asked once, not retried for minutes: a status report reads Tune's records either way)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    import mlflow
    try:
        return mlflow.MlflowClient(tracking_uri).get_run(run_id)
    except Exception as e:  # noqa: BLE001 - an unreachable server must not stop a status report
        print(f"MLflow at {tracking_uri} did not answer ({type(e).__name__}); reading Tune's records only",
              file=sys.stderr)
        return None


def _steps(config: dict) -> int | None:
    """A trial's steps, from its config (without TrainConfig's checks, which may need the data)."""
    if "steps" in config:  # the planted sweep's trials
        return int(config["steps"])
    from trainers.sizes import SIZES
    size = SIZES.get(config.get("model_size"))
    if size is None or not config.get("tokens") or not config.get("global_batch"):
        return None
    return int(config["tokens"]) // (int(config["global_batch"]) * size.seq_len)


def trial_results(trial) -> list[dict]:
    """Every result the trial reported, from its result.json (one JSON object a line), which
    Tune appends to as results come: newer than the experiment's periodic snapshot."""
    import pyarrow.fs
    fs, path = trial.storage.storage_filesystem, f"{trial.path}/result.json"  # local or s3://, as stored
    if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return []
    with fs.open_input_stream(path) as f:
        return [json.loads(line) for line in f.readall().decode().splitlines() if line.strip()]


def trials_frame(tune_path: str, axes: list[str], metric: str, base: dict | None = None) -> pd.DataFrame:
    """One row per trial Tune has made so far: its point, state, progress and last metric."""
    from ray.tune import ExperimentAnalysis
    from sweeps.metrics import FINAL
    analysis = ExperimentAnalysis(tune_path)
    rows = []
    for t in analysis.trials:
        results = trial_results(t)
        last = results[-1] if results else (t.last_result or {})
        steps = _steps({**(base or {}), **t.config})
        step = max((r["step"] for r in results if isinstance(r.get("step"), (int, float))), default=None)
        state = ("FINISHED" if last.get(FINAL) is True or last.get(FINAL) == 1 else
                 "STOPPED" if t.status == "TERMINATED" else
                 "RUNNING" if t.status == "PENDING" and step else t.status)
        rows.append({"trial": t.trial_id, **{a: t.config.get(a) for a in axes}, "seed": t.config.get("seed"),
                     "state": state, "progress": f"{step / steps:.0%}" if step and steps else "",
                     metric: last.get(metric), f"{metric}_stderr": last.get(f"{metric}_stderr")})
    return pd.DataFrame(rows)


def planned(params: dict, axes: list[str]) -> int | None:
    """Trials the sweep will run in all, from its parent run's params."""
    if params.get("trials", "grid") != "grid":
        return int(params["trials"])
    try:
        sizes = [len(params["grid" if i == 0 else f"grid_{a}"].split(",")) for i, a in enumerate(axes)]
        return math.prod(sizes) * int(params["seeds"])
    except (KeyError, ValueError):
        return None


def best_line(df: pd.DataFrame, axis: str, metric: str, mode: str, parent) -> str:
    done = df[df["state"] == "FINISHED"].dropna(subset=[metric])
    if parent is not None and f"best_{axis}" in parent.data.metrics:
        m = parent.data.metrics
        note = parent.data.tags.get("mlflow.note.content", "").split("\n")[0]
        return (f"Best {axis} for {metric} (the sweep's summary): {m[f'best_{axis}']:.3g}, 95% interval "
                f"{m[f'best_{axis}_low']:.3g}-{m[f'best_{axis}_high']:.3g}. {note}")
    if done[axis].nunique() < 2 or not pd.api.types.is_numeric_dtype(done[axis]):
        return f"Best {axis} for {metric}: not yet, {len(done)} trial(s) finished at {done[axis].nunique()} point(s)"
    from sweeps.optimum import describe, locate
    se = done[f"{metric}_stderr"]
    opt = locate(done[axis], done[metric], mode, se if se.notna().all() else None)
    return f"So far, from {len(done)} finished trials: {describe(metric, axis, opt)}"


def report(storage: Path, experiment: str, tracking_uri: str) -> bool:
    """Print the sweep's state; True when every trial is done."""
    from sweeps.spec import metric_mode
    sweep = _sweep(storage, experiment)
    parent = _parent(tracking_uri, sweep["parent_run_id"])
    params = parent.data.params if parent is not None else {}
    # The sweep's record says what it sweeps; a sweep recorded before it did, its parent run.
    axes = sweep.get("axes") or params.get("axes", "code_ratio").split(",")
    metric = sweep.get("metric") or params.get("metric", "val_bpb_text")
    mode = sweep.get("mode") or metric_mode(metric)
    df = trials_frame(sweep["tune_path"], axes, metric, sweep.get("base"))
    total = sweep.get("trials") or planned(params, axes)
    counts = ", ".join(f"{n} {s.lower()}" for s, n in df["state"].value_counts().items())
    waiting = f", {total - len(df)} not started" if total and total > len(df) else ""
    print(f"Sweep {experiment!r} ({sweep['tune_path']}): {total or len(df)} trials: {counts}{waiting}")
    print(df.to_markdown(index=False, floatfmt=".4f"))
    further = [a for a in axes[1:] if a in df and df[a].nunique() > 1]  # a size, a share: located per value
    groups = df.groupby(further, sort=True) if further else [((), df)]
    for key, rows in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = " ".join(f"{a}={k}" for a, k in zip(further, key, strict=True))
        print(f"{label + ': ' if label else ''}{best_line(rows, axes[0], metric, mode, None if label else parent)}",
              flush=True)
    return bool(len(df)) and (total or 0) <= len(df) and df["state"].isin(DONE).all()


def sweep_parser(doc: str) -> argparse.ArgumentParser:
    """The flags that name a sweep already run: where it stored its records, and MLflow."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default="runs", help="the sweep's --storage (default runs)")
    parser.add_argument("--experiment", default="codemix-ratio", help="the sweep's --experiment (default codemix-ratio)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default $MLFLOW_TRACKING_URI, else sqlite:///STORAGE/mlflow.db)")
    return parser


def storage_and_uri(args: argparse.Namespace) -> tuple[Path | str, str]:
    from sweeps import store
    from sweeps.spec import default_tracking
    storage = args.storage.rstrip("/") if store.is_uri(args.storage) else Path(args.storage).expanduser().resolve()
    return storage, args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking(storage)


def main(argv: list[str] | None = None) -> int:
    parser = sweep_parser(__doc__)
    parser.add_argument("--watch", type=float, default=0, metavar="SECONDS",
                        help="print again every SECONDS until every trial is done (default: once)")
    args = parser.parse_args(argv)
    try:
        storage, uri = storage_and_uri(args)
        _sweep(storage, args.experiment)
        if args.watch < 0:
            raise ValueError(f"--watch must be >= 0 seconds, got {args.watch}")
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    while not report(storage, args.experiment, uri) and args.watch:
        time.sleep(args.watch)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
