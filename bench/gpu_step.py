"""Benchmark: the training core's step on a GPU, without Ray: tokens/s, MFU, peak memory
against the plan, and each lever on and off, as ratios in one run.

    python bench/gpu_step.py                    # 470m at 8192 tokens, then 2.8b (FSDP2 on one GPU)
    python bench/gpu_step.py --sizes 470m --steps 6
    python bench/gpu_step.py --device cpu --sizes smoke --steps 1   # the same code path on CPU (tests)

It imports torch, transformers and the training core (trainers/core.py) only, so it runs on
a GPU machine that has no Ray, MLflow or datasets. Each case builds the model on the GPU,
takes warm-up steps (compilation included) and then times `--steps` steps of one global
batch (the plan's micro-batch x 2 accumulation steps, so the gradient-sync switch and the
accumulation are in the timed step), in bf16 with fp32 master weights. The batch is random
tokens of the size's vocabulary: a step's cost does not depend on which tokens they are.

Per case: tokens/s, MFU (model FLOPs per token, 6N + 12 L d T, over the GPU's dense bf16
peak), the measured peak allocated memory and the plan's estimate for it
(trainers/memory.py). Levers (470m): torch.compile of the blocks, activation checkpointing,
eager attention instead of SDPA, the full logits instead of the chunked (or fused) loss,
foreach AdamW instead of fused: each as tokens/s and peak memory relative to the base case.
The last line is one JSON object; bench/results/gpu_step.json keeps it with its stamp.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/gpu_step.py` from anywhere

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from bench.report import report  # noqa: E402
from trainers.config import TrainConfig  # noqa: E402
from trainers.core import build_model, optimizer, train_step, wrap  # noqa: E402
from trainers.flops import device_peak, flops_per_token  # noqa: E402
from trainers.memory import GIB, fitted, parameters, plan_for  # noqa: E402
from trainers.sizes import get_size  # noqa: E402

ACCUMULATION = 2
# The levers measured against each size's base case: (name, fields changed, optimizer fused or not).
LEVERS = {
    "compile": ({"compile": True}, None),
    "activation checkpointing": ({"activation_checkpointing": True}, None),
    "eager attention": ({"attention": "eager"}, None),
    "full logits": ({"loss_kernel": "full"}, None),
    "chunked loss": ({"loss_kernel": "chunked"}, None),
    "foreach AdamW": ({}, False),
}


def base_config(size: str, device: torch.device, gpu_gib: float) -> TrainConfig:
    """One GPU's trial: DDP (a group of one: the plain model under autocast) for a size whose
    states fit whole, FSDP2 otherwise; the micro-batch the plan chooses for this GPU."""
    states = 16 * parameters(get_size(size))[0] / GIB
    parallel = "fsdp" if states > gpu_gib / 3 else "ddp"
    on_gpu = device.type == "cuda"
    probe = TrainConfig(code_ratio=0.0, model_size=size, tokens=10 ** 12, seed=0, num_workers=1, use_gpu=on_gpu,
                        parallel=parallel, global_batch=64, gpu_memory=gpu_gib)
    if not on_gpu:  # a check of the code path: two micro-batches of two
        return replace(probe, global_batch=2 * ACCUMULATION, micro_batch=2)
    micro = fitted(probe)  # the largest micro-batch that fits (64 a step at most)
    return replace(micro, global_batch=micro.micro_batch * ACCUMULATION)


def run_case(cfg: TrainConfig, device: torch.device, steps: int, fused: bool | None) -> dict:
    with torch.device(device):  # built on the GPU: a 2.8B model's initialisation on the host takes a minute
        model = build_model(cfg, None)
    n_params = sum(p.numel() for p in model.parameters())
    model = wrap(model, cfg, device)
    opt = optimizer(model, cfg, fused=fused)
    s = get_size(cfg.model_size)
    batch = torch.randint(0, s.vocab_size, (cfg.global_batch, s.seq_len + 1), device=device,
                          generator=torch.Generator(device).manual_seed(0))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for i in range(3 if cfg.compile else 2):  # warm-up: AdamW's moments, autotuning, compilation
        train_step(model, opt, batch, cfg, i)
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for i in range(steps):
        loss, _ = train_step(model, opt, batch, cfg, i)
    loss.item()
    sync()
    seconds = time.perf_counter() - start
    tokens_s = steps * cfg.global_batch * s.seq_len / seconds
    flops = flops_per_token(n_params, s.n_layers, s.d_model, s.seq_len)
    out = {"tokens_per_s": tokens_s, "mfu": tokens_s * flops / device_peak(device), "step_s": seconds / steps,
           "micro_batch": cfg.micro_batch, "parallel": cfg.parallel, "checkpointing": cfg.activation_checkpointing,
           "planned_gib": plan_for(cfg).peak / GIB}
    if device.type == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated(device) / GIB
        out["planned_over_measured"] = out["planned_gib"] / out["peak_gib"]
    del model, opt, batch
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="470m,2.8b", help="sizes to step (default 470m,2.8b)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per case, after warm-up (default 4)")
    parser.add_argument("--levers", default=",".join(LEVERS),
                        help=f"levers measured on the first size, against its base case (default: all: {', '.join(LEVERS)})")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cuda (default when present) or cpu, for a check of the code path")
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="folder for gpu_step.json (default bench/results)")
    args = parser.parse_args()
    device = torch.device(args.device, 0) if args.device == "cuda" else torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    gpu_gib = torch.cuda.get_device_properties(device).total_memory / GIB if device.type == "cuda" else 80.0
    # FSDP2 needs a process group, of one here (NCCL on a GPU).
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=0, world_size=1,
                            init_method=f"file://{tempfile.mktemp(prefix='codemix-gpu-step-')}")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    results: dict = {"device": name, "gpu_gib": gpu_gib, "torch": torch.__version__}
    levers = [lever for lever in args.levers.split(",") if lever]
    for i, size in enumerate(args.sizes.split(",")):
        base = base_config(size, device, gpu_gib)
        results[size] = run_case(base, device, args.steps, None)
        print(f"{size}: {json.dumps(results[size])}", flush=True)
        for lever in levers if i == 0 else ["compile"] if "compile" in levers else []:
            change, fused = LEVERS[lever]
            if change and all(getattr(base, k) == v for k, v in change.items()):
                continue  # the base case already has it
            try:
                got = run_case(replace(base, **change), device, args.steps, fused)
            except torch.OutOfMemoryError:
                got = {"out_of_memory": True}
                torch.cuda.empty_cache()
            if "tokens_per_s" in got:
                got["tokens_per_s_vs_base"] = got["tokens_per_s"] / results[size]["tokens_per_s"]
                if "peak_gib" in got:
                    got["peak_vs_base"] = got["peak_gib"] / results[size]["peak_gib"]
            results[f"{size} {lever}"] = got
            print(f"{size} {lever}: {json.dumps(got)}", flush=True)
    dist.destroy_process_group()
    report(results, "gpu_step", folder=args.results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
