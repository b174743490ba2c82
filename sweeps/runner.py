"""Run a sweep: Ray Tune over trial configs, MLflow parent and children, summary at the end.

    data = prepare_sweep(spec, train_configs(trial_configs(spec, "code_ratio", grid)))
    df, best, run_id = run_sweep(spec, data, "code_ratio", grid)

A sweep script only names its axis; everything else (resources, search, resume, tracking)
lives here. `--resume` reopens the stored Tune experiment and the same MLflow parent run:
finished trials are kept, unfinished and errored ones run again.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

import mlflow
import ray
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from sweeps.spec import SweepSpec
from sweeps.tracking import ChildRunCallback, log_summary, numeric, results_frame, tracking
from sweeps.trial import TRAIN_FIELDS, run_trial
from trainers.data.prepare import PreparedData, prepare
from trainers.flops import cpu_peak
from trainers.config import TrainConfig
from trainers.sizes import get_size, model_config

# Tune's trial function only waits on its Train job; a tenth of a CPU leaves the rest to the
# workers, so one trial (2 workers at 0.9 CPU) fits a 2-core laptop.
DRIVER_CPU = 0.1
# Tune hands a finished trial's actor (torch and this package already imported) to the next
# trial instead of starting a process per trial: ~2 s less per trial on 2 cores (bench/fixed_cost.py).
REUSE_TRIAL_ACTORS = True


def trial_configs(spec: SweepSpec, axis: str, points, manifest: str = "") -> list[dict]:
    """The resolved configs of a grid sweep (what --dry-run prints); validates each one."""
    return [_params(spec, {axis: p, "seed": seed}, manifest) for p in points for seed in spec.seeds]


def _params(spec: SweepSpec, overrides: dict, manifest: str) -> dict:
    """A trial's flat params: the TrainConfig fields, plus the axes that are not fields."""
    train = {"code_ratio": 0.0, **{k: v for k, v in overrides.items() if k in TRAIN_FIELDS}}
    extra = {k: v for k, v in overrides.items() if k not in TRAIN_FIELDS}
    cfg = spec.train_config(manifest=manifest, **train)
    return {**asdict(cfg), **extra, "init_source": cfg.init_checkpoint or "scratch",
            "train_storage": str(spec.storage / "train")}


def prepare_sweep(spec: SweepSpec, configs: list[TrainConfig]) -> PreparedData:
    """Prepare the data once for all trials; check every run against it before Ray starts."""
    data = prepare(vocab_size=get_size(spec.size).vocab_size, registry=spec.registry())
    for cfg in configs:
        cfg.check_data(data)
    for threads in {c.cpu_threads for c in configs if not c.use_gpu}:
        cpu_peak(threads)  # for MFU: measured here, before Ray and the trials load the machine
    _random_floors(data, configs)
    return data


def _random_floors(data: PreparedData, configs: list[TrainConfig]) -> None:
    """Each benchmark's Glorot-random floor, once per size and tokenizer (cached), measured here
    before the trials start, so that no trial spends its evaluation time on it."""
    todo = {(c.model_size, tuple(c.benchmarks), c.eval_limit) for c in configs if c.benchmarks}
    if not todo:
        return
    from transformers import AutoTokenizer  # not at the top: --dry-run and bad input stay fast
    from evaluation.floor import random_floor
    tokenizer = AutoTokenizer.from_pretrained(data.tokenizer_dir)
    for size, benchmarks, limit in sorted(todo, key=lambda t: (t[0], t[2])):
        print(f"[eval] random floor for size {size}: {len(benchmarks)} tasks, {limit or 'all'} items each "
              "(cached after the first sweep)", flush=True)
        start = time.perf_counter()
        random_floor(model_config(size), tokenizer, list(benchmarks), limit or None)
        print(f"[eval] random floor ready in {time.perf_counter() - start:.1f} s", flush=True)


def train_configs(params: list[dict]) -> list[TrainConfig]:
    return [TrainConfig(**{k: v for k, v in p.items() if k in TRAIN_FIELDS}) for p in params]


def _param_space(spec: SweepSpec, axis: str, grid, low: float, high: float, manifest: str):
    base = _params(spec, {axis: grid[0], "seed": spec.seeds[0]}, manifest)
    if spec.search == "grid":
        return {**base, axis: tune.grid_search(list(grid)), "seed": tune.grid_search(list(spec.seeds))}, None, 1
    searcher = OptunaSearch(metric=spec.metric, mode=spec.mode, seed=spec.seeds[0])
    return {**base, axis: tune.uniform(low, high)}, searcher, spec.trials


def _concurrency(spec: SweepSpec) -> int:
    """Trials that fit at once: the Train workers hold nearly all of a trial's resources."""
    p = spec.train_config(code_ratio=0.0, seed=0)
    res = ray.cluster_resources()
    if p.use_gpu:
        return max(1, int(res.get("GPU", 0) // p.num_workers))
    return max(1, int(res.get("CPU", 1) // (p.num_workers * p.cpus_per_worker + DRIVER_CPU)))


def _state_file(spec: SweepSpec):
    return spec.storage / f"{spec.experiment}.sweep.json"


def run_sweep(spec: SweepSpec, data: PreparedData, axis: str, grid, low: float = 0.0, high: float = 1.0,
              trainable=run_trial, after_trials=None):
    """Run the sweep and return (results DataFrame, optimum per metric, parent run id).
    `after_trials(df, parent_run_id) -> df` adds columns (win-rates) before the summary."""
    if not ray.is_initialized():
        ray.init()  # joins $RAY_ADDRESS or this machine's running cluster, else starts a local one
    with tracking(spec.tracking_uri):
        return _run(spec, data, axis, grid, low, high, trainable, after_trials)


def _run(spec, data, axis, grid, low, high, trainable, after_trials):
    if spec.tracking_uri.startswith("sqlite:") and mlflow.get_experiment_by_name(spec.experiment) is None:
        # Beside the sqlite store, not in ./mlruns of whatever folder the sweep was started from.
        mlflow.create_experiment(spec.experiment, artifact_location=(spec.storage / "artifacts").as_uri())
    mlflow.set_experiment(spec.experiment)
    state = _state_file(spec)
    previous = json.loads(state.read_text()) if spec.resume and state.exists() else None
    if spec.resume and previous is None:
        raise ValueError(f"--resume: no sweep {spec.experiment!r} stored under {spec.storage}")

    parent_id = previous["parent_run_id"] if previous else None
    with mlflow.start_run(run_id=parent_id, run_name=None if parent_id else f"{spec.experiment}-sweep",
                          tags={"sweep": spec.experiment, "axis": axis}) as parent:
        if previous:
            tuner = tune.Tuner.restore(previous["tune_path"], tune.with_resources(trainable, {"CPU": DRIVER_CPU}),
                                       resume_errored=True)
        else:
            mlflow.log_params({"preset": spec.preset, "model_size": spec.size, "tokens": spec.tokens,
                               "data": spec.data, "data_missing": ",".join(data.missing()) or "none",
                               "code_mix": spec.code_mix, "text_mix": spec.text_mix or "by size",
                               "synthetic_share": spec.synthetic_share,
                               "seeds": len(spec.seeds), "search": spec.search, "axis": axis,
                               "grid": ",".join(map(str, grid)), "metric": spec.metric})
            space, searcher, samples = _param_space(spec, axis, grid, low, high, str(data.manifest))
            name = f"{spec.experiment}-{parent.info.run_id[:8]}"
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"CPU": DRIVER_CPU}),
                param_space=space,
                tune_config=tune.TuneConfig(search_alg=searcher, num_samples=samples,
                                            max_concurrent_trials=_concurrency(spec),
                                            reuse_actors=REUSE_TRIAL_ACTORS),
                run_config=tune.RunConfig(
                    name=name, storage_path=str(spec.storage / "tune"),
                    callbacks=[ChildRunCallback(tracking_uri=spec.tracking_uri,
                                                experiment_name=spec.experiment,
                                                tags={"mlflow.parentRunId": parent.info.run_id,
                                                      "sweep": spec.experiment})]))
            state.write_text(json.dumps({"parent_run_id": parent.info.run_id,
                                         "tune_path": str(spec.storage / "tune" / name)}))
        results = tuner.fit()
        df = results_frame(results, axis)
        if df.empty:
            raise RuntimeError(f"no trial of sweep {spec.experiment!r} finished; see the Tune errors above")
        if after_trials is not None:
            df = after_trials(df, parent.info.run_id)
        best = log_summary(df, axis, spec.metric)
    return df, best, parent.info.run_id


def print_summary(df, best: dict, axis: str, run_id: str, tracking_uri: str) -> None:
    shown = [c for c in df.columns if c not in ("checkpoint_path", "trial_id") and not c.endswith(("_stderr", "_floor"))]
    print("\nResults (one row per trial):")
    print(df[shown].to_markdown(index=False, floatfmt=".4f"))
    print(f"\nThe optimum per metric ({'a Gaussian-process fit, 95% bootstrap interval' if numeric(df, axis) else 'mean over seeds'}):")
    for metric, b in best.items():
        print(f"  {b['sentence']}")
    print(f"\nMLflow parent run {run_id} in {tracking_uri}")
    if tracking_uri.startswith("sqlite:///"):
        print(f"  look at it with:  mlflow ui --backend-store-uri {tracking_uri}")
    sys.stdout.flush()
