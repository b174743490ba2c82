"""What a sweep will run, checked before Ray starts: its axes, each trial's config, the data.

    axes = [Axis("code_ratio", (0, 0.25, 0.5), low=0.0, high=1.0)]
    configs = trial_configs(spec, axes)              # what --dry-run prints; validates each one
    data = prepare_sweep(spec, train_configs(configs))

Nothing here imports Ray, MLflow or torch: a sweep script parses its flags, validates every
trial and answers `--help`, `--dry-run` and bad input in about a second; sweeps/runner.py
(Ray Tune, MLflow) is imported only once there is something to run.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from sweeps import store
from sweeps.simplex import SHORT, from_unit, label, parse_label, to_fields
from sweeps.spec import SweepSpec
from trainers.config import TrainConfig, check_machine
from trainers.data.prepare import PreparedData
from trainers.memory import PLAN_MFU, PLAN_PEAK, Plan, fitted, plan_for
from trainers.sizes import get_size, model_config

TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
# Tune's trial function only waits on its Train job; a tenth of a CPU leaves the rest to the
# workers, so one trial (2 workers at 0.9 CPU) fits a 2-core laptop.
DRIVER_CPU = 0.1
# Bigger than any study (the paper's is ~60 trials; RegMix's swarm 512): a typo in --seeds or a
# grid would otherwise spend minutes building configs before saying anything.
MAX_TRIALS = 10_000
REPORTS_TRACKED = 9  # reports per trial when the metric is tracked during training
# An axis over where the code comes from (sweeps/synthetic.py --sources): each value names the
# training fields it sets; the code budget is all of that one family.
CODE_SOURCES = {"web_code": {"code_mix": "web_code:1", "synthetic_share": 0.0},
                "markup": {"code_mix": "markup:1", "synthetic_share": 0.0},
                "code_adjacent": {"code_mix": "code_adjacent:1", "synthetic_share": 0.0},
                "synthetic": {"synthetic_share": 1.0}}


def derived(config: dict) -> dict:
    """A trial's config with the training fields its named axes stand for filled in: a code
    source's code mix, a mixture's code ratio, code and text mixes (and each part's share)."""
    if "code_source" in config:
        return {**config, **CODE_SOURCES[config["code_source"]]}
    if "mixture" in config:
        shares = parse_label(config["mixture"])
        return {**config, **to_fields(shares), **{f"share_{p.replace('/', '_')}": s for p, s in shares.items()}}
    return config


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple                # the grid's points (replication), or a categorical axis's choices
    low: float | None = None     # Optuna's range on a numeric axis; None: Optuna picks among values
    high: float | None = None
    only_if: str = ""            # Optuna: suggest this axis only when that axis is above zero

    def suggest(self, trial):
        if self.low is not None:
            return trial.suggest_float(self.name, self.low, self.high)
        return trial.suggest_categorical(self.name, list(self.values))


@dataclass(frozen=True)
class SimplexAxis(Axis):
    """Optuna over the whole mixture: one number in [0, 1] a part (`u_enc`, `u_web`, ...),
    mapped onto the simplex inside the bounds (sweeps.simplex.from_unit); the trial's
    `mixture` is the label of that point. `values` holds the prior's label (the grid's one
    point: what --dry-run checks)."""
    parts: tuple[str, ...] = ()
    bounds: tuple[tuple[float, float], ...] = ()

    def suggest(self, trial) -> dict:
        u = [trial.suggest_float(f"u_{SHORT[p]}", 0.0, 1.0) for p in self.parts]
        point = from_unit(u, np.array(self.bounds, dtype=float))
        return {self.name: label(dict(zip(self.parts, point, strict=True)))}


def trial_configs(spec: SweepSpec, axes: list[Axis], manifest: str = "") -> list[dict]:
    """The resolved configs of a grid sweep (what --dry-run prints); validates each one."""
    if spec.search == "optuna" and spec.trials > MAX_TRIALS:
        raise ValueError(f"--trials {spec.trials:,} is more than {MAX_TRIALS:,}: a search that long is a typo")
    count = math.prod(len(a.values) for a in axes) * len(spec.seeds)
    if count > MAX_TRIALS:
        shown = " x ".join([*(f"{len(a.values)} {a.name}" for a in axes), f"{len(spec.seeds)} seeds"])
        raise ValueError(f"the grid has {count:,} trials ({shown}), more than {MAX_TRIALS:,}: "
                         "sweep fewer points or seeds, or use --search optuna --trials N")
    return [params(spec, {**dict(zip([a.name for a in axes], point, strict=True)), "seed": seed}, manifest)
            for point in itertools.product(*(a.values for a in axes)) for seed in spec.seeds]


def tracked(spec: SweepSpec, cfg: TrainConfig) -> dict:
    """With Optuna or ASHA, every report must carry the metric: track it during training, about
    REPORTS_TRACKED times a trial."""
    if spec.search == "grid":
        return {}
    return {"track_metric": ",".join(spec.objectives), "log_every": max(cfg.log_every, cfg.steps // REPORTS_TRACKED, 1)}


def params(spec: SweepSpec, overrides: dict, manifest: str) -> dict:
    """A trial's flat params: the TrainConfig fields, plus the axes that are not fields."""
    overrides = derived(overrides)
    point = {k: v for k, v in overrides.items() if k in TRAIN_FIELDS}
    extra = {k: v for k, v in overrides.items() if k not in TRAIN_FIELDS}
    cfg = spec.train_config(manifest=manifest, **point)
    if tracking := tracked(spec, cfg):  # needs the trial's steps (its size and budget)
        cfg = replace(cfg, **tracking)
    return {**asdict(cfg), **extra, "init_source": cfg.init_checkpoint or "scratch",
            "train_storage": str(store.join(spec.storage, "train"))}


def check_fit(configs: list[TrainConfig]) -> None:
    """A trial must fit the machine it would run on: on a local cluster (no RAY_ADDRESS), its
    workers' CPUs and the driver's on this machine's cores; Tune would otherwise wait for
    resources forever. A joined cluster may grow (its autoscaler), so it is not judged here."""
    if os.environ.get("RAY_ADDRESS"):
        return
    cores = os.cpu_count() or 1
    for cfg in configs:
        if cfg.use_gpu:
            continue  # GPU presets plan anywhere and run on a cluster's GPU nodes
        need = cfg.num_workers * cfg.cpus_per_worker + DRIVER_CPU
        if need > cores + 1e-9:
            raise ValueError(f"a trial needs {need:g} CPUs ({cfg.num_workers} workers x {cfg.cpus_per_worker:g} + "
                             f"{DRIVER_CPU:g} for its driver) but this machine has {cores}: lower --workers, or set "
                             "RAY_ADDRESS to run on a cluster")


def prepare_sweep(spec: SweepSpec, configs: list[TrainConfig], dry_run: bool = False) -> PreparedData:
    """The run's pre-flight, also under --dry-run: prepare the data once for all trials (the
    first time on a machine, minutes, with progress) and check every trial against it and
    against the machine; then, for a real run only, measure the CPU peak and random floors."""
    check_fit(configs)
    gpu_plans(configs)  # a trial that fits no GPU is refused here, in one line
    for needs in {(c.eval_suite, c.eval_tasks, c.allow_code_execution): c for c in configs}.values():
        check_machine(needs)  # lm-eval's registry and the sandbox, once per distinct need
    data = spec.prepared()
    for cfg in configs:
        cfg.check_data(data)
    if dry_run:
        return data
    from trainers.flops import cpu_peak  # torch: imported once there is data to train on
    for threads in {c.cpu_threads for c in configs if not c.use_gpu}:
        cpu_peak(threads)  # for MFU: measured here, before Ray and the trials load the machine
    _random_floors(data, configs)
    return data


def gpu_plans(configs: list[TrainConfig]) -> list[Plan]:
    """Each distinct GPU trial's memory and time plan, with its micro-batch (and checkpointing)
    chosen to fit as its training will choose them (trainers.memory.fitted); ValueError in one
    line for a trial that fits no micro-batch."""
    distinct = {replace(c, code_ratio=0.0, seed=0, synthetic_share=0.0, code_mix="web_code:1", text_mix="", manifest="")
                for c in configs if c.use_gpu}  # the mixture and seed change nothing of the plan
    return [plan_for(fitted(c)) for c in sorted(distinct, key=lambda c: (get_size(c.model_size).d_model, c.tokens))]


def plan_table(plans: list[Plan], trials: int) -> str:
    """The plans as a table, with the sweep's GPU-hours at the plan's MFU."""
    rows = [p.row() for p in plans]
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  ".join(k.rjust(widths[k]) for k in keys), *("  ".join(str(r[k]).rjust(widths[k]) for k in keys)
                                                           for r in rows)]
    hours = sum(p.gpu_hours for p in plans) / len(plans) * trials
    lines.append(f"per-GPU memory at the step's peak (trainers/memory.py), GPU-hours at {PLAN_MFU:.0%} MFU of "
                 f"{PLAN_PEAK / 1e12:.0f} TFLOP/s; the sweep: about {hours:,.0f} GPU-hours ({hours / 24:,.0f} GPU-days)")
    return "\n".join(lines)


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
