"""Benchmark: does the data loader outpace the model, and what does preparation cost?

    python -m bench.perf.loader            # prints and saves bench/results/loader.json

Measured in one process, on this machine:
- tokens/s the mixed stream delivers to one of 2 training workers (rank 0's micro-batches
  of the demo preset, as torch tensors), against tokens/s the demo model consumes in a
  training step on one worker's share of the CPU (one thread): target ratio >= 20;
- time to prepare the embedded data from scratch (documents, tokenizer, token arrays, in
  an empty cache) and from a warm cache.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import os
import shutil
import tempfile
import time
from pathlib import Path


import numpy as np
from bench.report import report
import torch

from trainers.presets import get_preset
from trainers.data.mixture import MixedStream
from trainers.data.prepare import cache_root, prepare
from trainers.config import TrainConfig
from trainers.core import build_model, train_step

WORLD = 2


def loader_tokens_per_s(stream: MixedStream, cfg: TrainConfig, steps: int) -> float:
    micro = cfg.global_batch // WORLD
    start = time.perf_counter()
    for step in range(steps):
        seqs, _ = stream.sequences(step * cfg.global_batch + np.arange(micro))  # rank 0
        torch.from_numpy(seqs)
    return steps * micro * cfg.seq_len / (time.perf_counter() - start)


def model_tokens_per_s(stream: MixedStream, cfg: TrainConfig, steps: int) -> float:
    torch.set_num_threads(1)  # one of two workers on two cores
    model = build_model(cfg, None)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    micro = cfg.global_batch // WORLD
    batches = [torch.from_numpy(stream.sequences(s * cfg.global_batch + np.arange(micro))[0]) for s in range(steps + 2)]
    for i, batch in enumerate(batches):
        if i == 2:  # two warm-up steps
            start = time.perf_counter()
        train_step(model, opt, batch, cfg, i)  # the trainer's own step
    return steps * micro * cfg.seq_len / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="demo", help="whose model and batch the loader feeds (default demo)")
    preset = get_preset(parser.parse_args().preset)
    results = {"machine_cpus": os.cpu_count()}

    with tempfile.TemporaryDirectory() as tmp:
        if (cache_root() / "sources").exists():  # the text sdist, so no network is timed
            shutil.copytree(cache_root() / "sources", Path(tmp) / "sources")
        start = time.perf_counter()
        prepare(root=Path(tmp), quiet=True)
        results["prepare_from_scratch_s"] = time.perf_counter() - start
    prepare(quiet=True)
    start = time.perf_counter()
    data = prepare(quiet=True)
    results["prepare_from_cache_s"] = time.perf_counter() - start

    cfg = replace(preset.config, code_ratio=0.25, manifest=str(data.manifest), synthetic_share=0.1)
    stream = MixedStream({f: data.family_tokens(f, "train") for f in data.families()}, cfg.mixture, cfg.seq_len, 0)
    results["loader_tokens_per_s_per_worker"] = loader_tokens_per_s(stream, cfg, steps=200)
    results["model_tokens_per_s_per_worker"] = model_tokens_per_s(stream, cfg, steps=10)
    results["loader_over_model"] = results["loader_tokens_per_s_per_worker"] / results["model_tokens_per_s_per_worker"]

    report(results, "loader")


if __name__ == "__main__":
    main()
