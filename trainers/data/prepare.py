"""Prepare data once: documents per source, held-out splits, a BPE tokenizer, token arrays.

    python -m trainers.data.prepare                 # build (or reuse) and print statistics

Three caches under $CODEMIX_CACHE (default ~/.cache/codemix), each keyed by content:
  docs/<source>-<version>.jsonl              a source's documents  (source version)
  tokenizer-<key>/                           byte-level BPE, HF format (sources + vocab)
  tokens/<source>-<version>-<tokenizer>/     shards (trainers.data.store), stats.json
Documents are decontaminated as they are read, one at a time (a source of files is read a
file per Ray task when Ray runs: trainers.data.read), and exact-deduplicated across every
source in registry order; each source's documents file is then tokenized in units, each its
own shard, as Ray tasks when Ray runs (trainers.data.tokenize). Every trial and worker of a sweep, and
every later sweep, reads the same shards: nothing is tokenized twice. Each entry is written
under a temporary name and renamed when complete, so a crash never leaves a half-built
entry that looks finished (a source's finished shards are kept and the rest resumed), and
two processes racing to build the same entry both end with one complete copy. The result
is a manifest (a JSON file of paths) that workers open without rebuilding anything.
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

from common.fetch import SourceUnavailable, cache_root
from trainers.data.decontaminate import DECONTAMINATION, screen
from trainers.data.files import is_uri
from trainers.data.pretrained import load_pretrained, save_pretrained_tokenizer
from trainers.data.read import part_documents, read_pieces, returned
from trainers.data.readers import Malformed
from trainers.data.sources import FAMILIES, SOURCES, Source
from trainers.data.store import Packed, dtype_for
from trainers.data.tokenize import EOS, UNIT_BYTES, held_out, split_key, tokenize_source

PREP_VERSION = 5          # bump when splitting or tokenization change
DEDUP = "exact-blake2b-128"  # part of the documents cache key: how duplicates are found
TOKENIZER_SAMPLE_BYTES = 1_000_000  # per source, spread over its documents: every source shapes the vocabulary


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class PreparedData:
    """The manifest of a preparation: where the tokenizer and each source's arrays live."""
    manifest: Path
    built: tuple[str, ...] = field(default=(), compare=False)  # entries built by this call

    @classmethod
    def open(cls, location: str | Path) -> "PreparedData":
        """The prepared data at a manifest's path, or a published store's location (s3://...
        or a folder; trainers.data.publish): this node's copy of it."""
        if is_uri(location):
            from trainers.data.publish import node_copy
            return cls(node_copy(str(location)))
        path = Path(location).expanduser()
        return cls(path / "manifest.json" if path.is_dir() else path)

    @property
    def _m(self) -> dict:
        return json.loads(self.manifest.read_text())

    @property
    def location(self) -> str:
        """Where every node finds this data: the published store it was copied from, or the
        manifest's path (a cache every node sees)."""
        return self._m.get("store") or str(self.manifest)

    def _folder(self, folder: str) -> Path:
        """A folder the manifest names: absolute, or relative to it (a published store's, the
        node's copy fetched on first use)."""
        if Path(folder).is_absolute():
            return Path(folder)
        store = self._m.get("store")
        if store:
            from trainers.data.publish import fetch
            return fetch(store, self.manifest.parent, folder)
        return self.manifest.parent / folder

    @property
    def tokenizer_dir(self) -> Path:
        return self._folder(self._m["tokenizer"])

    def source_dir(self, source: str) -> Path:
        """A source's shards' folder (on this node)."""
        return self._folder(self.sources()[source]["dir"])

    @property
    def eos_id(self) -> int:
        """The id that ends every document (and the model's generation)."""
        return self._m.get("eos_id", 0)

    def token_bytes(self) -> np.ndarray:
        return np.load(self.tokenizer_dir / "token_bytes.npy")

    def sources(self) -> dict[str, dict]:
        return self._m["sources"]

    def tokens(self, source: str, split: str) -> Packed:
        """A source's split, its shards memory-mapped end to end (nothing is read yet)."""
        s = self.sources()[source]
        return Packed.open(self.source_dir(source), split, s["dtype"], s["shards"])

    def missing(self) -> dict[str, str]:
        """Sources that could not be built, and why (one line each)."""
        return self._m.get("missing", {})

    def _part_sources(self, part: str) -> list[str]:
        """A mixture part's sources (a family's, or a text tier's: "text/news") in packing order."""
        family, _, tier = part.partition("/")
        return [name for name, s in sorted(self.sources().items())
                if s["family"] == family and (not tier or s.get("tier") == tier)]

    def _family_parts(self, part: str, split: str) -> list[Packed]:
        """A part's source arrays in packing order, memory-mapped (nothing is read yet)."""
        return [self.tokens(name, split) for name in self._part_sources(part)]

    def part_layout(self, part: str, split: str) -> list[tuple[str, int]]:
        """A part's sources in the order `family_tokens` packs them, with their token counts."""
        return [(name, len(a)) for name, a in zip(self._part_sources(part), self._family_parts(part, split), strict=True)]

    def family_tokens(self, family: str, split: str) -> Packed:
        """A family's (or text tier's) sources one after another (empty if it has none), as one
        lazily read array: never concatenated in memory."""
        return Packed.chain(self._family_parts(family, split))

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


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _documents_file(src: Source, root: Path, say=print) -> tuple[Path, dict]:
    """A source's documents, decontaminated and without exact duplicates, as a JSONL cache
    file built once, streaming (one document in memory at a time), and its record: counts,
    malformed records (a spec source's), and the held-out fallback. A source read from files
    is read a file at a time as Ray tasks when Ray runs (trainers.data.read), into parts
    strung together here in order. Beside the file: the sorted digests of its documents
    (`.digests.npy`, for deduplication across sources) and the contaminated ones dropped
    (`.dropped.json`). Raises SourceUnavailable, or ValueError for too many malformed records."""
    path = root / "docs" / f"{src.name}-{_key(src.version, DECONTAMINATION, DEDUP)}.jsonl"
    meta_path = path.with_suffix(".meta.json")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = path.with_suffix(".parts")
        if src.pieces:
            files, dropped, reports = read_pieces(src.pieces, parts, say, src.name)
            bad = Malformed.merged(src.name, reports)
            bad.check(src.max_bad_fraction)
            if bad.bad:
                say(f"{src.name}: {bad.bad:,} of {bad.records:,} records malformed and skipped, first "
                    f"{'; '.join(bad.first)}")
            stream, box = part_documents(files), {"report": bad.report(len(src.pieces))}
        else:
            dropped, box = {}, {}
            stream = screen(returned(src.documents(root), box), dropped)
        seen, duplicates, documents, lowest = set(), 0, 0, (2.0, None)
        any_held_out = False
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        with tmp.open("w") as f:
            for doc_id, text in stream:
                digest = _digest(text)
                if digest in seen:
                    duplicates += 1
                    continue
                seen.add(digest)
                f.write(json.dumps([doc_id, text]) + "\n")
                documents += 1
                any_held_out |= held_out(doc_id, None)
                lowest = min(lowest, (split_key(doc_id), doc_id))
        if not documents:  # never cache an empty source: it would stand for the real one
            tmp.unlink()
            raise SourceUnavailable(f"{src.name}: yields no documents")
        meta = {"documents": documents, "duplicates": duplicates, "dropped_contaminated": len(dropped),
                "fallback": None if any_held_out else lowest[1], **(box.get("report") or {})}
        np.save(path.with_suffix(".digests.npy"), np.sort(np.array(list(seen), dtype="V16")))
        path.with_suffix(".dropped.json").write_text(json.dumps(dropped, indent=1))
        meta_path.write_text(json.dumps(meta))
        tmp.rename(path)
        shutil.rmtree(parts, ignore_errors=True)
    return path, json.loads(meta_path.read_text())


def _digests(documents: Path) -> Path:
    """The sorted digests of a documents file (written with it; made here for a file cached
    before they were)."""
    path = documents.with_suffix(".digests.npy")
    if not path.exists():
        with documents.open() as f:
            digests = np.sort(np.array([_digest(text) for _, text in map(json.loads, f)], dtype="V16"))
        tmp = path.with_suffix(f".tmp-{os.getpid()}.npy")
        np.save(tmp, digests)
        tmp.rename(path)
    return path


def _repeated_across(files: dict[str, tuple[Path, dict]]) -> dict[str, np.ndarray]:
    """Per source, the sorted digests of its documents that an earlier source (in registry
    order) already holds: the whole corpus is exact-deduplicated, the first copy kept. Each
    source's documents file stays its own (a changed source re-reads only itself); what
    another source repeats is left out when its shards are written."""
    union, repeated = np.empty(0, "V16"), {}
    for name, (path, _) in files.items():
        mine = np.load(_digests(path))
        repeated[name] = np.intersect1d(mine, union, assume_unique=True)
        union = np.union1d(union, mine)
    return repeated


def _train_texts(path: Path, fallback: str | None, every: int):
    """Every `every`-th training document of a documents file, streamed."""
    with path.open() as f:
        train = (text for doc_id, text in map(json.loads, f) if not held_out(doc_id, fallback))
        for i, text in enumerate(train):
            if i % every == 0:
                yield text


def _train_tokenizer(files: dict[str, tuple[Path, dict]], vocab_size: int, out: Path) -> None:
    def sample():  # about TOKENIZER_SAMPLE_BYTES of every source, every k-th training document
        for path, meta in files.values():
            yield from _train_texts(path, meta["fallback"], max(1, path.stat().st_size // TOKENIZER_SAMPLE_BYTES))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    from transformers import PreTrainedTokenizerFast  # only when building: transformers is slow to import
    tok.train_from_iterator(sample(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    save_pretrained_tokenizer(PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS,
                                                      bos_token=EOS, unk_token=None), out)


def prepare(vocab_size: int = 4096, root: Path | None = None, registry: dict[str, Source] | None = None,
            quiet: bool = False, unit_bytes: int = UNIT_BYTES, tokenizer: str = "") -> PreparedData:
    """Build (or reuse) documents, tokenizer and token shards for every source of the registry:
    a byte-level BPE of `vocab_size` trained on them, or the `tokenizer` given (a folder or
    hub id; trainers.data.pretrained). With Ray initialized, a source's units are tokenized
    as Ray tasks over the cluster."""
    pretrained = load_pretrained(tokenizer) if tokenizer else None
    if pretrained is not None:
        vocab_size = len(pretrained)
    if vocab_size <= 256:
        raise ValueError(f"vocab_size {vocab_size} must be above 256 (the byte alphabet)")
    dtype = dtype_for(vocab_size)
    registry = registry if registry is not None else SOURCES
    root = Path(root).expanduser().resolve() if root else cache_root()
    say = (lambda *a: None) if quiet else (lambda *a: print("[prepare]", *a, flush=True))
    built: list[str] = []
    files: dict[str, tuple[Path, dict]] = {}
    missing: dict[str, str] = {}
    for src in registry.values():  # documents first: a source that cannot be built is left out
        start = time.perf_counter()
        try:
            files[src.name] = _documents_file(src, root, say)
        except SourceUnavailable as e:
            missing[src.name] = str(e)
            say(f"skipped {src.name}: {e}")
            continue
        if time.perf_counter() - start > 0.1:
            meta = files[src.name][1]
            say(f"{src.name}: {meta['documents']:,} documents ({src.family}, {src.licence}; "
                f"{meta['duplicates']:,} duplicates and "
                f"{meta['dropped_contaminated']:,} contaminated dropped) in "
                f"{time.perf_counter() - start:.1f} s")
    registry = {name: src for name, src in registry.items() if name in files}

    if pretrained is not None:  # keyed by what it is, wherever it was loaded from
        tok_key = _key(PREP_VERSION, hashlib.sha1(pretrained.backend_tokenizer.to_str().encode()).hexdigest())
    else:
        tok_key = _key(PREP_VERSION, vocab_size, sorted(path.stem for path, _ in files.values()))  # what it read
    tok_dir = root / f"tokenizer-{tok_key}"

    def build_tokenizer(tmp: Path):
        if pretrained is not None:
            save_pretrained_tokenizer(pretrained, tmp)
            say(f"tokenizer {tokenizer} ({vocab_size:,} tokens, ids as {dtype.name})")
        else:
            _train_tokenizer(files, vocab_size, tmp)
            say(f"trained a byte-level BPE tokenizer with {vocab_size} tokens")
    if _atomic_dir(tok_dir, build_tokenizer):
        built.append("tokenizer")
    eos = pretrained.eos_token_id if pretrained is not None else \
        Tokenizer.from_file(str(tok_dir / "tokenizer.json")).token_to_id(EOS)

    manifest = {"prep_version": PREP_VERSION, "vocab_size": vocab_size, "tokenizer": str(tok_dir), "sources": {},
                "missing": missing, "eos_id": eos}
    repeated = _repeated_across(files)
    for src in registry.values():
        skip = repeated[src.name].tobytes()
        entry = root / "tokens" / f"{src.name}-{_key(files[src.name][0].stem, unit_bytes, _key(skip.hex()))}-{tok_key}"
        if not entry.exists():
            _tokenize(src, *files[src.name], tok_dir, entry, dtype, eos, unit_bytes, say, skip)
            built.append(src.name)
        manifest["sources"][src.name] = {**json.loads((entry / "stats.json").read_text()), "dir": str(entry),
                                         "documents": str(files[src.name][0])}

    text = json.dumps(manifest, indent=1, sort_keys=True)
    path = root / "manifests" / f"{_key(text)}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(text)
        tmp.rename(path)
    return PreparedData(path, tuple(built))


def _tokenize(src: Source, docs: Path, meta: dict, tok_dir: Path, entry: Path, dtype, eos: int, unit_bytes: int,
              say, skip: bytes) -> None:
    """A source's shards into `<entry>.partial` (kept across a kill: finished units are not
    done again), leaving out the documents whose digests are in `skip` (an earlier source's),
    then its stats, then the rename that makes the entry whole."""
    partial = entry.with_name(entry.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    totals = tokenize_source(docs, tok_dir / "tokenizer.json", partial, dtype, eos, meta["fallback"], unit_bytes,
                             say, src.name, skip)
    stats = {"family": src.family, "tier": src.tier, "licence": src.licence, "origin": src.origin,
             "version": src.version, **{k: v for k, v in meta.items() if k not in ("documents", "fallback")},
             **totals}
    (partial / "stats.json").write_text(json.dumps(stats, indent=1))
    for stale in partial.glob("*.tmp-*"):  # a killed run's half-written shard: every unit is recorded done now
        stale.unlink(missing_ok=True)
    say(f"{src.name}: tokenized {stats['tokens_train']:,} train and {stats['tokens_val']:,} held-out tokens "
        f"in {stats['shards']} shard{'s' * (stats['shards'] > 1)}")
    try:
        partial.rename(entry)
    except OSError:
        if not entry.exists():  # another process finished the same entry first: same bytes
            raise


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary size (default 4096)")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $CODEMIX_CACHE or ~/.cache/codemix)")
    p.add_argument("--spec", default=None, metavar="SPEC.yaml",
                   help="your own corpora as a data spec (README, 'Your own data'); default: the embedded sources")
    p.add_argument("--max-bad-fraction", type=float, default=None, metavar="F",
                   help="with --spec: the share of a source's records that may be malformed (skipped and named) "
                        "before the source is refused (default: the spec's max_bad_fraction, else 0.01)")
    p.add_argument("--shard-mb", type=float, default=UNIT_BYTES / 2**20, metavar="MB",
                   help=f"documents per token shard, in MB of text (default {UNIT_BYTES >> 20}); each shard is one "
                        "task, so smaller shards spread a source over more workers")
    p.add_argument("--output", default="", metavar="S3_URI_OR_FOLDER",
                   help="also publish the prepared store there (s3://bucket/prefix, or a folder every node sees): "
                        "sweeps then train from it with --data S3_URI_OR_FOLDER, each node copying what it reads")
    p.add_argument("--ray", default=os.environ.get("RAY_ADDRESS", ""), metavar="ADDRESS",
                   help="tokenize the shards as Ray tasks on this cluster (default $RAY_ADDRESS, set by `ray job "
                        "submit`; 'local' starts one on this machine's cores; none: in this process). The shards are "
                        "byte-identical either way")
    args = p.parse_args(argv)
    registry, vocab, tokenizer = None, args.vocab_size, ""
    try:
        if args.max_bad_fraction is not None and not (args.spec and 0 <= args.max_bad_fraction <= 1):
            raise ValueError(f"--max-bad-fraction {args.max_bad_fraction:g} needs --spec and a value in [0, 1]")
        if args.spec:
            from dataclasses import replace
            from trainers.data.spec import load_spec
            spec = load_spec(args.spec)
            if args.max_bad_fraction is not None:
                spec = replace(spec, max_bad_fraction=args.max_bad_fraction)
            registry, vocab, tokenizer = spec.registry(), spec.vocab_size or args.vocab_size, spec.tokenizer
        if args.shard_mb <= 0:
            raise ValueError(f"--shard-mb {args.shard_mb:g} must be positive")
        if args.ray:
            import ray
            ray.init(address=None if args.ray == "local" else args.ray, include_dashboard=False,
                     log_to_driver=False)
        if args.output:
            from trainers.data.publish import check_writable
            check_writable(args.output)
        data = prepare(vocab, args.cache, registry=registry, unit_bytes=int(args.shard_mb * 2**20), tokenizer=tokenizer)
    except ValueError as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    print(json.dumps(data.sources(), indent=1))
    print(f"manifest: {data.manifest}")
    if args.output:
        from trainers.data.publish import publish
        print(f"published: {publish(data, args.output, say=lambda *a: print('[prepare]', *a, flush=True))}")


if __name__ == "__main__":
    main()
