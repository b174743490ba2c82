"""Named bundles of defaults, one screen, each with its reason.

A preset is a complete, frozen run config (`trainers.config.TrainConfig`) plus how many seeds
and judged prompts a sweep of it uses; flags on a sweep script replace single fields
(`--size`, `--tokens`, ...), and each trial's point replaces the swept ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainers.config import TrainConfig

PAPER_RATIOS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)  # §3.3: the six code shares of the study


@dataclass(frozen=True)
class Preset:
    config: TrainConfig   # a complete run config; a sweep's flags and each trial's point replace fields of it
    seeds: int = 1        # seeds per point of a grid (--seeds)
    winrate_limit: int = 200  # judged prompts per variant (recipe sweeps' --winrate-baseline); the study's Dolly-200


def _cpu(size: str, tokens: int, global_batch: int, lr: float, eval_tokens: int, log_every: int, **rest) -> TrainConfig:
    """A laptop config: the study's scored suite, cosine to a tenth of the peak (Chinchilla),
    0.9 CPU a worker so that a trial's Tune function fits beside two workers on 2 cores."""
    return TrainConfig(code_ratio=0.0, model_size=size, tokens=tokens, seed=0, global_batch=global_batch, lr=lr,
                       min_lr=lr / 10, eval_tokens=eval_tokens, log_every=log_every, eval_suite="paper",
                       cpus_per_worker=0.9, **rest)


def _gpu(size: str, lr: float) -> TrainConfig:
    """The study's models on a GPU cluster: 8 GPUs a trial, FSDP2 in bf16, batch 512 x 8192
    tokens, 1325 warm-up steps (2.8% of 200B tokens' 47.7k steps), a checkpoint every 1000
    steps; 200B tokens per trial as in §3.3 (scale it with --tokens). Benchmarks capped at 1000
    items each, as OLMES caps them."""
    return TrainConfig(code_ratio=0.0, model_size=size, tokens=200_000_000_000, seed=0, global_batch=512, lr=lr,
                       min_lr=lr / 10, warmup_frac=0.028, eval_tokens=1_048_576, log_every=10, eval_suite="paper",
                       eval_limit=1000, num_workers=8, cpus_per_worker=8, use_gpu=True, parallel="fsdp",
                       checkpoint_every=1000)


PRESETS: dict[str, Preset] = {
    # Tests and CI: a 0.36M-parameter model on enough sequences (464) that every family share
    # lands within 0.5 points of its request; two DDP workers show sharding. 8 items per
    # benchmark: the suite runs end to end in each trial, its numbers mean little.
    # It trains as a GPU trial does: each worker's 8 sequences in
    # micro-batches of 4, every block checkpointed, the loss in chunks of 256 tokens.
    "smoke": Preset(_cpu("smoke", tokens=60_000, global_batch=16, lr=3e-3, eval_tokens=8_192, log_every=5,
                         eval_limit=8, eval_code_limit=4, num_workers=2, micro_batch=4,
                         activation_checkpointing=True, loss_chunk=256),
                    winrate_limit=2),
    # The README default on a 2-core laptop: 1M parameters, a million tokens a trial, the
    # six-ratio grid. One worker a trial, two trials at once: more trials per hour than two DDP
    # workers one trial at a time (bench/perf/sweep_throughput.py; docs/benchmarks.md). 100 items
    # per benchmark keep the end-of-trial evaluation small beside training.
    "demo": Preset(_cpu("1m", tokens=1_000_000, global_batch=32, lr=2e-3, eval_tokens=32_768, log_every=20,
                        eval_limit=100, eval_code_limit=20, num_workers=1),
                   winrate_limit=20),
    # The laptop study (docs/results/laptop-study.md): the six ratios x 3 seeds, one worker a
    # trial as the demo. Size 1m: this budget (2.5 tokens a parameter) is already past
    # compute-optimal for it; 4m would see under one token per parameter. 200 items per benchmark.
    "study": Preset(_cpu("1m", tokens=2_500_000, global_batch=32, lr=2e-3, eval_tokens=65_536, log_every=40,
                         eval_limit=200, eval_code_limit=40, num_workers=1),
                    winrate_limit=20, seeds=3),
    "paper-470m": Preset(_gpu("470m", lr=3e-4)),
    "paper-2.8b": Preset(_gpu("2.8b", lr=1.6e-4)),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]
