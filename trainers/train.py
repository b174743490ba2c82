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
from trainers.data.mixture import DEFAULT_CODE_MIX, Mixture, MixedStream
from trainers.data.prepare import PreparedData
from trainers.data.sources import FAMILIES
from trainers.flops import device_peak, flops_per_token
from trainers.sizes import SIZES, model_config


# Held-out bits-per-byte per family; web code is "code", the headline code metric.
VAL_METRIC = {"text": "val_bpb_text", "web_code": "val_bpb_code", "markup": "val_bpb_markup",
              "code_adjacent": "val_bpb_code_adjacent", "synthetic": "val_bpb_synthetic"}


@dataclass(frozen=True)
class TrainConfig:
    code_ratio: float
    model_size: str
    tokens: int               # training tokens over all workers
    seed: int
    manifest: str = ""        # trainers.data.prepare's manifest; filled in once data is prepared
    synthetic_share: float = 0.0            # of the code budget
    code_mix: str = DEFAULT_CODE_MIX        # the rest of the code budget, by family
    allow_repeat: bool = True               # False: refuse a budget that repeats a source
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
        self.mixture
        if self.model_size not in SIZES:
            raise ValueError(f"unknown model size {self.model_size!r}; known sizes: {', '.join(SIZES)}")
        if self.num_workers < 1 or self.global_batch % self.num_workers:
            raise ValueError(f"global batch {self.global_batch} does not split over {self.num_workers} workers")
        if self.tokens < self.tokens_per_step:
            raise ValueError(f"token budget {self.tokens} is smaller than one batch ({self.tokens_per_step} tokens)")

    def check_data(self, data: PreparedData) -> dict[str, float]:
        """Epochs per family this run needs; refuses repetition when allow_repeat is False."""
        stream = MixedStream({f: data.family_tokens(f, "train") for f in data.families()},
                             self.mixture, self.seq_len, self.seed)
        epochs = stream.epochs(self.steps * self.global_batch)
        over = {f: e for f, e in epochs.items() if e > 1.0}
        if over and not self.allow_repeat:
            f, e = max(over.items(), key=lambda kv: kv[1])
            have = len(stream.arrays[f])
            raise ValueError(f"--no-repeat: family {f} has {have:,} training tokens but code ratio "
                             f"{self.code_ratio:g} needs {round(e * have):,} ({e:.2f} epochs)")
        return epochs

    @property
    def mixture(self) -> Mixture:
        return Mixture.build(self.code_ratio, self.synthetic_share, self.code_mix)

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

    data = PreparedData(Path(cfg.manifest))  # prepared once by the driver: nothing to tokenize here
    stream = MixedStream({f: data.family_tokens(f, "train") for f in data.families()},
                         cfg.mixture, cfg.seq_len, cfg.seed)
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
    fed = torch.zeros(len(stream.families), dtype=torch.float64)  # sequences fed, per family
    for step in range(cfg.steps):
        idx = step * cfg.global_batch + rank * micro + np.arange(micro)
        seqs, family = stream.sequences(idx)
        fed += torch.from_numpy(np.bincount(family, minlength=len(stream.families))).double()
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
        shares = {f: float(fed[i] / fed.sum()) for i, f in enumerate(stream.families)}
        metrics.update({f"realized_share_{f}": shares.get(f, 0.0) for f in FAMILIES})
        metrics.update(realized_code_ratio=1.0 - shares.get("text", 0.0),
                       trained_tokens=int(fed.sum()) * cfg.seq_len)
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
        VAL_METRIC[f]: bits_per_byte(raw_model, data.family_tokens(f, "val"), token_bytes,
                                     cfg.seq_len, cfg.eval_tokens)
        for f in data.families()
    }
    seqs_seen = cfg.steps * cfg.global_batch
    trained_tokens = seqs_seen * cfg.seq_len
    epochs = stream.epochs(seqs_seen)
    for name, source in data.sources().items():  # a family's sources are read at its pace
        metrics[f"epochs_{name}"] = epochs.get(source["family"], 0.0)
    metrics.update({
        "tokens_per_s": trained_tokens / train_s,
        "mfu": trained_tokens / train_s * flops_over_peak,
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
