"""Pre-training one model on one mixture with Ray Train (DDP over gloo on CPU, NCCL on GPU).

    from trainers.train import TrainConfig, fit
    metrics = fit(TrainConfig(code_ratio=0.25, model_size="smoke", tokens=30_000, ...))

`fit` launches a `TorchTrainer`; each worker builds the same model from the seed, reads
only its own sequences of the mixed stream (trainers/data/mixture.py), and reports loss,
learning rate and throughput every `log_every` steps. At the end rank 0 measures
validation bits-per-byte per domain, saves model and tokenizer with `save_pretrained`, and
returns the final metrics (Ray Train hands rank 0's return value back as
`Result.return_value`).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import ray.train
import torch
import torch.nn.functional as F
from ray.train import Checkpoint, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer
from transformers import AutoTokenizer, LlamaForCausalLM

from evaluation.bpb import bits_per_byte
from trainers.data.mixture import Mixture, MixedStream
from trainers.data.prepare import prepare
from trainers.flops import device_peak, flops_per_token
from trainers.sizes import SIZES, model_config


@dataclass(frozen=True)
class TrainConfig:
    code_ratio: float
    model_size: str
    tokens: int               # training tokens over all workers
    seed: int
    cache_dir: str            # where trainers.data.prepare keeps (or builds) the token arrays
    vocab_size: int = 4096
    global_batch: int = 16    # sequences per optimizer step, summed over workers
    lr: float = 3e-3          # small models tolerate a high peak LR
    warmup_frac: float = 0.05
    min_lr_frac: float = 0.1  # cosine decays to 10% of peak (Chinchilla)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_tokens: int = 32_768  # held-out tokens per domain for bits-per-byte
    log_every: int = 10
    num_workers: int = 2
    cpus_per_worker: float = 1.0
    use_gpu: bool = False

    def __post_init__(self):
        Mixture(self.code_ratio)
        if self.model_size not in SIZES:
            raise ValueError(f"unknown model size {self.model_size!r}; known sizes: {', '.join(SIZES)}")
        if self.num_workers < 1 or self.global_batch % self.num_workers:
            raise ValueError(f"global batch {self.global_batch} does not split over {self.num_workers} workers")
        if self.tokens < self.tokens_per_step:
            raise ValueError(f"token budget {self.tokens} is smaller than one batch ({self.tokens_per_step} tokens)")

    @property
    def seq_len(self) -> int:
        return SIZES[self.model_size].seq_len

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_len

    @property
    def steps(self) -> int:
        return self.tokens // self.tokens_per_step

    def lr_at(self, step: int) -> float:
        warmup = max(1, int(self.warmup_frac * self.steps))
        if step < warmup:
            return self.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, self.steps - warmup)
        floor = self.min_lr_frac * self.lr
        return floor + 0.5 * (self.lr - floor) * (1 + math.cos(math.pi * progress))


def train_loop_per_worker(config: dict) -> dict | None:
    launched_at = config.pop("launched_at", None)
    cfg = TrainConfig(**config)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    started_at = time.time()
    if not cfg.use_gpu:
        torch.set_num_threads(max(1, round(cfg.cpus_per_worker)))
    device = ray.train.torch.get_device()

    data = prepare(cfg.vocab_size, Path(cfg.cache_dir), quiet=True)  # cached: returns at once
    stream = MixedStream({d: data.tokens(d, "train") for d in ("text", "code")},
                         Mixture(cfg.code_ratio), cfg.seq_len, cfg.seed)
    torch.manual_seed(cfg.seed)
    hf_config = model_config(cfg.model_size, cfg.vocab_size)
    model = LlamaForCausalLM(hf_config)
    n_params = sum(p.numel() for p in model.parameters())
    model = ray.train.torch.prepare_model(model)
    raw_model = model.module if hasattr(model, "module") else model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95),
                            weight_decay=cfg.weight_decay)
    flops_tok = flops_per_token(n_params, hf_config.num_hidden_layers, hf_config.hidden_size, cfg.seq_len)
    peak = device_peak(device) * world

    micro = cfg.global_batch // world
    window_start, window_tokens, train_start = time.perf_counter(), 0, time.perf_counter()
    first_step_s = None
    fed = torch.zeros(2, dtype=torch.float64)  # code tokens, all tokens: counted as fed
    for step in range(cfg.steps):
        idx = step * cfg.global_batch + rank * micro + np.arange(micro)
        seqs, is_code = stream.sequences(idx)
        fed[0] += int(is_code.sum()) * cfg.seq_len
        fed[1] += len(idx) * cfg.seq_len
        batch = torch.from_numpy(seqs).to(device)
        lr = cfg.lr_at(step)
        for group in opt.param_groups:
            group["lr"] = lr
        logits = model(input_ids=batch[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        window_tokens += cfg.tokens_per_step
        if first_step_s is None:
            first_step_s = time.time() - started_at
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            elapsed = time.perf_counter() - window_start
            tps = window_tokens / elapsed
            ray.train.report({"step": step + 1, "loss": loss.item(), "lr": lr,
                              "tokens_per_s": tps, "mfu": tps * flops_tok / peak})
            window_start, window_tokens = time.perf_counter(), 0
    train_s = time.perf_counter() - train_start
    if world > 1:
        fed = fed.to(device)
        torch.distributed.all_reduce(fed)
        fed = fed.cpu()
    metrics = {}
    if rank == 0:
        metrics = _finish(cfg, raw_model, data, stream, n_params, flops_tok / peak, train_s)
        metrics.update(realized_code_ratio=float(fed[0] / fed[1]), trained_tokens=int(fed[1]))
    metrics.update(first_step_s=first_step_s,
                   startup_s=(started_at - launched_at) if launched_at else float("nan"))
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:  # only rank 0 writes; Ray persists it to the run's storage
            raw_model.save_pretrained(tmp)
            AutoTokenizer.from_pretrained(data.tokenizer_dir).save_pretrained(tmp)
            checkpoint = Checkpoint.from_directory(tmp)
        ray.train.report({"step": cfg.steps, **metrics}, checkpoint=checkpoint)
    return metrics if rank == 0 else None


def _finish(cfg, raw_model, data, stream, n_params, flops_over_peak, train_s) -> dict:
    """Rank 0's final metrics: held-out bits-per-byte per domain and what was fed."""
    token_bytes = data.token_bytes()
    metrics = {
        f"val_bpb_{d}": bits_per_byte(raw_model, data.tokens(d, "val"), token_bytes,
                                      cfg.seq_len, cfg.eval_tokens)
        for d in ("text", "code")
    }
    seqs_seen = cfg.steps * cfg.global_batch
    trained_tokens = seqs_seen * cfg.seq_len
    epochs = stream.epochs(seqs_seen)
    metrics.update({
        "tokens_per_s": trained_tokens / train_s,
        "mfu": trained_tokens / train_s * flops_over_peak,
        "epochs_text": epochs["text"],
        "epochs_code": epochs["code"],
        "n_params": n_params,
        "train_s": train_s,
    })
    return metrics


def fit(cfg: TrainConfig, name: str, storage_path: str, callbacks: list | None = None) -> tuple[dict, str]:
    """Run one training job on Ray Train; return rank 0's final metrics and the checkpoint path."""
    resources = {"CPU": cfg.cpus_per_worker}
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={**asdict(cfg), "launched_at": time.time()},
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=name, storage_path=storage_path, callbacks=callbacks or []),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    return result.return_value, result.checkpoint.path
