"""Run benchmarks through lm-evaluation-harness on a model in memory; keep every item's score.

    from evaluation.harness import score_items
    items = score_items(model, tokenizer, benchmarks, limit=100)   # rank 0: per-item scores

lm-eval builds the requests, runs the model (`HFLM` wrapping the in-memory model) and scores
each item with the task's `process_results`; we keep the per-item values (`log_samples`) so
that standard errors, category means and floors are plain numpy afterwards.

`limit` picks a fixed, seeded subset of each benchmark (evaluation.benchmarks.subset: the
same items in every trial of a sweep, whatever else is evaluated). Under torch.distributed (a Ray Train worker group) every
rank scores its share of the items, lm-eval's own sharding, and rank 0 gathers them.
"""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np
import torch
import torch.distributed as dist

from evaluation.benchmarks import subset
from evaluation.suites import TASKS_DIR, Benchmark

# lm-eval refuses an answer longer than the model's window, and a canonical HumanEval solution
# or a BoolQ passage outgrows the 256-token window of the CPU ladder. RoPE models run past
# their trained length, so small models are scored over this many tokens; the random floor
# is measured the same way, and the paper sizes (8192) are unaffected.
MIN_CONTEXT = 1024


def _lm_class():
    from lm_eval.models.huggingface import HFLM

    class RankedHFLM(HFLM):
        """HFLM over an in-memory model, sharding items over the ranks of torch.distributed
        through the hooks lm-eval's evaluator calls (all_gather, gather_object, barrier)."""

        def __init__(self, *args, shard: bool = True, **kwargs):
            super().__init__(*args, **kwargs)
            if shard and dist.is_available() and dist.is_initialized():
                self._rank, self._world_size = dist.get_rank(), dist.get_world_size()

        def all_gather(self, tensor):
            if self.world_size == 1:
                return tensor
            out = [torch.zeros_like(tensor) for _ in range(self.world_size)]
            dist.all_gather(out, tensor)
            return torch.stack(out) if tensor.dim() == 0 else torch.cat(out)

        def gather_object(self, obj, dst=0):
            if self.world_size == 1:
                return [obj]
            out = [None] * self.world_size if self.rank == dst else None
            dist.gather_object(obj, out, dst=dst)
            return out

        def barrier(self):
            if self.world_size > 1:
                dist.barrier()

    return RankedHFLM


def score_items(model, tokenizer, benchmarks: list[Benchmark], limit: int | None = None,
                batch_size: int = 32, max_length: int | None = None, quiet: bool = False,
                shard: bool = True, code_limit: int | None = None) -> dict | None:
    """Per benchmark: {"benchmark": it, "items": doc ids, "metrics": {metric: per-item values},
    "docs": the docs}. Tasks that run generated code (pass@1) score at most `code_limit`
    items, a prefix of the same seeded subset, so a metric may have fewer values than there
    are items. With `shard` under torch.distributed, every rank must call it; it returns None on
    ranks other than 0. Without, this process scores every item alone."""
    from lm_eval import evaluator
    from lm_eval.tasks import TaskManager

    if quiet:  # inside a trial: no per-task logs in the worker's output
        logging.getLogger("lm_eval").setLevel(logging.ERROR)
    # The loaders in tasks/utils.py read `items` from the metadata and keep only that subset;
    # lm-eval's own tasks (external) get the same seeded subset as lm-eval's `samples`.
    outside = [b for b in benchmarks if b.external]
    paths = [str(TASKS_DIR), *dict.fromkeys(b.include_path for b in outside if b.include_path)]
    manager = TaskManager(include_path=paths, include_defaults=any(not b.include_path for b in outside),
                          metadata={"items": limit or 0, "code_items": code_limit or 0})
    task_dict = manager.load([t for b in benchmarks for t in b.tasks])
    samples = {b.name: subset(b.name, len(task_dict["tasks"][b.name].eval_docs), limit) for b in outside} if limit else {}
    was_training = model.training
    model.eval()
    context = getattr(model.config, "max_position_embeddings", 2048)
    lm = _lm_class()(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, shard=shard,
                     max_length=max_length or max(context, MIN_CONTEXT))
    try:  # quiet: lm-eval's progress bars (stderr) stay out of Ray's worker logs
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext():
            out = evaluator.evaluate(lm=lm, task_dict=task_dict, log_samples=True, samples=samples or None,
                                     confirm_run_unsafe_code=any(b.executes for b in benchmarks),
                                     bootstrap_iters=0, verbosity="WARNING" if quiet else "INFO")
    finally:
        model.train(was_training)
    if out is None:  # not rank 0
        return None
    scored = {}
    for b in benchmarks:
        metrics: dict[str, dict[int, float]] = {}  # each metric comes from one task: its own doc ids
        docs: dict[int, dict] = {}
        for t in b.tasks:
            for s in out["samples"][t]:
                if t not in b.executes:  # the items of the (larger) likelihood task
                    docs[s["doc_id"]] = s["doc"]
                for m in s["metrics"]:
                    if isinstance(s[m], (bool, int, float, np.number)):  # F1-style metrics log tuples
                        key = m if s["filter"] == "none" or not b.external else f"{m}_{s['filter']}"
                        metrics.setdefault(key, {})[s["doc_id"]] = float(s[m])
        ids = sorted(docs)
        scored[b.name] = {"benchmark": b, "items": ids, "docs": [docs[i] for i in ids],
                          "metrics": {m: np.array([v[i] for i in sorted(v)]) for m, v in metrics.items()}}
    return scored
