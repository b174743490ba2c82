"""Remote sources for clusters: the study's Hugging Face datasets, streamed with `datasets`.

    sources = remote_registry(languages=("python", "java"))   # {name: Source}

Each remote source streams up to `max_documents` rows (`load_dataset(..., streaming=True)`)
and becomes a `Source` like the embedded ones, so the same preparation (split, tokenize,
cache) applies. A dataset that cannot be reached fails with one line naming it. The same
code reads a local folder laid out like the hub repository (tests do exactly that).
"""

from __future__ import annotations

from typing import Callable, Iterator

from trainers.data.sources import Source

# The Stack's 25 most common languages by size, the "top 25" the study trained on.
STACK_LANGUAGES = ("java", "javascript", "c", "php", "python", "c++", "c-sharp", "typescript",
                   "go", "ruby", "rust", "kotlin", "scala", "swift", "shell", "sql", "lua",
                   "perl", "r", "dart", "haskell", "julia", "powershell", "fortran", "visual-basic")
STACK_MARKUP = ("html", "css", "scss", "markdown", "restructuredtext", "xml")
SLIMPAJAMA_CODE_SETS = ("RedPajamaGithub", "RedPajamaStackExchange")


def remote_source(name: str, family: str, hf_id: str, licence: str, *,
                  text: Callable[[dict], str] = lambda row: row["text"],
                  data_dirs: tuple[str | None, ...] = (None,), config: str | None = None,
                  keep: Callable[[dict], bool] = lambda row: True,
                  max_documents: int = 200_000, split: str = "train") -> Source:
    def documents(cache) -> Iterator[tuple[str, str]]:
        from datasets import load_dataset
        per_dir = max(1, max_documents // len(data_dirs))
        for data_dir in data_dirs:
            try:
                rows = load_dataset(hf_id, config, data_dir=data_dir, split=split, streaming=True)
                kept = 0
                for i, row in enumerate(rows):
                    if kept >= per_dir:
                        break
                    if keep(row):
                        kept += 1
                        yield f"{name}/{data_dir or split}/{i}", text(row)
            except Exception as e:  # noqa: BLE001 - any failure to reach the hub is one line
                raise ValueError(f"remote source {name}: dataset {hf_id!r} "
                                 f"{'(' + data_dir + ') ' if data_dir else ''}cannot be read: "
                                 f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
    version = f"{hf_id}|{config}|{','.join(d or '' for d in data_dirs)}|{split}|{max_documents}"
    return Source(name, family, licence, f"Hugging Face {hf_id}", version, documents)


def remote_registry(languages: tuple[str, ...] = STACK_LANGUAGES, max_documents: int = 200_000,
                    slimpajama: str = "cerebras/SlimPajama-627B",
                    stack: str = "bigcode/the-stack-dedup") -> dict[str, Source]:
    unknown = sorted(set(languages) - set(STACK_LANGUAGES) - set(STACK_MARKUP))
    if unknown:
        raise ValueError(f"unknown The Stack language(s) {', '.join(unknown)}; known: {', '.join(STACK_LANGUAGES)}")
    n = max_documents
    set_name = lambda row: row.get("meta", {}).get("redpajama_set_name")  # noqa: E731
    sources = (
        remote_source("slimpajama_text", "text", slimpajama,
                      "per-component terms of SlimPajama (Common Crawl, C4, Wikipedia, Books, ArXiv)",
                      keep=lambda row: set_name(row) not in SLIMPAJAMA_CODE_SETS, max_documents=n),
        remote_source("the_stack", "web_code", stack, "permissive licences, per file (The Stack terms)",
                      text=lambda row: row["content"], data_dirs=tuple(f"data/{lang}" for lang in languages),
                      max_documents=n),
        remote_source("the_stack_markup", "markup", stack, "permissive licences, per file (The Stack terms)",
                      text=lambda row: row["content"], data_dirs=tuple(f"data/{lang}" for lang in STACK_MARKUP),
                      max_documents=n),
        remote_source("stackexchange", "code_adjacent", slimpajama, "CC-BY-SA (StackExchange via RedPajama)",
                      keep=lambda row: set_name(row) == "RedPajamaStackExchange", max_documents=n // 2),
        remote_source("github_issues", "code_adjacent", "bigcode/the-stack-github-issues",
                      "GitHub issues (The Stack terms)", text=lambda row: row["content"], max_documents=n // 4),
        remote_source("commits", "code_adjacent", "bigcode/commitpackft", "MIT-licensed repositories (CommitPackFT)",
                      config="python", max_documents=n // 4,
                      text=lambda row: f"{row['message']}\n\n--- {row['old_file']}\n{row['old_contents']}\n"
                                       f"+++ {row['new_file']}\n{row['new_contents']}"),
    )
    return {s.name: s for s in sources}
