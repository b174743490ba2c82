"""A source's input files read as Ray tasks, each into its own part of the documents file.

    parts, dropped, reports = read_pieces(src.pieces, folder, say, src.name)

A source whose documents come from files (a data spec's) is read a piece at a time (a
piece is one input file): each piece is one task that parses, decompresses and
decontaminates its records and writes its documents as a part (`part-0000k.jsonl`, then
its record `part-0000k.json`: the contaminated ones dropped and the reader's report). The
caller strings the parts together in piece order, deduplicating as it goes, so the
documents file is byte-identical whatever the number of workers or nodes; a preparation
killed midway keeps its finished parts. A worker holds one document at a time. With Ray
not initialized the pieces are read one after another in this process, into the same parts.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from trainers.data.decontaminate import screen


def returned(documents: Iterator, box: dict):
    """The documents of a generator, keeping what it returns (a reader's report of files,
    records and malformed ones) in box["report"]."""
    box["report"] = yield from documents


def read_piece(piece: Callable[[], Iterator[tuple[str, str]]], out: str) -> dict:
    """One piece's screened documents into the part `out` (JSON lines `[id, text]`), then its
    record: {"documents", "bytes", "dropped", "report"}; the record if it was read before."""
    part, record = Path(out), Path(out).with_suffix(".json")
    if record.exists():
        return json.loads(record.read_text())
    dropped, box, documents = {}, {}, 0
    tmp = part.with_name(f"{part.name}.tmp-{os.getpid()}")
    with tmp.open("w") as f:
        for doc_id, text in screen(returned(piece(), box), dropped):
            f.write(json.dumps([doc_id, text]) + "\n")
            documents += 1
    tmp.rename(part)
    done = {"documents": documents, "bytes": part.stat().st_size, "dropped": dropped, "report": box.get("report") or {}}
    tmp = record.with_name(f"{record.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(done))
    tmp.rename(record)
    return done


def read_pieces(pieces: tuple[Callable, ...], folder: Path, say=print, name: str = "") -> tuple[list[Path], dict, list]:
    """Every piece into its part under `folder` (as Ray tasks of one CPU when Ray is
    initialized): the parts in order, the dropped documents, and each piece's report."""
    folder.mkdir(parents=True, exist_ok=True)
    outs = [str(folder / f"part-{k:05d}.jsonl") for k in range(len(pieces))]
    records: dict[int, dict] = {}
    start, last = time.perf_counter(), 0.0

    def finished(k: int, record: dict) -> None:
        nonlocal last
        records[k] = record
        if len(pieces) > 1 and (time.perf_counter() - last > 10 or len(records) == len(pieces)):
            last = time.perf_counter()
            mb = sum(r["bytes"] for r in records.values()) / 2**20
            say(f"{name}: read {len(records)}/{len(pieces)} files, {sum(r['documents'] for r in records.values()):,} "
                f"documents ({mb / max(last - start, 1e-9):.1f} MB/s)")

    import ray
    if ray.is_initialized() and len(pieces) > 1:
        task = ray.remote(num_cpus=1)(read_piece)
        pending = {task.remote(piece, out): k for k, (piece, out) in enumerate(zip(pieces, outs, strict=True))}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            finished(pending.pop(ready[0]), ray.get(ready[0]))
    else:
        for k, (piece, out) in enumerate(zip(pieces, outs, strict=True)):
            finished(k, read_piece(piece, out))
    dropped = {doc_id: hit for k in range(len(pieces)) for doc_id, hit in records[k]["dropped"].items()}
    return [Path(out) for out in outs], dropped, [records[k]["report"] for k in range(len(pieces))]


def part_documents(parts: list[Path]) -> Iterator[tuple[str, str]]:
    """The parts' documents in order, one at a time."""
    for part in parts:
        with part.open() as f:
            for line in f:
                doc_id, text = json.loads(line)
                yield doc_id, text
