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
      - name: commits                         # a document made of several fields, some records left out
        family: code_adjacent
        paths: ["hf://datasets/bigcode/commitpackft/data/python/*.jsonl"]
        template: "{message}\n{new_contents}"  # instead of field
        where: {lang: {in: [Python]}}         # dotted paths; in or not_in a list
        max_documents: 100000                 # optional: stop after this many documents
        licence: MIT
      - builtin: shakespeare                  # an embedded source (trainers/data/sources.py), as is

Everything is checked when the spec is loaded, before any work: unknown keys, families,
tiers, formats and built-in sources, a path that matches nothing, a field missing from a
file's records (every local file's; a remote pattern's first file's), a vocabulary that does
not fit the token arrays. The embedded default and the study's remote datasets are specs
too (`embedded_spec()` here, `trainers.data.remote.remote_spec()`), read by the same code. A
source's version (what its cached documents are keyed by) is its files' names, sizes and
modification times with the format and fields: changing a file re-prepares that source. A
source's files are read one per task (trainers.data.read) unless it is capped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

from trainers.data.english import TIERS
from trainers.data.files import expand, is_uri, stat
from trainers.data.pretrained import load_pretrained
from trainers.data.readers import FORMATS, Fields, Malformed, missing_field, read_documents
from trainers.data.sources import FAMILIES, SOURCES, Source
from trainers.data.store import dtype_for

TOP_KEYS = {"tokenizer", "sources", "max_bad_fraction"}
SOURCE_KEYS = {"name", "family", "tier", "paths", "format", "field", "template", "where", "max_documents", "licence"}
IDS = "name/line"  # how a document is named (its held-out side is a hash of the name): part of the version
MAX_VOCAB = 2**32  # token ids are stored as uint16, or uint32 above 65,536 tokens (trainers.data.store)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    family: str
    files: tuple[str, ...]     # local paths or s3:// / hf:// URIs (trainers.data.files)
    format: str        # "" : by each file's suffix
    fields: Fields
    licence: str
    tier: str = ""
    max_documents: int = 0     # 0: every document
    builtin: str = ""          # an embedded source's name: the rest is its own

    @property
    def version(self) -> str:
        stats = [(p, *stat(p)) for p in self.files]
        return hashlib.sha1(json.dumps([stats, self.format, self.fields.field, self.fields.template,
                                        self.fields.where, self.max_documents, IDS]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DataSpec:
    path: Path
    sources: tuple[SourceSpec, ...]
    vocab_size: int = 0          # 0: the model size's; a pretrained tokenizer's own
    max_bad_fraction: float = 0.01
    tokenizer: str = ""          # a pretrained tokenizer's folder or hub id; "": train a BPE

    def registry(self) -> dict[str, Source]:
        return {s.name: SOURCES[s.builtin] if s.builtin else
                Source(s.name, s.family, s.licence, f"{self.path.name}: {len(s.files)} files", s.version,
                       partial(_documents, s, self.max_bad_fraction), tier=s.tier,
                       pieces=() if s.max_documents else tuple(partial(_file_documents, s, f) for f in s.files),
                       max_bad_fraction=self.max_bad_fraction)
                for s in self.sources}


def _file_documents(source: SourceSpec, path: str):
    """One file's documents of a spec source (a piece, read as one task); returns its
    reader's report."""
    bad = Malformed(source.name)
    for doc_id, text in read_documents([path], source.format, source.fields, bad):
        yield f"{source.name}/{doc_id}", text
    return bad.report(1)


def _documents(source: SourceSpec, max_bad_fraction: float, cache):
    """A spec source's documents in one stream, the first `max_documents` (a capped source
    is read in order, in this process); refused in one line when too many were malformed.
    Returns what the manifest keeps of them: files, records read, malformed ones and the
    first few by file:line, filtered ones."""
    bad = Malformed(source.name)
    for n, (doc_id, text) in enumerate(read_documents(list(source.files), source.format, source.fields, bad), 1):
        yield f"{source.name}/{doc_id}", text
        if n == source.max_documents:
            break
    bad.check(max_bad_fraction)
    if bad.bad:
        print(f"[prepare] {source.name}: {bad.bad:,} of {bad.records:,} records malformed and skipped, first "
              f"{'; '.join(bad.first)}", flush=True)
    return bad.report(len(source.files))


def is_spec(data: str) -> bool:
    return data.endswith((".yaml", ".yml"))


def is_store(data: str) -> bool:
    """Whether `--data` names a published token store (trainers.data.publish): a URI, or a
    folder (or its manifest) holding a manifest.json."""
    return is_uri(data) or (Path(data).expanduser() / "manifest.json").is_file() or \
        (data.endswith(".json") and Path(data).expanduser().is_file())


def load_spec(path: str | Path) -> DataSpec:
    """The spec at `path`, checked; ValueError with one line naming what is wrong."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"data spec {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"data spec {path.name} is not valid YAML: {str(e).splitlines()[0]}") from None
    return spec_from_dict(raw, path)


def embedded_spec() -> dict:
    """The embedded default as a spec: every built-in source, in the registry's order."""
    return {"sources": [{"builtin": name} for name in SOURCES]}


def spec_from_dict(raw, path: Path) -> DataSpec:
    """A spec given as data (what the YAML at `path` holds; relative paths are its folder's),
    checked; ValueError with one line naming what is wrong."""
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
    if "builtin" in raw:
        name = raw["builtin"]
        if set(raw) != {"builtin"} or name not in SOURCES:
            raise ValueError(f"data spec source {index + 1}: builtin {name!r} stands alone and names one of "
                             f"{', '.join(SOURCES)}")
        src = SOURCES[name]
        return SourceSpec(name, src.family, (), "", Fields(), src.licence, src.tier, builtin=name)
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
    checked: list[str] = []  # whose records are checked for the fields: every local file, a remote pattern's first
    for pattern in paths:
        try:
            found = expand(pattern, folder)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        if not found:
            raise ValueError(f"{where}: {pattern!r} matches no file")
        files.extend(found)
        checked.extend(found[:1] if is_uri(pattern) else found)
    files = list(dict.fromkeys(files))
    fields = _fields(raw, where)
    for f in checked:
        missing = missing_field(f, fmt, fields)
        if missing is not None:
            raise ValueError(f"{where}: field {missing!r} is missing from the records of {f}")
    licence = raw.get("licence")
    if not isinstance(licence, str) or not licence.strip():
        raise ValueError(f"{where}: licence is required (the manifest and every report name it)")
    cap = raw.get("max_documents", 0)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
        raise ValueError(f"{where}: max_documents {cap!r} must be a whole number (0: every document)")
    return SourceSpec(name, family, tuple(files), fmt, fields, licence, tier, cap)


def _fields(raw: dict, where: str) -> Fields:
    """A source's `field` or `template`, and its `where` filters, checked."""
    if "field" in raw and "template" in raw:
        raise ValueError(f"{where}: give field or template, not both")
    key, template = raw.get("field", "text"), raw.get("template", "")
    if not isinstance(key, str) or not isinstance(template, str):
        raise ValueError(f"{where}: field and template are strings")
    if template:
        try:
            names = Fields(template=template).names
        except ValueError as e:
            raise ValueError(f"{where}: template {template!r} is not a format string: {e}") from None
        if not names or any(not n.isidentifier() for n in names):
            raise ValueError(f"{where}: template {template!r} must name record fields, as {{message}}")
    filters = raw.get("where", {})
    if not isinstance(filters, dict):
        raise ValueError(f"{where}: where must map a field to {{in: [...]}} or {{not_in: [...]}}")
    parsed = []
    for path, rule in filters.items():
        if not isinstance(path, str) or not isinstance(rule, dict) or len(rule) != 1 \
                or next(iter(rule)) not in ("in", "not_in") or not isinstance(next(iter(rule.values())), list):
            raise ValueError(f"{where}: where {path!r} must be {{in: [VALUES]}} or {{not_in: [VALUES]}}")
        op, values = next(iter(rule.items()))
        parsed.append((path, op, tuple(values)))
    return Fields(key, template, tuple(parsed))
