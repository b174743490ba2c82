"""The Ray Train settings codemix changes from Ray's defaults, each with its measured reason.

    from trainers.ray_settings import apply
    apply(cfg)   # in the process that calls TorchTrainer.fit, just before it

Ray Train reads these environment variables when a run starts and passes them on to the
run's controller and workers. A variable the user set is left alone; the figures are from
`bench/perf/fixed_cost.py` on a 2-core machine.
"""

from __future__ import annotations

import os

import ray

from trainers.config import TrainConfig

# The controller polls its workers at this interval and a report waits for the poll; Ray's
# 2 s default cost a smoke trial ~6 s of its ~20 s (fit wall 14.0 s against 20.0 s).
POLL_VAR, POLL_S = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25"
# Ray Train starts one more process per run to watch for nodes being drained (spot
# preemption): ~1.4 CPU-seconds a run, which on 2 cores delayed a trial's first step by
# 0.3 to 1.5 s in our measurements.
PREEMPTION_VAR = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"

_ours: dict[str, str] = {}  # what this module set, to tell it from the user's own setting


def _set(var: str, value: str | None) -> None:
    if var in os.environ and os.environ[var] != _ours.get(var):
        return  # the user's choice
    if value is None:
        os.environ.pop(var, None)
        _ours.pop(var, None)
    else:
        os.environ[var] = _ours[var] = value


def one_node_holds(cfg: TrainConfig) -> bool:
    """True when the cluster is one node and that node has room for the whole run.

    Then the controller and every worker share the node: a drain takes the controller down
    with the workers, so a preemption watcher has nothing it could save."""
    if not ray.is_initialized():
        ray.init()  # what TorchTrainer.fit would do: join $RAY_ADDRESS or start a local instance
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) != 1:
        return False
    have = nodes[0].get("Resources", {})
    if cfg.use_gpu:
        return have.get("GPU", 0) >= cfg.num_workers
    return have.get("CPU", 0) >= cfg.num_workers * cfg.cpus_per_worker


def apply(cfg: TrainConfig) -> None:
    _set(POLL_VAR, POLL_S)
    _set(PREEMPTION_VAR, "0" if one_node_holds(cfg) else None)
