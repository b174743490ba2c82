"""Benchmark: how close is the memory plan (trainers/memory.py) to the measured peak?

    python -m bench.perf.memory_plan [--sizes 1m,4m,16m]   # prints and saves bench/results/memory_plan.json

For each ladder size and each path a GPU trial can take (DDP in fp32, with micro-batches,
with activation checkpointing, in bf16 under autocast, with eager attention, with the full
logits; FSDP2 in fp32 and in bf16 with its mixed-precision policy), the training core runs
steady-state steps on this CPU in one process (a process group of one), and the plan's
peak is set against the measured one (trainers/peak.py): the ratio estimate / measured per
case and the largest error. The same paths run on CUDA, where the dtypes are the same;
bench/gpu_step.py checks the plan on a GPU at the study's sizes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import replace

import numpy as np
import torch
import torch.distributed as dist

from bench.report import report
from trainers.config import TrainConfig
from trainers.core import build_model, optimizer, train_step, wrap
from trainers.memory import plan_for
from trainers.peak import measured_peak
from trainers.sizes import get_size

# A worker's share per size: whole sequences at the size's own context.
SHARE = {"smoke": 8, "1m": 8, "4m": 8, "16m": 4}
CASES = {
    "ddp fp32": {},
    "ddp fp32, micro-batches": {"micro_batch": -2},  # -2: half the share, so gradients are held across micro-batches
    "ddp fp32, checkpointed": {"activation_checkpointing": True},
    "ddp bf16 (autocast)": {"precision": "bf16"},
    "ddp fp32, eager attention": {"attention": "eager"},
    "ddp fp32, full logits": {"loss_kernel": "full"},
    "fsdp fp32": {"parallel": "fsdp"},
    "fsdp bf16": {"parallel": "fsdp", "precision": "bf16"},
}


def config(size: str, **change) -> TrainConfig:
    share = SHARE[size]
    if change.get("micro_batch") == -2:
        change["micro_batch"] = share // 2
    base = TrainConfig(code_ratio=0.25, model_size=size, tokens=10 ** 9, seed=0, num_workers=1, global_batch=share,
                       loss_kernel="chunked", loss_chunk=512)
    return replace(base, **change)


def measure(cfg: TrainConfig) -> float:
    """The measured steady-state peak of this config's step, bytes."""
    device = torch.device("cpu")
    model = wrap(build_model(cfg, None), cfg, device)
    opt = optimizer(model, cfg)
    batches = torch.randint(0, get_size(cfg.model_size).vocab_size, (3, cfg.global_batch, cfg.seq_len + 1),
                            generator=torch.Generator().manual_seed(0))
    return measured_peak(lambda i: train_step(model, opt, batches[i], cfg, i), device, model, opt)


def compare(cfg: TrainConfig) -> dict:
    estimate, measured = plan_for(cfg).peak, measure(cfg)
    return {"estimate_mib": estimate / 2 ** 20, "measured_mib": measured / 2 ** 20, "ratio": estimate / measured}


def process_group() -> None:
    """FSDP2 needs a process group, even of one."""
    if not dist.is_initialized():
        dist.init_process_group("gloo", init_method=f"file://{tempfile.mktemp(prefix='codemix-pg-')}",
                                rank=0, world_size=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1m,4m,16m", help="ladder sizes to measure (default 1m,4m,16m)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    process_group()
    results, ratios = {}, []
    for size in args.sizes.split(","):
        for case, change in CASES.items():
            got = compare(config(size, **change))
            ratios.append(got["ratio"])
            results[f"{size} {case}: estimate / measured"] = got["ratio"]
            results[f"{size} {case}: measured MiB"] = got["measured_mib"]
    results["largest error"] = float(np.max(np.abs(np.array(ratios) - 1)))
    results["mean error"] = float(np.mean(np.abs(np.array(ratios) - 1)))
    report(results, "memory_plan")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
