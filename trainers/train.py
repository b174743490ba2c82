"""Pre-training one model on one mixture with Ray Train: DDP or FSDP2, checkpointed, resumable.

    from trainers.config import VAL_METRIC, TrainConfig
    from trainers.train import fit
    metrics, checkpoint = fit(TrainConfig(...), name="run", storage_path="/tmp/runs")

`fit` launches a `TorchTrainer` (gloo on CPU, NCCL on GPU). Each worker builds the model
(Glorot-normal, or from `init_checkpoint`), wraps it with DDP or FSDP2's `fully_shard` and
steps it with the training core (trainers/core.py: torch and transformers only), reading
only its own sequences of the mixed stream. Every `checkpoint_every` steps the
workers report a checkpoint (HF weights + tokenizer + optimizer and step) through
`ray.train.report`; Ray keeps the last `keep_checkpoints`. If a worker dies, Ray Train
restarts the group (`FailureConfig`), the loop resumes from the last checkpoint, and since
the stream is a function of the step, it continues exactly where it stopped. At the end
rank 0 measures held-out bits-per-byte per family, every rank scores its share of the
benchmark items (evaluation.harness; rank 0 gathers them and adds the random floor), and
rank 0 returns the final metrics (Ray Train hands rank 0's return value back as
`Result.return_value`).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import ray.train
import torch
from ray.train import Checkpoint, CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

from trainers.config import VAL_METRIC, TrainConfig
from trainers.core import (STAGE_FILE, TRAIN_STATE, barrier, build_model, optimizer, save_checkpoint, sum_over_ranks,
                           train_step, unsharded, validate, wrap)
from trainers.data.accounting import realized
from trainers.data.mixture import MixedStream
from trainers.data.prepare import PreparedData
from trainers.flops import device_peak, flops_per_token
from trainers.memory import GIB, fitted, plan_for
from trainers.ray_settings import apply as apply_ray_settings
from trainers.stages import read_record, write_record

# Every report's position in the trial, in tokens trained since its first stage: Tune keeps a
# reported `timesteps_total`, and it is the MLflow step (sweeps.tracking). Tune's training
# iteration is not: it starts again at 1 when a trial restarts after its node died.
TIMESTEPS = "timesteps_total"

def train_loop_per_worker(config: dict) -> dict | None:
    """Train a chain of stages in one worker group: each stage starts from the previous
    stage's saved checkpoint (its `init_checkpoint`), so a recipe pays Ray's start-up once.
    A stage with a folder saves its final checkpoint there and records itself
    (trainers.stages); after a restart, recorded stages are skipped and the stage the last
    Ray checkpoint belongs to resumes from it."""
    launched_at = config.get("launched_at")
    tokens_before = config.get("tokens_before", 0)  # trained by the trial before this chain (stages reused)
    cfgs: list[TrainConfig] = config["stages"]  # built once by the caller; Ray pickles them here
    folders = [Path(f) if f else None for f in config["folders"]]
    resume = ray.train.get_checkpoint()
    metrics = None
    with (resume.as_directory() if resume else tempfile.TemporaryDirectory()) as resume_dir:
        resumed_stage = _stage_of(Path(resume_dir)) if resume else None
        for i, (cfg, folder) in enumerate(zip(cfgs, folders, strict=True)):
            record = read_record(folder) if folder else None
            if record is not None:  # trained before a restart
                metrics = record["metrics"]
                continue
            metrics = _train_stage(cfg, i, folder, Path(resume_dir) if resumed_stage == i else None, launched_at,
                                   tokens_before + sum(c.step_tokens for c in cfgs[:i]))
            launched_at = None  # Ray's start-up is paid by the first stage only
    return metrics


def _stage_of(checkpoint_dir: Path) -> int:
    marker = checkpoint_dir / STAGE_FILE
    return json.loads(marker.read_text())["stage"] if marker.exists() else 0


def _train_stage(cfg: TrainConfig, index: int, folder: Path | None, resume_dir: Path | None,
                 launched_at: float | None, tokens_before: int) -> dict | None:
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    started_at = time.time()
    if not cfg.use_gpu:
        torch.set_num_threads(cfg.cpu_threads)
    device = ray.train.torch.get_device()

    data = PreparedData.open(cfg.manifest)  # prepared once by the driver (or published): nothing to tokenize here
    stream = MixedStream({p: data.family_tokens(p, "train") for p, w in cfg.mixture.parts().items() if w > 0},
                         cfg.mixture, cfg.seq_len, cfg.seed)
    fresh_on_gpu = device.type == "cuda" and resume_dir is None and not cfg.init_checkpoint
    with torch.device(device) if fresh_on_gpu else contextlib.nullcontext():  # a 2.8B init on the host takes a minute
        model = build_model(cfg, resume_dir)
    n_params = sum(p.numel() for p in model.parameters())
    hf_config = model.config
    model = wrap(model, cfg, device)
    opt = optimizer(model, cfg)
    start_step, fed = 0, torch.zeros(len(stream.families), dtype=torch.float64)  # sequences fed, per part
    if resume_dir is not None:
        state = torch.load(resume_dir / TRAIN_STATE, weights_only=False)
        set_optimizer_state_dict(model, opt, state["optimizer"], options=StateDictOptions(full_state_dict=True))
        start_step = state["step"]
        if rank == 0:  # rank 0 carries what all ranks were fed before the restart
            fed = state["fed_total"].clone()
    flops_tok = flops_per_token(n_params, hf_config.num_hidden_layers, hf_config.hidden_size, cfg.seq_len)
    peak = device_peak(device) * world
    saving = dict(model=model, opt=opt, cfg=cfg, data=data, rank=rank, stage=index)

    micro = cfg.global_batch // world
    window_start, window_tokens, train_start = time.perf_counter(), 0, time.perf_counter()
    train_cpu_start = time.process_time()  # this worker's CPU seconds: its share of the cores, when shared
    first_step_s = None
    for step in range(start_step, cfg.steps):
        idx = step * cfg.global_batch + rank * micro + np.arange(micro)
        seqs, family = stream.sequences(idx)
        fed += torch.from_numpy(np.bincount(family, minlength=len(stream.families))).double()
        loss, lr = train_step(model, opt, torch.from_numpy(seqs).to(device), cfg, step)
        window_tokens += cfg.tokens_per_step
        if first_step_s is None:
            first_step_s = time.time() - started_at
        done = step + 1
        # A tracked metric's last value comes with the final report below, measured once.
        if done % cfg.log_every == 0 and done < cfg.steps or done == cfg.steps and not cfg.track_metric:
            tps = window_tokens / (time.perf_counter() - window_start)
            metrics = {"step": done, "loss": loss.item(), "lr": lr, "tokens_per_s": tps, "mfu": tps * flops_tok / peak,
                       "trained_tokens": done * cfg.tokens_per_step,
                       TIMESTEPS: tokens_before + done * cfg.tokens_per_step}
            if cfg.track_metric:  # a held-out target, comparable across mixtures (never the training loss)
                metrics.update(_tracked(cfg, model, data, rank))
            if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.steps:
                _report_with_checkpoint(metrics, step=done, fed=fed, **saving)
            else:
                ray.train.report(metrics)
            window_start, window_tokens = time.perf_counter(), 0
    train_s, train_cpu_s = time.perf_counter() - train_start, time.process_time() - train_cpu_start
    total = sum_over_ranks(fed)  # every rank counted its own sequences
    # Under FSDP a forward pass is a collective, so every rank evaluates; under DDP rank 0 alone.
    vals = validate(cfg, model, data) if cfg.parallel == "fsdp" or rank == 0 else {}
    scores = _benchmark(cfg, model, data, rank)
    metrics = {}
    if rank == 0:
        metrics = {**vals, **scores, **_finish(cfg, n_params, flops_tok / peak, train_s, train_cpu_s, device),
                   **realized({p: float(total[i]) for i, p in enumerate(stream.families)}, stream, data),
                   "trained_tokens": int(total.sum()) * cfg.seq_len, "resumed_from_step": start_step}
    metrics.update(first_step_s=first_step_s or 0.0,
                   startup_s=(started_at - launched_at) if launched_at else 0.0)
    metrics[TIMESTEPS] = tokens_before + cfg.step_tokens
    if folder is None:  # a single run: its final checkpoint is Ray's
        _report_with_checkpoint({"step": cfg.steps, **metrics}, step=cfg.steps, fed=fed, **saving)
    else:  # a stage: its final checkpoint and record in its own folder, where later stages start from
        wrote = save_checkpoint(model, opt, cfg.steps, fed, cfg, data, rank, folder / "checkpoint", index)
        if wrote:
            write_record(folder, str(folder / "checkpoint"), metrics, cfg)
        barrier()  # the next stage on every rank loads this checkpoint
        ray.train.report({"step": cfg.steps, **metrics})
    return metrics if rank == 0 else None


def _report_with_checkpoint(metrics, model, opt, step, fed, cfg, data, rank, stage) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wrote = save_checkpoint(model, opt, step, fed, cfg, data, rank, Path(tmp), stage)
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(tmp) if wrote else None)


def _tracked(cfg, model, data, rank) -> dict:
    """The sweep's target metrics during training (a comma list: two for a Pareto sweep), on the
    same held-out tokens or benchmark items as at the end: a held-out family's bits-per-byte,
    or a benchmark score (the suite scored on its fixed subset; every rank takes part, as at
    the end)."""
    wanted = cfg.track_metric.split(",")
    out = {}
    families = [f for f, m in VAL_METRIC.items() if m in wanted]
    if families and (cfg.parallel == "fsdp" or rank == 0):
        out.update(validate(cfg, model, data, families))
    scored = [m for m in wanted if m not in VAL_METRIC.values()]
    if scored:
        scores = _benchmark(cfg, model, data, rank)
        model.train()  # the harness left it in eval mode
        out.update({k: scores[k] for m in scored for k in (m, f"{m}_stderr") if k in scores} if rank == 0 else {})
    return out if rank == 0 else {}


def _benchmark(cfg, model, data, rank) -> dict:
    """The suite's scores with standard errors and floors (rank 0); every rank scores its share."""
    if not cfg.benchmarks:
        return {}
    from transformers import AutoTokenizer
    from evaluation.floor import random_floor
    from evaluation.harness import score_items
    from evaluation.report import flat, summarise
    start = time.perf_counter()
    raw = unsharded(model, cfg)
    tokenizer = AutoTokenizer.from_pretrained(data.tokenizer_dir)
    limit = cfg.eval_limit or None
    scored = score_items(raw, tokenizer, cfg.benchmarks, limit, quiet=True, code_limit=cfg.eval_code_limit or limit)
    if rank != 0:
        return {}
    # The sweep's driver computed the floor before the trials started; read from the cache.
    floor = random_floor(raw.config, tokenizer, cfg.benchmarks, limit)
    return {**flat(summarise(scored, floor)), "eval_s": time.perf_counter() - start}


def _finish(cfg, n_params, flops_over_peak, train_s, train_cpu_s, device) -> dict:
    """Rank 0's account of the run's throughput and memory: the micro-batch it trained with,
    the plan's peak per worker and, on a GPU, the measured one (the plan checked in every trial)."""
    seqs_seen = cfg.steps * cfg.global_batch
    plan = plan_for(cfg)
    memory = {"micro_batch": plan.micro_batch, "planned_peak_gib": plan.peak / GIB}
    if device.type == "cuda":
        memory["peak_gib"] = torch.cuda.max_memory_allocated(device) / GIB
    return {"tokens_per_s": seqs_seen * cfg.seq_len / train_s,
            "mfu": seqs_seen * cfg.seq_len / train_s * flops_over_peak,
            "n_params": n_params, "train_s": train_s, "train_cpu_s": train_cpu_s, **memory}


def fit(cfg: TrainConfig, name: str, storage_path: str, callbacks: list | None = None) -> tuple[dict, str]:
    """Run one training job on Ray Train; return rank 0's final metrics and the checkpoint path."""
    result = _run([cfg], [""], name, storage_path, callbacks)
    return result.return_value, result.checkpoint.path


def fit_stages(cfgs: list[TrainConfig], folders: list[str], name: str, storage_path: str,
               callbacks: list | None = None, tokens_before: int = 0) -> dict:
    """Train stages in turn in one Ray Train run, each recorded in its folder; return the last's
    metrics. `tokens_before`: what the stages before these (reused) trained."""
    return _run(cfgs, folders, name, storage_path, callbacks, tokens_before).return_value


def _run(cfgs: list[TrainConfig], folders: list[str], name: str, storage_path: str, callbacks: list | None,
         tokens_before: int = 0):
    cfgs = [fitted(c) for c in cfgs]  # on GPUs: the micro-batch (and checkpointing) the memory plan chose
    cfg = cfgs[0]  # a chain's stages share their size, workers and resources
    resources = {"CPU": cfg.cpus_per_worker} if not cfg.use_gpu else None
    apply_ray_settings(cfg)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"stages": cfgs, "folders": folders, "launched_at": time.time(),
                           "tokens_before": tokens_before},
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=name, storage_path=storage_path, callbacks=callbacks or [],
                             checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints),
                             failure_config=FailureConfig(max_failures=cfg.max_failures)),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    return result
