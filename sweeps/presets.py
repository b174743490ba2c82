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


PRESETS: dict[str, Preset] = {
    # Tests and CI: ~0.36M params, 60k tokens (464 sequences: enough that every family share
    # lands within 0.5 points of its request) train in ~4 s after ~15 s of Ray start-up.
    "smoke": Preset(size="smoke", tokens=60_000, global_batch=16, lr=3e-3,
                    eval_tokens=8_192, log_every=5),
    # The README default on a 2-core laptop: ~1.3M params at ~10k tokens/s, so 600k tokens
    # is ~1 minute a trial and the six-ratio grid fits in ~15 minutes with start-up and prep.
    "demo": Preset(size="1m", tokens=600_000, global_batch=32, lr=2e-3,
                   eval_tokens=32_768, log_every=20),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]
