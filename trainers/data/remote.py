"""The study's remote datasets as a data spec: read as files through the hub's filesystem.

    python -m trainers.data.remote --languages python,java > study.yaml   # edit, then --data study.yaml
    registry = remote_registry(languages=("python", "java"))             # {name: Source}

SlimPajama without its GitHub and StackExchange parts (text), The Stack (deduplicated) in
the study's top 25 languages (web code) and its markup languages, and StackExchange, GitHub
issues and commits (code-adjacent): every file of each, no document cap, read by the same
readers as a user's spec (JSON lines .zst a line at a time, parquet a row group at a time),
as `hf://datasets/ID/...` paths. `$CODEMIX_HUB` points at a mirror of the hub's dataset
repositories instead (a folder or `s3://bucket/prefix` laid out as `ID/...`, the way
`huggingface-cli download --local-dir` leaves them): a cluster without internet reads a
copy; tests read a local folder laid out like the repositories. The study's synthetic code
was never released, so the spec takes the built-in generated source. A repository that
cannot be listed fails with one line naming it, before any work. The Stack is gated: accept
its terms on the hub and set `HF_TOKEN`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml

from trainers.data.sources import Source
from trainers.data.spec import spec_from_dict

HUB = "hf://datasets"
# The Stack's 25 most common languages by size, the "top 25" the study trained on.
STACK_LANGUAGES = ("java", "javascript", "c", "php", "python", "c++", "c-sharp", "typescript",
                   "go", "ruby", "rust", "kotlin", "scala", "swift", "shell", "sql", "lua",
                   "perl", "r", "dart", "haskell", "julia", "powershell", "fortran", "visual-basic")
STACK_MARKUP = ("html", "css", "scss", "markdown", "restructuredtext", "xml")
SLIMPAJAMA_CODE_SETS = ("RedPajamaGithub", "RedPajamaStackExchange")
STACK_LICENCE = "permissive licences, per file (The Stack terms)"


def remote_spec(languages: tuple[str, ...] = STACK_LANGUAGES, hub: str | None = None) -> dict:
    """The study's sources as a spec (what `--data remote` reads), rooted at `hub` (default
    $CODEMIX_HUB, else the hub itself)."""
    unknown = sorted(set(languages) - set(STACK_LANGUAGES) - set(STACK_MARKUP))
    if unknown:
        raise ValueError(f"unknown The Stack language(s) {', '.join(unknown)}; known: {', '.join(STACK_LANGUAGES)}")
    hub = (hub or os.environ.get("CODEMIX_HUB") or HUB).rstrip("/")
    slimpajama = [f"{hub}/cerebras/SlimPajama-627B/train/chunk*/*.jsonl.zst"]
    set_name = "meta.redpajama_set_name"
    stack = lambda langs: [f"{hub}/bigcode/the-stack-dedup/data/{lang}/*.parquet" for lang in langs]  # noqa: E731
    return {"sources": [
        {"name": "slimpajama_text", "family": "text", "paths": slimpajama,
         "where": {set_name: {"not_in": list(SLIMPAJAMA_CODE_SETS)}},
         "licence": "per-component terms of SlimPajama (Common Crawl, C4, Wikipedia, Books, ArXiv)"},
        {"name": "the_stack", "family": "web_code", "paths": stack(languages), "field": "content",
         "licence": STACK_LICENCE},
        {"name": "the_stack_markup", "family": "markup", "paths": stack(STACK_MARKUP), "field": "content",
         "licence": STACK_LICENCE},
        {"name": "stackexchange", "family": "code_adjacent", "paths": slimpajama,
         "where": {set_name: {"in": ["RedPajamaStackExchange"]}}, "licence": "CC-BY-SA (StackExchange via RedPajama)"},
        {"name": "github_issues", "family": "code_adjacent", "field": "content",
         "paths": [f"{hub}/bigcode/the-stack-github-issues/data/*.parquet"], "licence": "GitHub issues (The Stack terms)"},
        {"name": "commits", "family": "code_adjacent", "paths": [f"{hub}/bigcode/commitpackft/data/python/*.jsonl"],
         "template": "{message}\n\n--- {old_file}\n{old_contents}\n+++ {new_file}\n{new_contents}",
         "licence": "MIT-licensed repositories (CommitPackFT)"},
        {"builtin": "synthetic_python"},
    ]}


def remote_registry(languages: tuple[str, ...] = STACK_LANGUAGES, hub: str | None = None,
                    max_documents: int = 0) -> dict[str, Source]:
    """The remote spec's sources, checked (every repository listed); `max_documents` caps
    each source (0: none)."""
    raw = remote_spec(languages, hub)
    if max_documents:
        raw["sources"] = [{**s, "max_documents": max_documents} if "name" in s else s for s in raw["sources"]]
    try:
        return spec_from_dict(raw, Path.cwd() / "remote.yaml").registry()
    except ValueError as e:
        raise ValueError(f"remote data: {e}") from None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--languages", default=",".join(STACK_LANGUAGES), help="The Stack's languages (default: top 25)")
    p.add_argument("--hub", default=None, help="root of the datasets (default $CODEMIX_HUB, else hf://datasets)")
    args = p.parse_args(argv)
    try:
        raw = remote_spec(tuple(lang.strip() for lang in args.languages.split(",") if lang.strip()), args.hub)
    except ValueError as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    print(yaml.safe_dump(raw, sort_keys=False, width=120), end="")


if __name__ == "__main__":
    main()
