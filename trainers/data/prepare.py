"""Prepare data once: documents per source, held-out splits, a BPE tokenizer, token arrays.

    python -m trainers.data.prepare                 # build (or reuse) and print statistics

Three caches under $CODEMIX_CACHE (default ~/.cache/codemix), each keyed by content:
  docs/<source>-<version>.jsonl              a source's documents  (source version)
  tokenizer-<key>/                           byte-level BPE, HF format (sources + vocab)
  tokens/<source>-<version>-<tokenizer>/     train.npy, val.npy, stats.json
Every trial and worker of a sweep, and every later sweep, reads the same arrays: nothing is
tokenized twice. Each entry is written under a temporary name and renamed when complete,
so a crash never leaves a half-built entry that looks finished, and two processes racing
to build the same entry both end with one complete copy. The result is a manifest (a JSON
file of paths) that workers open without rebuilding anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from trainers.data.decontaminate import DECONTAMINATION, decontaminate
from common.fetch import SourceUnavailable, cache_root
from trainers.data.sources import FAMILIES, SOURCES, Source

PREP_VERSION = 3          # bump when splitting or tokenization change
EOS = "<|endoftext|>"     # id 0: separates documents in the packed token stream
VAL_SHARE = 0.05          # held-out documents per source (at least one)
TOKENIZER_SAMPLE_BYTES = 1_000_000  # per source, spread over its documents: every source shapes the vocabulary


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class PreparedData:
    """The manifest of a preparation: where the tokenizer and each source's arrays live."""
    manifest: Path
    built: tuple[str, ...] = field(default=(), compare=False)  # entries built by this call

    @property
    def _m(self) -> dict:
        return json.loads(self.manifest.read_text())

    @property
    def tokenizer_dir(self) -> Path:
        return Path(self._m["tokenizer"])

    def token_bytes(self) -> np.ndarray:
        return np.load(self.tokenizer_dir / "token_bytes.npy")

    def sources(self) -> dict[str, dict]:
        return self._m["sources"]

    def tokens(self, source: str, split: str) -> np.ndarray:
        return np.load(Path(self.sources()[source]["dir"]) / f"{split}.npy", mmap_mode="r")

    def missing(self) -> dict[str, str]:
        """Sources that could not be built, and why (one line each)."""
        return self._m.get("missing", {})

    def _part_sources(self, part: str) -> list[str]:
        """A mixture part's sources (a family's, or a text tier's: "text/news") in packing order."""
        family, _, tier = part.partition("/")
        return [name for name, s in sorted(self.sources().items())
                if s["family"] == family and (not tier or s.get("tier") == tier)]

    def _family_parts(self, part: str, split: str) -> list[np.ndarray]:
        """A part's source arrays in packing order, memory-mapped (nothing is read yet)."""
        return [self.tokens(name, split) for name in self._part_sources(part)]

    def part_layout(self, part: str, split: str) -> list[tuple[str, int]]:
        """A part's sources in the order `family_tokens` packs them, with their token counts."""
        return [(name, len(a)) for name, a in zip(self._part_sources(part), self._family_parts(part, split), strict=True)]

    def family_tokens(self, family: str, split: str) -> np.ndarray:
        """A family's (or text tier's) sources packed one after another (empty if it has none)."""
        parts = self._family_parts(family, split)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)

    def family_size(self, family: str, split: str) -> int:
        """Tokens in a family's split, from the arrays' headers."""
        return sum(len(a) for a in self._family_parts(family, split))

    def families(self) -> tuple[str, ...]:
        present = {s["family"] for s in self.sources().values()}
        return tuple(f for f in FAMILIES if f in present)


def _atomic_dir(final: Path, build) -> bool:
    """Build into a temporary sibling and rename; False if it already existed."""
    if final.exists():
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
    try:
        build(tmp)
        tmp.rename(final)
    except OSError:
        if not final.exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def _documents_file(src: Source, root: Path) -> Path:
    """A source's documents, decontaminated, as a JSONL cache file (built once); the dropped
    ones are listed beside it (<file>.dropped.json). Raises SourceUnavailable."""
    path = root / "docs" / f"{src.name}-{_key(src.version, DECONTAMINATION)}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        kept, dropped = decontaminate(src.documents(root))
        if not kept:  # never cache an empty source: it would stand for the real one
            raise SourceUnavailable(f"{src.name}: yields no documents")
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        with tmp.open("w") as f:
            for doc_id, text in kept:
                f.write(json.dumps([doc_id, text]) + "\n")
        path.with_suffix(".dropped.json").write_text(json.dumps(dropped, indent=1))
        tmp.rename(path)
    return path


def _documents(path: Path) -> list[tuple[str, str]]:
    with path.open() as f:
        return [tuple(json.loads(line)) for line in f]


def _split_key(doc_id: str) -> float:
    """A document's place in [0, 1), from its id without the source prefix and extension,
    so one module lands on the same side in every source derived from it (the stdlib file,
    its pydoc page, its docstring pairs): held-out code never leaks into training."""
    key = doc_id.split("/", 1)[-1].rsplit(".", 1)[0]
    return int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) / 16**12


def _split(docs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Hold out whole documents (at least one) by a hash of their id, stable across machines."""
    keys = [_split_key(d) for d, _ in docs]
    val = {i for i, k in enumerate(keys) if k < VAL_SHARE} or {min(range(len(docs)), key=keys.__getitem__)}
    return ([t for i, (_, t) in enumerate(docs) if i not in val], [t for i, (_, t) in enumerate(docs) if i in val])


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
    return dict(zip(bs, map(chr, cs), strict=True))


def _token_bytes(tok: Tokenizer) -> np.ndarray:
    """UTF-8 bytes each token stands for; special tokens count 0 and are left out of bpb."""
    char_to_byte = {c: b for b, c in _bytes_to_unicode().items()}
    out = np.zeros(tok.get_vocab_size(), dtype=np.int32)
    for piece, idx in tok.get_vocab().items():
        if piece != EOS:
            out[idx] = sum(1 for c in piece if c in char_to_byte)
    return out


def _train_tokenizer(train_by_source: dict[str, list[str]], vocab_size: int, out: Path) -> None:
    def sample():  # about TOKENIZER_SAMPLE_BYTES of every source, every k-th document
        for texts in train_by_source.values():
            step = max(1, sum(map(len, texts)) // TOKENIZER_SAMPLE_BYTES)
            yield from texts[::step]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    from transformers import PreTrainedTokenizerFast  # only when building: transformers is slow to import
    tok.train_from_iterator(sample(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS,
                            bos_token=EOS, unk_token=None).save_pretrained(out)
    np.save(out / "token_bytes.npy", _token_bytes(tok))


def _encode(tok: Tokenizer, texts: list[str]) -> np.ndarray:
    eos = tok.token_to_id(EOS)
    ids = [np.array(e.ids + [eos], dtype=np.uint16) for e in tok.encode_batch(texts)]
    return np.concatenate(ids) if ids else np.zeros(0, dtype=np.uint16)


def prepare(vocab_size: int = 4096, root: Path | None = None, registry: dict[str, Source] | None = None,
            quiet: bool = False) -> PreparedData:
    """Build (or reuse) documents, tokenizer and token arrays for every source of the registry."""
    if not 256 < vocab_size <= 65535:
        raise ValueError(f"vocab_size {vocab_size} must be in (256, 65535] for uint16 arrays")
    registry = registry if registry is not None else SOURCES
    root = Path(root).expanduser().resolve() if root else cache_root()
    say = (lambda *a: None) if quiet else (lambda *a: print("[prepare]", *a, flush=True))
    built: list[str] = []
    docs: dict[str, tuple[list[str], list[str]]] = {}
    files: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for src in registry.values():  # documents first: a source that cannot be built is left out
        start = time.perf_counter()
        try:
            files[src.name] = _documents_file(src, root)
        except SourceUnavailable as e:
            missing[src.name] = str(e)
            say(f"skipped {src.name}: {e}")
            continue
        if time.perf_counter() - start > 0.1:
            say(f"{src.name}: documents built in {time.perf_counter() - start:.1f} s")
    registry = {name: src for name, src in registry.items() if name in files}

    def split_docs(src: Source):
        if src.name not in docs:
            docs[src.name] = _split(_documents(files[src.name]))
            say(f"{src.name}: {sum(map(len, docs[src.name]))} documents ({src.family}, {src.licence})")
        return docs[src.name]

    tok_key = _key(PREP_VERSION, vocab_size, DECONTAMINATION, sorted((s.name, s.version) for s in registry.values()))
    tok_dir = root / f"tokenizer-{tok_key}"

    def build_tokenizer(tmp: Path):
        _train_tokenizer({src.name: split_docs(src)[0] for src in registry.values()}, vocab_size, tmp)
        say(f"trained a byte-level BPE tokenizer with {vocab_size} tokens")
    if _atomic_dir(tok_dir, build_tokenizer):
        built.append("tokenizer")
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))

    manifest = {"prep_version": PREP_VERSION, "vocab_size": vocab_size, "tokenizer": str(tok_dir), "sources": {},
                "missing": missing}
    for src in registry.values():
        entry = root / "tokens" / f"{src.name}-{_key(src.version)}-{tok_key}"

        def build_tokens(tmp: Path, src=src):
            train, val = split_docs(src)
            stats = {"family": src.family, "tier": src.tier, "licence": src.licence, "origin": src.origin,
                     "version": src.version,
                     "dropped_contaminated": len(json.loads(files[src.name].with_suffix(".dropped.json").read_text()))}
            for split, texts in (("train", train), ("val", val)):
                arr = _encode(tok, texts)
                np.save(tmp / f"{split}.npy", arr)
                stats.update({f"documents_{split}": len(texts), f"tokens_{split}": int(arr.size),
                              f"bytes_{split}": sum(len(t.encode()) for t in texts)})
            (tmp / "stats.json").write_text(json.dumps(stats, indent=1))
            say(f"{src.name}: tokenized {stats['tokens_train']:,} train and {stats['tokens_val']:,} held-out tokens")
        if _atomic_dir(entry, build_tokens):
            built.append(src.name)
        manifest["sources"][src.name] = {**json.loads((entry / "stats.json").read_text()), "dir": str(entry),
                                         "documents": str(files[src.name])}

    text = json.dumps(manifest, indent=1, sort_keys=True)
    path = root / "manifests" / f"{_key(text)}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(text)
        tmp.rename(path)
    return PreparedData(path, tuple(built))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary size (default 4096)")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $CODEMIX_CACHE or ~/.cache/codemix)")
    p.add_argument("--spec", default=None, metavar="SPEC.yaml",
                   help="your own corpora as a data spec (README, 'Your own data'); default: the embedded sources")
    p.add_argument("--max-bad-fraction", type=float, default=None, metavar="F",
                   help="with --spec: the share of a source's records that may be malformed (skipped and named) "
                        "before the source is refused (default: the spec's max_bad_fraction, else 0.01)")
    args = p.parse_args()
    registry, vocab = None, args.vocab_size
    try:
        if args.max_bad_fraction is not None and not (args.spec and 0 <= args.max_bad_fraction <= 1):
            raise ValueError(f"--max-bad-fraction {args.max_bad_fraction:g} needs --spec and a value in [0, 1]")
        if args.spec:
            from dataclasses import replace
            from trainers.data.spec import load_spec
            spec = load_spec(args.spec)
            if args.max_bad_fraction is not None:
                spec = replace(spec, max_bad_fraction=args.max_bad_fraction)
            registry, vocab = spec.registry(), spec.vocab_size or args.vocab_size
        data = prepare(vocab, args.cache, registry=registry)
    except ValueError as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    print(json.dumps(data.sources(), indent=1))
    print(f"manifest: {data.manifest}")


if __name__ == "__main__":
    main()
