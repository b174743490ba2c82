"""A source's documents into the token store, a unit at a time, as Ray tasks when Ray runs.

    totals = tokenize_source(docs_file, tokenizer_file, folder, dtype, eos_id, fallback)

The documents file (one JSON `[id, text]` a line) is cut into units of about `unit_bytes`
at line ends; unit k becomes shard k of each split (trainers.data.store), documents held
out by a hash of their id. A unit's output depends on nothing but its bytes and the
tokenizer, so the shards are byte-identical whether one process writes them or a cluster
of any size does, in any order. Each unit records itself (`unit-NNNNN.json`) after its
shards: a preparation killed midway starts again with the finished units kept. A worker
holds one unit's text and tokens at a time: memory stays flat however large the source.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from trainers.data.store import write_shard

UNIT_BYTES = 64 << 20      # of documents file per unit (and shard); tests make it small
BATCH = 1024               # documents per `encode_batch`
VAL_SHARE = 0.05           # held-out documents per source (at least one: the fallback)
EOS = "<|endoftext|>"      # id 0 of trained tokenizers: ends every document in the packed stream


def split_key(doc_id: str) -> float:
    """A document's place in [0, 1), from its id without the source prefix and its last
    part's extension, so one module lands on the same side in every source derived from it
    (the stdlib file, its pydoc page, its docstring pairs): held-out code never leaks into
    training. A spec source's `name/file.jsonl/17` keeps file and line."""
    folder, _, name = doc_id.split("/", 1)[-1].rpartition("/")
    key = f"{folder}/{name.rsplit('.', 1)[0]}" if folder else name.rsplit(".", 1)[0]
    return int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) / 16**12


def held_out(doc_id: str, fallback: str | None) -> bool:
    """Whether a document is held out: its key is below VAL_SHARE, or it is the source's
    fallback (the lowest key, when no document falls below it)."""
    return doc_id == fallback or split_key(doc_id) < VAL_SHARE


def plan_units(docs_file: Path, unit_bytes: int = UNIT_BYTES) -> list[tuple[int, int]]:
    """Byte ranges of the documents file, each ending at a line end, about `unit_bytes` long."""
    size = os.path.getsize(docs_file)
    units, start = [], 0
    with open(docs_file, "rb") as f:
        while start < size:
            f.seek(min(start + unit_bytes, size) - 1)
            f.readline()  # on to the end of the line the cut falls in
            end = min(f.tell(), size)
            units.append((start, end))
            start = end
    return units


def _lines(docs_file: Path, start: int, end: int):
    with open(docs_file, "rb") as f:
        f.seek(start)
        while f.tell() < end:
            yield json.loads(f.readline())


def tokenize_unit(docs_file: str, start: int, end: int, tokenizer_file: str, folder: str, index: int,
                  dtype: str, eos: int, fallback: str | None, skip: bytes = b"") -> dict:
    """Unit `index` of a source: its train and held-out shards, then its record; the record
    if it was done before. Documents whose BLAKE2b-128 digest is in `skip` (16 bytes each:
    another source's copies) are left out and counted."""
    record = Path(folder) / f"unit-{index:05d}.json"
    if record.exists():
        return json.loads(record.read_text())
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_file)
    docs = {"train": [], "val": []}
    drop = {skip[i:i + 16] for i in range(0, len(skip), 16)}
    counts = {"duplicates_of_earlier_sources": 0}
    for doc_id, text in _lines(Path(docs_file), start, end):
        if drop and hashlib.blake2b(text.encode(), digest_size=16).digest() in drop:
            counts["duplicates_of_earlier_sources"] += 1
            continue
        docs["val" if held_out(doc_id, fallback) else "train"].append(text)
    for split, texts in docs.items():
        arrays = []
        for b in range(0, len(texts), BATCH):
            encoded = tok.encode_batch(texts[b:b + BATCH], add_special_tokens=False)  # no BOS: EOS ends each
            arrays += [np.array(e.ids + [eos], dtype=dtype) for e in encoded]
        tokens = write_shard(Path(folder), split, index, arrays, np.dtype(dtype))
        counts.update({f"documents_{split}": len(texts), f"tokens_{split}": tokens,
                       f"bytes_{split}": sum(len(t.encode()) for t in texts)})
    tmp = record.with_name(f"{record.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(counts))
    tmp.rename(record)
    return counts


def _tokenize_task(*args) -> dict:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core per task: Ray runs as many as there are cores
    return tokenize_unit(*args)


def tokenize_source(docs_file: Path, tokenizer_file: Path, folder: Path, dtype: np.dtype, eos: int,
                    fallback: str | None, unit_bytes: int = UNIT_BYTES, say=print, name: str = "",
                    skip: bytes = b"") -> dict:
    """Every unit of a source (on Ray's workers when Ray is initialized), leaving out the
    documents whose digests are in `skip`; the totals, with `shards` (units) and `dtype`."""
    units = plan_units(docs_file, unit_bytes)
    import ray
    spread = ray.is_initialized() and len(units) > 1
    skip_arg = ray.put(skip) if spread and len(skip) > 1 << 16 else skip  # large: once in the object store
    args = [(str(docs_file), s, e, str(tokenizer_file), str(folder), i, np.dtype(dtype).name, eos, fallback, skip_arg)
            for i, (s, e) in enumerate(units)]
    start, done, tokens, last = time.perf_counter(), 0, 0, 0.0
    totals: dict[str, int] = {}

    def finished(counts: dict):
        nonlocal done, tokens, last
        done += 1
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        tokens += counts["tokens_train"] + counts["tokens_val"]
        if len(units) > 1 and (time.perf_counter() - last > 10 or done == len(units)):
            last = time.perf_counter()
            rate = tokens / max(last - start, 1e-9)
            say(f"{name}: {done}/{len(units)} shards, {totals['documents_train'] + totals['documents_val']:,} "
                f"documents, {tokens:,} tokens ({rate / 1e6:.2f}M tokens/s)")

    if spread:
        task = ray.remote(num_cpus=1)(_tokenize_task)
        pending = [task.remote(*a) for a in args]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            finished(ray.get(ready[0]))
    else:
        for a in args:
            finished(tokenize_unit(*a))
    return {**totals, "shards": len(units), "dtype": np.dtype(dtype).name}
