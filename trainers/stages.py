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
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path

from trainers.config import COMPUTE, TrainConfig, tokenizer_fingerprint
from trainers.data.prepare import PreparedData
from trainers.recipes import Stage


def stage_configs(stages: list[Stage], base: TrainConfig) -> list[TrainConfig]:
    """One TrainConfig per stage; token budgets are the stage's share of base.tokens."""
    return [replace(base, code_ratio=s.code_ratio, tokens=int(s.token_share * base.tokens),
                    code_mix=s.code_mix, synthetic_share=s.synthetic_share, text_mix=s.text_mix, schedule=s.schedule,
                    min_lr=base.min_lr if s.min_lr is None else s.min_lr, init_checkpoint="")
            for s in stages]


def stage_key(cfg: TrainConfig, previous_key: str, tokenizer: str) -> str:
    """What the stage computes (TrainConfig's COMPUTE part), after which stage, with which tokenizer."""
    blob = json.dumps([cfg.part(COMPUTE), previous_key, tokenizer], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def read_record(folder: Path) -> dict | None:
    """A trained stage's record (its checkpoint and final metrics), or None if it is not done."""
    done = Path(folder) / "done.json"
    return json.loads(done.read_text()) if done.exists() else None


def write_record(folder: Path, checkpoint: str, metrics: dict, cfg: TrainConfig) -> None:
    tmp = Path(folder) / "done.json.tmp"
    tmp.write_text(json.dumps({"checkpoint": checkpoint, "metrics": metrics, "config": asdict(cfg)}))
    tmp.rename(Path(folder) / "done.json")  # atomic: a record is whole or absent


def run_recipe(stages: list[Stage], base: TrainConfig, storage: Path, train,
               data: PreparedData) -> tuple[str, dict, list[dict]]:
    """Reuse each stage already done; train the rest in one go; return the last checkpoint, its
    metrics and a log.

    `train(cfgs, folders, name, tokens_before)` trains the stages in turn
    (trainers.train.fit_stages), each recording itself in its folder; `tokens_before` is what
    the reused stages before them trained. Stages are locked in chain order: a done stage's lock is
    let go once its record is read; the stages this trial trains stay locked until they are
    recorded, so a trial asking for one of them meanwhile waits and then reuses it.
    """
    tokenizer = tokenizer_fingerprint(data.tokenizer_dir)
    if stages and stages[0].from_previous:
        raise ValueError(f"stage {stages[0].name} starts from a previous stage, but it is the first")
    previous, key, log, todo, before = "", "", [], [], 0
    with ExitStack() as held:
        for stage, cfg in zip(stages, stage_configs(stages, base), strict=True):
            key = stage_key(cfg, key if stage.from_previous else "", tokenizer)
            folder = storage / "stages" / key
            folder.mkdir(parents=True, exist_ok=True)
            cfg = replace(cfg, init_checkpoint=previous if stage.from_previous else "")
            lock = open(folder / "lock", "w")
            fcntl.flock(lock, fcntl.LOCK_EX)  # a trial training this stage now holds it: wait
            record = None if todo else read_record(folder)
            if record is None:  # this trial trains it: locked until recorded
                held.callback(lock.close)
                todo.append((cfg, folder))
                previous = str(folder / "checkpoint")  # where it will be saved
            else:
                lock.close()
                previous = record["checkpoint"]
                before += cfg.step_tokens
            log.append({"stage": stage.name, "key": key, "reused": record is not None, "tokens": cfg.tokens,
                        "step_tokens": cfg.step_tokens, "code_ratio": cfg.code_ratio})
        if todo:
            train([c for c, _ in todo], [str(f) for _, f in todo], f"stages-{todo[0][1].name}-{len(todo)}", before)
    records = [read_record(storage / "stages" / s["key"]) for s in log]
    for entry, record in zip(log, records, strict=True):
        entry["checkpoint"] = record["checkpoint"]
    return records[-1]["checkpoint"], records[-1]["metrics"], log
