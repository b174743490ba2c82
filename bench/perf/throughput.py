"""Benchmark: the Ray Train loop against a plain PyTorch DDP loop of the same model and data.

    python -m bench.perf.throughput [--size 1m] [--tokens 400000]   # saves bench/results/throughput.json

In one process, on this machine: the same model, data and loop code trained by
`trainers.train.fit` (Ray Train, 2 workers, DDP over gloo) and by a plain
`torch.multiprocessing` DDP run of 2 processes (no Ray): training tokens/s of each, their
ratio (target >= 0.9) and MFU. A trial's fixed cost is measured by bench/perf/fixed_cost.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from pathlib import Path


import numpy as np
from bench.report import report
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from trainers.config import TrainConfig
from trainers.data.mixture import MixedStream
from trainers.data.prepare import PreparedData, prepare
from trainers.flops import cpu_peak, flops_per_token
from trainers.core import build_model, train_step


def _plain_worker(rank: int, world: int, port: int, cfg: TrainConfig, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    data = PreparedData.open(cfg.manifest)
    stream = MixedStream({f: data.family_tokens(f, "train") for f in data.families()}, cfg.mixture, cfg.seq_len, cfg.seed)
    model = torch.nn.parallel.DistributedDataParallel(build_model(cfg, None))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    micro = cfg.global_batch // world
    start = time.perf_counter()
    for step in range(cfg.steps):
        seqs, _ = stream.sequences(step * cfg.global_batch + rank * micro + np.arange(micro))
        train_step(model, opt, torch.from_numpy(seqs), cfg, step)  # the trainer's own step
    elapsed = time.perf_counter() - start
    if rank == 0:
        Path(out).write_text(json.dumps({"tokens_per_s": cfg.steps * cfg.tokens_per_step / elapsed}))
    dist.destroy_process_group()


def plain_tokens_per_s(cfg: TrainConfig) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/plain.json"
        mp.spawn(_plain_worker, args=(cfg.num_workers, port, cfg, out), nprocs=cfg.num_workers, join=True)
        return json.loads(Path(out).read_text())["tokens_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="1m")
    p.add_argument("--tokens", type=int, default=400_000)
    args = p.parse_args()
    import ray
    from trainers.sizes import get_size
    from trainers.train import fit

    data = prepare(vocab_size=get_size(args.size).vocab_size, quiet=True)
    cfg = TrainConfig(code_ratio=0.25, model_size=args.size, tokens=args.tokens, seed=0, manifest=str(data.manifest),
                      global_batch=32, lr=2e-3, cpus_per_worker=1.0, log_every=50, eval_tokens=4096)
    results = {"size": args.size, "tokens": args.tokens, "machine_cpus": os.cpu_count()}

    plain = plain_tokens_per_s(cfg)  # first, on an idle machine: the baseline
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False)
    with tempfile.TemporaryDirectory() as storage:
        metrics, _ = fit(cfg, "throughput", storage)
        results.update(plain_tokens_per_s=plain, ray_train_tokens_per_s=metrics["tokens_per_s"],
                       ray_over_plain=metrics["tokens_per_s"] / plain, ray_train_mfu=metrics["mfu"])
        torch.set_num_threads(1)
        n = int(metrics["n_params"])
        s = get_size(args.size)
        results["plain_mfu"] = plain * flops_per_token(n, s.n_layers, s.d_model, s.seq_len) / (cpu_peak() * cfg.num_workers)
    ray.shutdown()

    report(results, "throughput")


if __name__ == "__main__":
    main()
