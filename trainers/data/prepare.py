"""Build the embedded corpus once: held-out splits, a byte-level BPE tokenizer, token arrays.

    python -m trainers.data.prepare            # prints per-source statistics

Everything lands in one cache folder named by what it depends on (prep version and
vocabulary size), so every trial, worker and later sweep reads the same arrays and nothing
is tokenized twice. The folder is written under a temporary name and renamed at the end:
a crash never leaves a half-built cache that looks complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from trainers.data.sources import DOMAINS, SOURCES

PREP_VERSION = 1          # bump when documents, splits or tokenization change
EOS = "<|endoftext|>"     # id 0: separates documents in the packed token stream
VAL_SHARE = 0.05          # held-out documents per source (at least one)
TOKENIZER_SAMPLE_BYTES = 4_000_000  # per domain: both domains shape the vocabulary equally

def cache_root() -> Path:
    return Path(os.environ.get("CODEMIX_CACHE", Path.home() / ".cache" / "codemix")).expanduser()

@dataclass(frozen=True)
class PreparedData:
    """Where the prepared arrays and tokenizer live; all workers open the same files."""
    root: Path

    @property
    def tokenizer_dir(self) -> Path:
        return self.root / "tokenizer"

    def tokens(self, domain: str, split: str) -> np.ndarray:
        return np.load(self.root / f"{domain}_{split}.npy", mmap_mode="r")

    def token_bytes(self) -> np.ndarray:
        return np.load(self.root / "token_bytes.npy")

    def stats(self) -> dict:
        return json.loads((self.root / "stats.json").read_text())

def _split(docs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Hold out whole documents, chosen by a hash of their id (stable across machines)."""
    order = sorted(range(len(docs)), key=lambda i: hashlib.sha1(docs[i][0].encode()).hexdigest())
    n_val = max(1, round(VAL_SHARE * len(docs)))
    val_ids = set(order[:n_val])
    train = [t for i, (_, t) in enumerate(docs) if i not in val_ids]
    val = [t for i, (_, t) in enumerate(docs) if i in val_ids]
    return train, val

def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte <-> printable-character table, which ByteLevel BPE uses."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))

def _token_bytes(tok: Tokenizer) -> np.ndarray:
    """UTF-8 bytes each token stands for; special tokens count 0 and are left out of bpb."""
    char_to_byte = {c: b for b, c in _bytes_to_unicode().items()}
    out = np.zeros(tok.get_vocab_size(), dtype=np.int32)
    for piece, idx in tok.get_vocab().items():
        if piece != EOS:
            out[idx] = sum(1 for c in piece if c in char_to_byte)
    return out

def _train_tokenizer(train: dict[str, list[str]], vocab_size: int) -> Tokenizer:
    def sample():
        for domain in DOMAINS:
            budget = TOKENIZER_SAMPLE_BYTES
            for text in train[domain]:
                if budget <= 0:
                    break
                budget -= len(text)
                yield text
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(sample(), trainer)
    return tok

def _encode(tok: Tokenizer, texts: list[str]) -> np.ndarray:
    eos = tok.token_to_id(EOS)
    ids = [np.array(e.ids + [eos], dtype=np.uint16) for e in tok.encode_batch(texts)]
    return np.concatenate(ids) if ids else np.zeros(0, dtype=np.uint16)

def prepare(vocab_size: int = 4096, root: Path | None = None, quiet: bool = False) -> PreparedData:
    """Build (or reuse) the prepared corpus for this vocabulary size."""
    if not 256 < vocab_size <= 65535:
        raise ValueError(f"vocab_size {vocab_size} must be in (256, 65535] for uint16 arrays")
    root = (root or cache_root()).expanduser().resolve()
    final = root / f"data-v{PREP_VERSION}-vocab{vocab_size}"
    if (final / "stats.json").exists():
        return PreparedData(final)
    say = (lambda *a: None) if quiet else (lambda *a: print("[prepare]", *a, flush=True))
    root.mkdir(parents=True, exist_ok=True)

    train: dict[str, list[str]] = {d: [] for d in DOMAINS}
    val: dict[str, list[str]] = {d: [] for d in DOMAINS}
    per_source = {}
    for src in SOURCES.values():
        docs = list(src.documents(root))
        tr, va = _split(docs)
        train[src.domain] += tr
        val[src.domain] += va
        per_source[src.name] = {
            "domain": src.domain, "licence": src.licence, "origin": src.origin,
            "documents_train": len(tr), "documents_val": len(va),
            "bytes_train": sum(len(t.encode()) for t in tr),
            "bytes_val": sum(len(t.encode()) for t in va),
        }
        say(f"{src.name}: {len(docs)} documents ({src.domain}, {src.licence})")

    tok = _train_tokenizer(train, vocab_size)
    say(f"trained a byte-level BPE tokenizer with {tok.get_vocab_size()} tokens")
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=root))
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS,
                            bos_token=EOS, unk_token=None).save_pretrained(tmp / "tokenizer")
    np.save(tmp / "token_bytes.npy", _token_bytes(tok))
    domains = {}
    for domain in DOMAINS:
        for split, texts in (("train", train[domain]), ("val", val[domain])):
            arr = _encode(tok, texts)
            np.save(tmp / f"{domain}_{split}.npy", arr)
            domains[f"{domain}_{split}"] = {"tokens": int(arr.size), "documents": len(texts)}
            say(f"{domain}/{split}: {len(texts)} documents, {arr.size:,} tokens")
    stats = {"prep_version": PREP_VERSION, "vocab_size": tok.get_vocab_size(),
             "sources": per_source, "splits": domains}
    (tmp / "stats.json").write_text(json.dumps(stats, indent=2))
    try:
        tmp.rename(final)
    except OSError:  # another process finished first: its copy is identical, keep it
        shutil.rmtree(tmp, ignore_errors=True)
    return PreparedData(final)

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary size (default 4096)")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $CODEMIX_CACHE or ~/.cache/codemix)")
    args = p.parse_args()
    data = prepare(args.vocab_size, args.cache)
    print(json.dumps(data.stats(), indent=2))
    print(f"prepared data: {data.root}")

if __name__ == "__main__":
    main()
