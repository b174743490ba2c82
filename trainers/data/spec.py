"""A data spec: a user's own corpora, named in a YAML file, as sources of the five families.

    spec = load_spec("my_data.yaml")          # checked: one ValueError line for anything wrong
    registry = spec.registry()                # {name: Source}, what trainers.data.prepare builds

The format (README, "Your own data"):

    tokenizer: {train: {vocab_size: 4096}}    # optional; the model size's vocabulary by default
                                              # or {pretrained: FOLDER_OR_HUB_ID}
    max_bad_fraction: 0.01                    # optional; malformed records a source may have
    sources:
      - name: my_news
        family: text                          # text | web_code | markup | code_adjacent | synthetic
        tier: news                            # text only, optional: encyclopedic | news | speeches | literature
        paths: ["/data/news/*.jsonl.gz"]      # local globs (relative to the spec's folder), s3://, hf://
        format: jsonl                         # jsonl | parquet | text (one document per file); default by suffix
        field: text                           # the key or column holding the document (jsonl, parquet)
        licence: "CC BY 4.0"

Everything is checked when the spec is loaded, before any work: unknown keys, families,
tiers and formats, a path that matches nothing, a field missing from a file's records, a
vocabulary that does not fit the token arrays. A source's version (what its cached
documents are keyed by) is its files' names, sizes and modification times with the format
and field: changing a file re-prepares that source.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

from trainers.data.english import TIERS
from trainers.data.files import expand, stat
from trainers.data.pretrained import load_pretrained
from trainers.data.readers import FORMATS, Malformed, first_record_has, read_documents
from trainers.data.sources import FAMILIES, Source
from trainers.data.store import dtype_for

TOP_KEYS = {"tokenizer", "sources", "max_bad_fraction"}
SOURCE_KEYS = {"name", "family", "tier", "paths", "format", "field", "licence"}
MAX_VOCAB = 2**32  # token ids are stored as uint16, or uint32 above 65,536 tokens (trainers.data.store)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    family: str
    files: tuple[str, ...]     # local paths or s3:// / hf:// URIs (trainers.data.files)
    format: str        # "" : by each file's suffix
    field: str
    licence: str
    tier: str = ""

    @property
    def version(self) -> str:
        stats = [(p, *stat(p)) for p in self.files]
        return hashlib.sha1(json.dumps([stats, self.format, self.field]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DataSpec:
    path: Path
    sources: tuple[SourceSpec, ...]
    vocab_size: int = 0          # 0: the model size's; a pretrained tokenizer's own
    max_bad_fraction: float = 0.01
    tokenizer: str = ""          # a pretrained tokenizer's folder or hub id; "": train a BPE

    def registry(self) -> dict[str, Source]:
        return {s.name: Source(s.name, s.family, s.licence, f"{self.path.name}: {len(s.files)} files", s.version,
                               partial(_documents, s, self.max_bad_fraction), tier=s.tier)
                for s in self.sources}


def _documents(source: SourceSpec, max_bad_fraction: float, cache):
    """A spec source's documents, streamed; refused in one line when too many were malformed.
    Returns what the manifest keeps of them: records read, malformed ones and the first few
    by file:line."""
    bad = Malformed(source.name)
    yield from read_documents(list(source.files), source.format, source.field, bad)
    bad.check(max_bad_fraction)
    if bad.bad:
        print(f"[prepare] {source.name}: {bad.bad:,} of {bad.records:,} records malformed and skipped, first "
              f"{'; '.join(bad.first)}", flush=True)
    return {"files": len(source.files), "records": bad.records, "malformed": bad.bad, "first_malformed": bad.first}


def is_spec(data: str) -> bool:
    return data.endswith((".yaml", ".yml"))


def load_spec(path: str | Path) -> DataSpec:
    """The spec at `path`, checked; ValueError with one line naming what is wrong."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"data spec {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"data spec {path.name} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list) or not raw["sources"]:
        raise ValueError(f"data spec {path.name} needs a non-empty list under 'sources'")
    _known(raw, TOP_KEYS, f"data spec {path.name}")
    sources = tuple(_source(s, i, path.parent) for i, s in enumerate(raw["sources"]))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"data spec {path.name}: source names repeat: {', '.join(sorted(names))}")
    vocab, tokenizer = _tokenizer(raw.get("tokenizer"), path.name, path.parent)
    bad = raw.get("max_bad_fraction", 0.01)
    if not isinstance(bad, (int, float)) or not 0 <= bad <= 1:
        raise ValueError(f"data spec {path.name}: max_bad_fraction {bad!r} must be a number in [0, 1]")
    return DataSpec(path, sources, vocab, float(bad), tokenizer)


def _known(raw: dict, keys: set[str], where: str) -> None:
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(keys))}")


def _tokenizer(tokenizer, where: str, folder: Path) -> tuple[int, str]:
    """(vocabulary size, pretrained tokenizer's folder or hub id): a BPE to train, or one to
    load, loaded here once to check it (a relative folder is the spec's folder's)."""
    if tokenizer is None:
        return 0, ""
    if isinstance(tokenizer, dict) and set(tokenizer) == {"pretrained"} and isinstance(tokenizer["pretrained"], str):
        ref = tokenizer["pretrained"]
        local = (folder / ref).expanduser()
        if local.is_dir():
            ref = str(local.resolve())
        elif ref.startswith(("/", "./", "../", "~")):
            raise ValueError(f"data spec {where}: tokenizer folder {ref} does not exist")
        tok = load_pretrained(ref)
        dtype_for(len(tok))
        return len(tok), ref
    if not isinstance(tokenizer, dict) or set(tokenizer) != {"train"} or not isinstance(tokenizer["train"], dict) \
            or set(tokenizer["train"]) - {"vocab_size"}:
        raise ValueError(f"data spec {where}: tokenizer must be {{train: {{vocab_size: N}}}} or "
                         "{pretrained: FOLDER_OR_HUB_ID}")
    vocab = tokenizer["train"].get("vocab_size", 0)
    if not isinstance(vocab, int) or not 256 < vocab <= MAX_VOCAB:
        raise ValueError(f"data spec {where}: vocab_size {vocab!r} must be an integer in (256, {MAX_VOCAB:,}] "
                         "(token ids are stored as uint32 at most)")
    return vocab, ""


def _source(raw, index: int, folder: Path) -> SourceSpec:
    if not isinstance(raw, dict):
        raise ValueError(f"data spec source {index + 1} is not a mapping of keys")
    name = raw.get("name")
    where = f"data spec source {name or index + 1}"
    _known(raw, SOURCE_KEYS, where)
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"{where}: name must be letters, digits, '_' or '-'")
    family, tier, fmt = raw.get("family"), raw.get("tier", ""), raw.get("format", "")
    if family not in FAMILIES:
        raise ValueError(f"{where}: unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    if tier and (family != "text" or tier not in TIERS):
        raise ValueError(f"{where}: tier {tier!r} " + (f"must be one of {', '.join(TIERS)}" if family == "text"
                                                       else "applies to the text family only"))
    if fmt and fmt not in FORMATS:
        raise ValueError(f"{where}: unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    paths = raw.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"{where}: paths must be a list of file globs")
    files: list[str] = []
    for pattern in paths:
        try:
            found = expand(pattern, folder)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        if not found:
            raise ValueError(f"{where}: {pattern!r} matches no file")
        files.extend(found)
    key = raw.get("field", "text")
    missing = next((f for f in files if not first_record_has(f, fmt, key)), None)
    if missing is not None:
        raise ValueError(f"{where}: field {key!r} is missing from the records of {missing}")
    licence = raw.get("licence")
    if not isinstance(licence, str) or not licence.strip():
        raise ValueError(f"{where}: licence is required (the manifest and every report name it)")
    return SourceSpec(name, family, tuple(dict.fromkeys(files)), fmt, key, licence, tier)
