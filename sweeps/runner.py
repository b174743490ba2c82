"""Run a sweep: Ray Tune over trial configs, MLflow parent and children, summary at the end.

    axes = [Axis("code_ratio", (0, 0.25, 0.5), low=0.0, high=1.0)]      # sweeps.plan
    data = prepare_sweep(spec, train_configs(trial_configs(spec, axes)))  # sweeps.plan
    df, best, run_id = run_sweep(spec, data, axes)

A sweep script only names its axes; everything else (resources, search, early stopping,
resume, tracking) lives here. The first axis is the one the optimum is located on; further
axes (a model size, a synthetic share) are swept with it. Search: `grid` runs every point
with every seed (the same seeds at every point: a paired design); `optuna` is Optuna's TPE,
define-by-run (an axis with `only_if` is suggested only when that axis is above zero), the
seeds taken in turn. `--asha` stops weak Optuna trials early with Tune's ASHA scheduler,
comparing trials on the sweep's metric as each trial measures it during training on fixed
held-out tokens or benchmark items (`TrainConfig.track_metric`), never on the training loss
of its own mixture. `--resume` reopens the stored Tune experiment and the same MLflow parent
run: finished trials are kept, unfinished and errored ones run again.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass

import mlflow
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from sweeps import plan, store
from sweeps.cluster import check_shared, connect
from sweeps.console import TrialLines
from sweeps.plan import DRIVER_CPU, TRAIN_FIELDS, Axis
from sweeps.spec import SweepSpec, metric_mode
from sweeps.results import compared, histories, numeric, results_frame
from sweeps.summary import log_summary
from sweeps.tracking import ChildRunCallback, tracking, use_experiment
from sweeps.trial import run_trial
from trainers.data.prepare import PreparedData
from trainers.config import TrainConfig

# Tune hands a finished trial's actor (torch and this package already imported) to the next
# trial instead of starting a process per trial: ~2 s less per trial on 2 cores (bench/perf/fixed_cost.py).
REUSE_TRIAL_ACTORS = True
# ASHA: rungs at a ninth and a third of the budget, a third of the trials promoted at each.
ASHA_REDUCTION = 3
TRIAL_RETRIES = 2    # a trial is run again this often after its process died (a node lost)


@dataclass(frozen=True)
class DefineByRun:
    """Optuna's define-by-run space (a class, not a closure: Tune pickles the searcher)."""
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]

    def __call__(self, trial):
        named = {}  # what an axis names from its suggestions (a mixture's label)
        for a in sorted(self.axes, key=lambda a: bool(a.only_if)):  # conditions after what they test
            if not a.only_if or trial.params.get(a.only_if, 0) > 0:
                value = a.suggest(trial)
                named.update(value if isinstance(value, dict) else {})
        return {**named, "seed": self.seeds[trial.number % len(self.seeds)]}


@dataclass(frozen=True)
class TrialName:
    """A trial's name in Tune's table and MLflow: its point, e.g. `code_ratio=0.25 seed=1`
    (stable, no random suffix); its folder is `trial_<id>`."""
    axes: tuple[str, ...]

    def __call__(self, trial) -> str:
        c = trial.config
        shown = [f"{a}={c[a]:.4g}" if isinstance(c[a], float) else f"{a}={c[a]}" for a in self.axes if a in c]
        return " ".join([*shown, f"seed={c.get('seed')}"])


def trial_folder(trial) -> str:
    return f"trial_{trial.trial_id}"


def _trial_count(spec: SweepSpec, axes: list[Axis]) -> int:
    return spec.trials if spec.search != "grid" else math.prod(len(a.values) for a in axes) * len(spec.seeds)


def _param_space(spec: SweepSpec, axes: list[Axis], steps: int):
    """(param space, searcher, scheduler, samples) for Tune. The space holds only what is swept
    (the axes and the seed); the rest of every trial's config is the base its trainable gets."""
    if spec.search == "grid":
        return ({**{a.name: tune.grid_search(list(a.values)) for a in axes},
                 "seed": tune.grid_search(list(spec.seeds))}, None, None, 1)

    import optuna
    # With --pareto, multi-objective TPE: Tune takes a list of metrics and one of modes.
    metric, mode = (list(spec.objectives), [metric_mode(m) for m in spec.objectives]) if spec.pareto \
        else (spec.metric, spec.mode)
    searcher = OptunaSearch(space=DefineByRun(tuple(axes), spec.seeds), metric=metric, mode=mode,
                            sampler=optuna.samplers.TPESampler(seed=spec.seeds[0],
                                                               n_startup_trials=min(10, spec.trials // 3 + 1)))
    scheduler = None
    if spec.asha:
        # max_t one past the last step: ASHA stops a trial at max_t, before its final report.
        scheduler = ASHAScheduler(time_attr="step", metric=spec.metric, mode=spec.mode, max_t=steps + 1,
                                  grace_period=max(1, steps // ASHA_REDUCTION ** 2), reduction_factor=ASHA_REDUCTION)
    # Optuna suggests every swept value; a conditional axis not suggested keeps its first value.
    return {a.name: a.values[0] for a in axes if a.only_if}, searcher, scheduler, spec.trials


def _check_state_api() -> None:
    """ASHA stops trials mid-training; Ray Train frees a stopped trial's placement group only
    when its cleaner can ask the state API (the dashboard) that the trial's controller is gone.
    Without it the next trial would wait for CPUs forever: refuse instead."""
    from ray.util.state import list_nodes
    try:
        list_nodes(limit=1, timeout=10)
    except Exception as e:  # noqa: BLE001 - any failure means the API is not there
        raise ValueError("--asha needs Ray's dashboard (its state API frees the resources of stopped trials), "
                         f"and this cluster has none ({type(e).__name__}): start Ray with its dashboard") from None


def _concurrency(spec: SweepSpec, base: dict) -> int:
    """Trials that fit at once: the Train workers hold nearly all of a trial's resources."""
    res = ray.cluster_resources()
    workers, cpus = base.get("num_workers", 1), base.get("cpus_per_worker", 0.0)
    if base.get("use_gpu"):
        return max(1, int(res.get("GPU", 0) // workers))
    return max(1, int(res.get("CPU", 1) // (workers * cpus + DRIVER_CPU)))


def _state_file(spec: SweepSpec):
    return store.join(spec.storage, f"{spec.experiment}.sweep.json")


def sweep_params(spec: SweepSpec, data: PreparedData, axes: list[Axis]) -> dict:
    """What the parent run logs as its params."""
    base = spec.base
    return {"preset": spec.preset, "model_size": base.model_size, "tokens": base.tokens, "data": spec.data,
            "data_missing": ",".join(data.missing()) or "none", "code_mix": base.code_mix,
            "text_mix": base.text_mix or "by size", "synthetic_share": base.synthetic_share,
            **_search_params(spec, axes)}


def _search_params(spec: SweepSpec, axes: list[Axis]) -> dict:
    return {"seeds": len(spec.seeds), "search": spec.search, "asha": spec.asha, "axis": axes[0].name,
            "axes": ",".join(a.name for a in axes),
            **{f"grid_{a.name}" if i else "grid": ",".join(map(str, a.values)) for i, a in enumerate(axes)},
            "metric": spec.metric, "pareto": spec.pareto or "none",
            "trials": spec.trials if spec.search != "grid" else "grid"}


def run_sweep(spec: SweepSpec, data: PreparedData | None, axes: list[Axis], trainable=run_trial,
              after_trials=None, base: dict | None = None, params: dict | None = None, concurrency: int | None = None,
              reuse_actors: bool = REUSE_TRIAL_ACTORS):
    """Run the sweep and return (results DataFrame, optimum per metric, parent run id).
    `after_trials(df, parent_run_id) -> df` adds columns (win-rates) before the summary.
    `base` (the constant part of every trial's config) and `params` (the parent's params)
    default to a training sweep's; the planted sweep gives its own."""
    if base is None:
        base = plan.params(spec, {**{a.name: a.values[0] for a in axes}, "seed": spec.seeds[0]}, data.location)
        params = sweep_params(spec, data, axes)
    steps = base.get("steps") or TrainConfig(**{k: v for k, v in base.items() if k in TRAIN_FIELDS}).steps
    # Joins $RAY_ADDRESS or this machine's running cluster, else starts a local one. The Train
    # workers' own logs (every report, checkpoint and process group) reach the terminal only
    # with --verbose: otherwise a line per trial (sweeps/console.py), the rest in Ray's logs.
    connect(log_to_driver=spec.verbose)
    check_shared(spec.storage)  # several nodes: each must see the storage, before any trial starts
    if spec.asha and data is not None:  # a training sweep (the planted one trains nothing)
        _check_state_api()
    with tracking(spec.tracking_uri):
        trainable = tune.with_resources(tune.with_parameters(trainable, base=base), {"CPU": DRIVER_CPU})
        return _run(spec, axes, base, steps, params, trainable, after_trials, concurrency or _concurrency(spec, base),
                    reuse_actors)


def _run(spec, axes, base, steps, params, trainable, after_trials, concurrency, reuse_actors):
    axis = axes[0].name
    use_experiment(spec.experiment, spec.storage, spec.tracking_uri)
    state = _state_file(spec)
    previous = json.loads(store.read_text(state)) if spec.resume and store.exists(state) else None
    if spec.resume and previous is None:
        raise ValueError(f"--resume: no sweep {spec.experiment!r} stored under {spec.storage}")

    parent_id = previous["parent_run_id"] if previous else None
    with mlflow.start_run(run_id=parent_id, run_name=None if parent_id else f"{spec.experiment}-sweep",
                          tags={"sweep": spec.experiment, "axis": axis}) as parent:
        if previous:
            tuner = tune.Tuner.restore(previous["tune_path"], trainable, resume_errored=True)
        else:
            mlflow.log_params(params)
            space, searcher, scheduler, samples = _param_space(spec, axes, steps)
            name = f"{spec.experiment}-{parent.info.run_id[:8]}"
            tuner = tune.Tuner(
                trainable,
                param_space=space,
                tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=samples,
                                            max_concurrent_trials=concurrency,
                                            trial_name_creator=TrialName(tuple(a.name for a in axes)),
                                            trial_dirname_creator=trial_folder,
                                            # ASHA's stops need fresh actors (Tune: "reuse requires
                                            # reset_config()"), and a killed actor frees its Train run.
                                            reuse_actors=reuse_actors and scheduler is None),
                run_config=tune.RunConfig(
                    name=name, storage_path=str(store.join(spec.storage, "tune")),
                    # A trial whose actor died with its node runs again; its Train run, found by
                    # name in the storage, resumes from its last checkpoint.
                    failure_config=tune.FailureConfig(max_failures=TRIAL_RETRIES),
                    # Tune's status table and configuration boxes only when asked; one line a trial otherwise.
                    verbose=2 if spec.verbose else 0,
                    callbacks=[ChildRunCallback(tracking_uri=spec.tracking_uri, base=base,
                                                experiment_name=spec.experiment, storage=str(spec.storage),
                                                tags={"mlflow.parentRunId": parent.info.run_id,
                                                      "sweep": spec.experiment}),
                               TrialLines(total=_trial_count(spec, axes), metrics=spec.objectives)]))
            # The sweep's record: what `status` and `sync` need, readable with MLflow down.
            store.write_text(state, json.dumps({"parent_run_id": parent.info.run_id,
                                                "tune_path": str(store.join(spec.storage, "tune", name)),
                                                "axes": [a.name for a in axes], "metric": spec.metric,
                                                "mode": spec.mode, "search": spec.search,
                                                "trials": _trial_count(spec, axes), "base": base}))
        results = tuner.fit()
        df = results_frame(results, [a.name for a in axes], extra=spec.objectives)
        if df.empty:
            raise RuntimeError(f"no trial of sweep {spec.experiment!r} finished; see the Tune errors above")
        if after_trials is not None:
            df = after_trials(df, parent.info.run_id)
        history = histories(results, [a.name for a in axes], spec.metric)
        df.attrs["history"] = history  # every report, the stopped trials' too (a mixture search's laws use them)
        budget = int(history.groupby("trial_id")["step"].max().sum()) if not history.empty else 0
        mlflow.log_metrics({"budget_steps": budget, "budget_trials": len(results)})
        best = log_summary(df, [a.name for a in axes], spec.metric, spec.mode, compared=compared(history, spec.metric),
                           pareto=(spec.pareto, metric_mode(spec.pareto)) if spec.pareto else None)
    return df, best, parent.info.run_id


def print_summary(df, best: dict, axis: str, run_id: str, tracking_uri: str) -> None:
    shown = [c for c in df.columns if c not in ("checkpoint_path", "trial_id") and "/" not in c
             and not c.endswith(("_stderr", "_floor"))]
    print("\nResults (one row per trial):")
    print(df[shown].to_markdown(index=False, floatfmt=".4f"))
    how = "a Gaussian-process fit, 95% bootstrap interval" if numeric(df, axis) else "mean over seeds"
    print(f"\nThe optimum per metric ({how}):")
    for b in best.values():
        print(f"  {b['sentence']}")
    print(f"\nMLflow parent run {run_id} in {tracking_uri}")
    # MLflow 3's UI opens on its GenAI view unless asked for the model-training one.
    experiment = mlflow.MlflowClient(tracking_uri).get_run(run_id).info.experiment_id
    page = f"#/experiments/{experiment}/runs/{run_id}?workflowType=machine_learning"
    if tracking_uri.startswith(("http://", "https://")):
        print(f"  open {tracking_uri.rstrip('/')}/{page}")
    elif tracking_uri.startswith("sqlite:///"):
        print(f"  look at it with:  mlflow ui --backend-store-uri {tracking_uri}")
        print(f"  then open http://127.0.0.1:5000/{page}")
    sys.stdout.flush()
