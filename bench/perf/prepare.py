"""Benchmark: preparation into the token store, against bare `tokenizers`, and its memory as
the corpus grows.

    python -m bench.perf.prepare [--mb 25] [--shard-mb 16]   # prints and saves bench/results/prepare.json
    python -m bench.perf.prepare --mb 1024                    # the issue's 1 GB vs 4 GB (~40 min on 2 cores)

Measured on this machine, on generated English-like prose (JSON lines, one source):
- one core's tokens/s writing shards (reading the documents file, holding documents out,
  encoding, writing .bin/.idx files: `tokenize_source` in this process) against bare
  `Tokenizer.encode_batch` over the same texts already in memory, in the same process with
  the same tokenizer: target ratio >= 0.8;
  (on a corpus of `--throughput-mb`, default 25);
- the peak resident memory of a whole `python -m trainers.data.prepare` in one process (it
  is the only worker: reading, deduplication, decontamination, tokenizer, shards of
  `--shard-mb`) on a corpus of MB and of 4 x MB, each in its own process: target ratio
  (large / small) within 1.2, memory flat in corpus size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from bench.report import ROOT, report

WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when if so no will more out up into do any "
         "river city market voice night garden letter winter morning quiet station harbour government people "
         "history between during against without under water little small great").split()


def write_corpus(folder: Path, mb: float, seed: int = 0) -> Path:
    """`mb` MB of prose documents (60 to 2,000 words each) in JSON lines; a spec over them."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written, target = 0, int(mb * 2**20)
    with open(folder / "prose.jsonl", "w") as f:
        while written < target:
            words = rng.choices(WORDS, k=rng.randint(60, 2000))
            line = json.dumps({"text": " ".join(words) + "."}) + "\n"
            f.write(line)
            written += len(line)
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump({"tokenizer": {"train": {"vocab_size": 4096}}, "sources": [
        {"name": "prose", "family": "text", "paths": ["prose.jsonl"], "licence": "generated"}]}))
    return spec


def throughput(spec: Path, cache: Path) -> dict:
    """Shards written vs bare encode_batch, one core, same tokenizer and documents."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core each
    from tokenizers import Tokenizer
    from trainers.data.prepare import prepare
    from trainers.data.spec import load_spec
    from trainers.data.tokenize import tokenize_source
    data = prepare(4096, cache, registry=load_spec(spec).registry(), quiet=True)
    source = data.sources()["prose"]
    docs_file = Path(source["documents"])
    meta = json.loads(docs_file.with_suffix(".meta.json").read_text())
    tokenizer = data.tokenizer_dir / "tokenizer.json"
    texts = [t for _, t in map(json.loads, docs_file.read_text().splitlines())]
    tok = Tokenizer.from_file(str(tokenizer))
    out = {}
    for _ in range(2):  # bare, then ours, twice: the second pair is reported
        start = time.perf_counter()
        bare = sum(len(e.ids) + 1 for b in range(0, len(texts), 1024) for e in tok.encode_batch(texts[b:b + 1024]))
        bare_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            totals = tokenize_source(docs_file, tokenizer, Path(tmp), np.uint16, data.eos_id, meta["fallback"],
                                     say=lambda *a: None)
            ours_s = time.perf_counter() - start
        assert totals["tokens_train"] + totals["tokens_val"] == bare
        out = {"tokens": bare, "shards": totals["shards"], "bare_tokens_per_s": bare / bare_s,
               "store_tokens_per_s": bare / ours_s, "store_over_bare": bare_s / ours_s}
    return out


def peak_rss_mb(spec: Path, cache: Path, shard_mb: float) -> tuple[float, float]:
    """A whole preparation in its own process: its peak resident memory (MB) and wall time."""
    code = ("import resource, sys; from trainers.data.prepare import main; main(sys.argv[1:]); "
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "--spec", str(spec), "--cache", str(cache), "--ray", "",
                           "--shard-mb", str(shard_mb)],
                          cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    peak = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("PEAK"))
    return peak / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=25, help="the small corpus, MB (the large is 4x; default 25)")
    parser.add_argument("--shard-mb", type=float, default=16, help="documents per shard, MB (default 16)")
    parser.add_argument("--throughput-mb", type=float, default=25, help="the corpus for tokens/s, MB (default 25)")
    args = parser.parse_args()
    results = {"machine_cpus": os.cpu_count(), "small_mb": args.mb, "large_mb": 4 * args.mb, "shard_mb": args.shard_mb}
    with tempfile.TemporaryDirectory() as tmp:
        results.update(throughput(write_corpus(Path(tmp) / "speed", args.throughput_mb), Path(tmp) / "cache-speed"))
        for name, mb in (("small", args.mb), ("large", 4 * args.mb)):
            spec = write_corpus(Path(tmp) / name, mb)
            results[f"{name}_peak_rss_mb"], results[f"{name}_prepare_s"] = peak_rss_mb(
                spec, Path(tmp) / f"cache-{name}", args.shard_mb)
            print(f"{name}: {mb:g} MB prepared in {results[f'{name}_prepare_s']:.0f} s, peak RSS "
                  f"{results[f'{name}_peak_rss_mb']:.0f} MB", flush=True)
            shutil.rmtree(Path(tmp) / name)  # the disk holds one corpus (and its cache) at a time
            shutil.rmtree(Path(tmp) / f"cache-{name}")
    results["peak_rss_large_over_small"] = results["large_peak_rss_mb"] / results["small_peak_rss_mb"]
    report(results, "prepare")


if __name__ == "__main__":
    main()
