"""Benchmark: does the data loader outpace the model, and what does preparation cost?

    python -m bench.perf.loader            # prints and saves bench/results/loader.json

Measured in one process, on this machine:
- tokens/s the mixed stream delivers to one of 2 training workers (rank 0's micro-batches
  of the demo preset, as torch tensors), against tokens/s the demo model consumes in a
  training step on one worker's share of the CPU (one thread): target ratio >= 20;
- the same stream reading the token store's memory-mapped shards (as training does)
  against the same families held in memory as arrays: loader tokens/s, and a training
  step with its batch read inside the timed loop (target >= 0.95);
- time to prepare the embedded data from scratch (documents, tokenizer, token shards, in
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
from trainers.core import build_model, train_step, wrap

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
    model = wrap(build_model(cfg, None), cfg, torch.device("cpu"))  # with its loss, as the trainer steps it
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    micro = cfg.global_batch // WORLD
    batches = [torch.from_numpy(stream.sequences(s * cfg.global_batch + np.arange(micro))[0]) for s in range(steps + 2)]
    for i, batch in enumerate(batches):
        if i == 2:  # two warm-up steps
            start = time.perf_counter()
        train_step(model, opt, batch, cfg, i)  # the trainer's own step
    return steps * micro * cfg.seq_len / (time.perf_counter() - start)


def training_tokens_per_s(stream: MixedStream, cfg: TrainConfig, steps: int) -> float:
    """Steps of one worker, each reading its batch from the stream first."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = wrap(build_model(cfg, None), cfg, torch.device("cpu"))  # with its loss, as the trainer steps it
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    micro = cfg.global_batch // WORLD
    for step in range(steps + 2):
        if step == 2:  # two warm-up steps
            start = time.perf_counter()
        batch = torch.from_numpy(stream.sequences(step * cfg.global_batch + np.arange(micro))[0])
        train_step(model, opt, batch, cfg, step)
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

    in_memory = MixedStream({f: np.asarray(data.family_tokens(f, "train")) for f in data.families()}, cfg.mixture,
                            cfg.seq_len, 0)
    results["loader_memory_tokens_per_s"] = loader_tokens_per_s(in_memory, cfg, steps=200)
    results["loader_store_over_memory"] = results["loader_tokens_per_s_per_worker"] / results["loader_memory_tokens_per_s"]
    for _ in range(2):  # memory, store, twice: the second pair is reported
        memory_tps = training_tokens_per_s(in_memory, cfg, steps=10)
        store_tps = training_tokens_per_s(stream, cfg, steps=10)
    results["training_store_over_memory"] = store_tps / memory_tps

    report(results, "loader")


if __name__ == "__main__":
    main()
