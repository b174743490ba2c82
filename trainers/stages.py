"""Stages as artefacts keyed by their config: a stage already trained is never trained again.

    checkpoint, metrics = run_recipe(stages, base_config, storage)

A stage's key hashes its own training config and the keys of the stages before it (with
the tokenizer's fingerprint), so the same chain gives the same key in every trial and every
later sweep. The first process to need a stage takes a file lock, trains it and records
`done.json`; a process that asks at the same time waits on the lock and then reuses it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

from trainers.config import TrainConfig, tokenizer_fingerprint
from trainers.data.prepare import PreparedData
from trainers.recipes import Stage

# Fields that say where or how fast a run happens, not what it computes: left out of keys.
NOT_IDENTITY = {"manifest", "init_checkpoint", "log_every", "checkpoint_every", "keep_checkpoints",
                "max_failures", "num_workers", "cpus_per_worker", "use_gpu", "parallel"}


def stage_configs(stages: list[Stage], base: TrainConfig) -> list[TrainConfig]:
    """One TrainConfig per stage; token budgets are the stage's share of base.tokens."""
    return [replace(base, code_ratio=s.code_ratio, tokens=int(s.token_share * base.tokens),
                    code_mix=s.code_mix, synthetic_share=s.synthetic_share, text_mix=s.text_mix, schedule=s.schedule,
                    min_lr=base.min_lr if s.min_lr is None else s.min_lr, init_checkpoint="")
            for s in stages]


def stage_key(cfg: TrainConfig, previous_key: str, tokenizer: str) -> str:
    identity = {k: v for k, v in asdict(cfg).items() if k not in NOT_IDENTITY}
    blob = json.dumps([identity, previous_key, tokenizer], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def run_stage(cfg: TrainConfig, key: str, storage: Path, train) -> tuple[str, dict, bool]:
    """(checkpoint, metrics, reused): train under the stage's lock unless it is done."""
    folder = storage / "stages" / key
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "done.json"
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second trial asking for this stage waits here
        if done.exists():
            record = json.loads(done.read_text())
            return record["checkpoint"], record["metrics"], True
        metrics, checkpoint = train(cfg, f"stage-{key}")
        tmp = folder / "done.json.tmp"
        tmp.write_text(json.dumps({"checkpoint": checkpoint, "metrics": metrics, "config": asdict(cfg)}))
        tmp.rename(done)
        return checkpoint, metrics, False


def run_recipe(stages: list[Stage], base: TrainConfig, storage: Path, train,
               data: PreparedData) -> tuple[str, dict, list[dict]]:
    """Train (or reuse) each stage in turn; return the last checkpoint, its metrics and a log."""
    tokenizer = tokenizer_fingerprint(data.tokenizer_dir)
    previous, key, log = "", "", []
    for stage, cfg in zip(stages, stage_configs(stages, base)):
        if stage.from_previous and not previous:
            raise ValueError(f"stage {stage.name} starts from a previous stage, but it is the first")
        cfg = replace(cfg, init_checkpoint=previous if stage.from_previous else "")
        key = stage_key(cfg, key if stage.from_previous else "", tokenizer)
        previous, metrics, reused = run_stage(cfg, key, storage, train)
        log.append({"stage": stage.name, "key": key, "reused": reused, "tokens": cfg.tokens,
                    "code_ratio": cfg.code_ratio, "checkpoint": previous})
    return previous, metrics, log
