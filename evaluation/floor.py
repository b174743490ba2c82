"""The floor of every score: the same benchmarks on a Glorot-random model of the same
architecture and tokenizer, computed once and cached.

    floor = random_floor(model.config, tokenizer, benchmarks, limit)   # {task: {metric: value}}

Raw accuracy of an untrained model is not chance (it prefers short answers), and gold
bits-per-byte of an untrained model is not a number anyone knows by heart, so every report
shows this floor beside each score. Cached as JSON under $CODEMIX_CACHE/floors/, one file
per benchmark, keyed by the architecture, the tokenizer's vocabulary, the items evaluated
and the task version: a sweep computes it once per model size.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from evaluation.benchmarks import cache_root
from evaluation.harness import score_items
from evaluation.suites import TASKS_VERSION, Benchmark, without_execution

FLOOR_SEED = 0
ARCHITECTURE = ("model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "tie_word_embeddings")


def glorot_random(config):
    """A model of this config initialised as the study initialises from scratch (Glorot-normal
    weight matrices, norms at one; the same rule as trainers.core.glorot_normal_)."""
    from transformers import AutoModelForCausalLM
    torch.manual_seed(FLOOR_SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    for p in model.parameters():
        if p.dim() == 2:
            torch.nn.init.xavier_normal_(p)
    return model


def _key(config, tokenizer, bench: Benchmark, limit: int | None) -> str:
    arch = {k: getattr(config, k, None) for k in ARCHITECTURE}
    vocab = hashlib.sha1(json.dumps(sorted(tokenizer.get_vocab().items())).encode()).hexdigest()
    task = TASKS_VERSION
    if bench.include_path:  # a user's YAML tasks: their files are the version
        files = sorted(p for p in Path(bench.include_path).rglob("*") if p.is_file())
        task = hashlib.sha1(b"".join(p.read_bytes() for p in files)).hexdigest()
    return hashlib.sha1(json.dumps([arch, vocab, bench.name, bench.tasks, limit or 0, task],
                                   sort_keys=True).encode()).hexdigest()[:16]


def random_floor(config, tokenizer, benchmarks: list[Benchmark], limit: int | None, quiet: bool = True,
                 max_length: int | None = None) -> dict[str, dict[str, float]]:
    """Mean score per benchmark and metric of the Glorot-random model; computes what is not cached.
    Generated code is never run for a floor: an untrained model's pass@1 is 0, and generating
    its 256-token babble for every item would cost more than the rest of the floor."""
    benchmarks = [without_execution(b) for b in benchmarks]
    folder = cache_root() / "floors"
    paths = {b.name: folder / f"{b.name}-{_key(config, tokenizer, b, limit)}.json" for b in benchmarks}
    todo = [b for b in benchmarks if not paths[b.name].exists()]
    if todo:
        scored = score_items(glorot_random(config), tokenizer, todo, limit, quiet=quiet,
                             max_length=max_length, shard=False)
        folder.mkdir(parents=True, exist_ok=True)
        for b in todo:
            means = {m: float(v.mean()) for m, v in scored[b.name]["metrics"].items()}
            tmp = paths[b.name].with_suffix(f".tmp-{os.getpid()}")
            tmp.write_text(json.dumps(means))
            tmp.rename(paths[b.name])
    return {b.name: json.loads(paths[b.name].read_text()) for b in benchmarks}
