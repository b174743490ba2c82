"""Named bundles of defaults, one screen, each with its reason.

A preset fixes the model size, the token budget per trial and the training knobs that go
with them; flags on a sweep script override single fields (`--size`, `--tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER_RATIOS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)  # §3.3: the six code shares of the study


@dataclass(frozen=True)
class Preset:
    size: str
    tokens: int           # training tokens per trial
    global_batch: int     # sequences per step over all workers
    lr: float
    eval_tokens: int      # held-out tokens per domain for bits-per-byte
    log_every: int        # steps between metric reports (each report is a Ray round trip)
    num_workers: int = 2  # DDP workers per trial; 2 shows sharding on a laptop
    cpus_per_worker: float = 0.9  # fractional so a trial's driver fits beside 2 workers on 2 cores
    use_gpu: bool = False
    parallel: str = "ddp"
    warmup_frac: float = 0.05
    checkpoint_every: int = 0  # steps; 0: only the final checkpoint
    eval_limit: int = 0   # benchmark items per task at the end of a trial (a fixed subset); 0: all
    eval_code_limit: int = 0  # of those, items whose generated code runs (pass@1, --allow-code-execution)
    winrate_limit: int = 200  # judged prompts per variant (recipe sweeps' --winrate-baseline); the study's Dolly-200
    seeds: int = 1        # seeds per point of a grid (--seeds)


PRESETS: dict[str, Preset] = {
    # Tests and CI: ~0.36M params, 60k tokens (464 sequences: enough that every family share
    # lands within 0.5 points of its request) train in ~3 s after ~11 s of Ray start-up.
    # 8 items per benchmark: the suite runs end to end in each trial, its numbers mean little.
    "smoke": Preset(size="smoke", tokens=60_000, global_batch=16, lr=3e-3,
                    eval_tokens=8_192, log_every=5, eval_limit=8, eval_code_limit=4,
                    winrate_limit=2),
    # The README default on a 2-core laptop: 0.99M params, a million tokens a trial, the
    # six-ratio grid in ~11 minutes with start-up and prep. One worker a trial, two trials at
    # once: measured on this grid against two DDP workers one trial at a time
    # (bench/perf/sweep_throughput.py), 1.08x the trials per hour (training 66% of the cores'
    # time against 61%); three one-worker trials at once on 2 cores gave 1.02x.
    # 100 items per benchmark keep the end-of-trial evaluation near a ninth of training time.
    "demo": Preset(size="1m", tokens=1_000_000, global_batch=32, lr=2e-3,
                   eval_tokens=32_768, log_every=20, num_workers=1, eval_limit=100, eval_code_limit=20,
                   winrate_limit=20),
    # The laptop study (docs/results/laptop-study.md): the six ratios x 3 seeds on 2 cores in 70 minutes.
    # One worker a trial, two trials at once, as the demo (measured there; half-million-token
    # trials gained more, 1.35x, their fixed costs weighing more). Size 1m: this budget
    # (~2.5M tokens a trial, 2.5 per parameter) is already past compute-optimal for it; 4m would
    # see under one token per parameter. 200 items per benchmark for every category.
    "study": Preset(size="1m", tokens=2_500_000, global_batch=32, lr=2e-3,
                    eval_tokens=65_536, log_every=40, num_workers=1, eval_limit=200, eval_code_limit=40,
                    winrate_limit=20, seeds=3),
    # The study's models on a GPU cluster (8 GPUs a trial, FSDP2 in bf16): batch 512 x 8192
    # tokens, 1325 warm-up steps (2.8% of 200B tokens' 47.7k steps), a checkpoint every 1000
    # steps. 200B tokens per trial as in §3.3; scale it with --tokens. Benchmarks capped at
    # 1000 items each, as OLMES caps them.
    "paper-470m": Preset(size="470m", tokens=200_000_000_000, global_batch=512, lr=3e-4,
                         eval_tokens=1_048_576, log_every=10, num_workers=8, cpus_per_worker=8,
                         use_gpu=True, parallel="fsdp", warmup_frac=0.028, checkpoint_every=1000,
                         eval_limit=1000),
    "paper-2.8b": Preset(size="2.8b", tokens=200_000_000_000, global_batch=512, lr=1.6e-4,
                         eval_tokens=1_048_576, log_every=10, num_workers=8, cpus_per_worker=8,
                         use_gpu=True, parallel="fsdp", warmup_frac=0.028, checkpoint_every=1000,
                         eval_limit=1000),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]
