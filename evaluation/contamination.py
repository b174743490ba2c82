"""Do benchmark items appear in the training data? Count shared long word n-grams.

    python -m evaluation.contamination                    # every task of the paper suite
    python -m evaluation.contamination --n 13 --docs ~/.cache/codemix/docs

GPT-3's test (Brown et al. 2020, appendix C): an item is contaminated when one of its word
13-grams (lower case, punctuation dropped) also occurs in a training document. The item's
text is its prompt with the gold answer. N-grams of numbers only are left out: MBPP's test
lists ("1, 2, 3, ... 14") share them with any code that counts, which is not leakage.
Training documents are the prepared sources of trainers.data ($CODEMIX_CACHE/docs/*.jsonl,
lines of [doc_id, text]). Prints per task the items checked and the contaminated ones, with
an example; exits 1 when any item is.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from evaluation.benchmarks import cache_root
from evaluation.suites import BENCHMARKS, resolve

WORD = re.compile(r"[a-z0-9]+")


def ngrams(text: str, n: int) -> set[int]:
    words = WORD.findall(text.lower())
    return {hash(tuple(words[i:i + n])) for i in range(len(words) - n + 1)
            if not all(w.isdigit() for w in words[i:i + n])}


def item_texts(name: str) -> list[str]:
    """Every item of a benchmark as prompt + gold answer."""
    from evaluation.tasks import utils
    rows = getattr(utils, name)()["validation"]
    texts = []
    for r in rows:
        if r.get("continuation"):  # WinoGrande: the gold context, then the shared rest
            texts.append(f"{r['choices'][int(r['gold'])]} {r['continuation']}")
        elif "choices" in r:
            texts.append(f"{r['query']} {r['choices'][int(r['gold'])]}")
        else:
            texts.append(f"{r['query']} {r['target']}")
    return texts


def training_documents(folder: Path):
    for path in sorted(folder.glob("*.jsonl")):
        with path.open() as f:
            for line in f:
                doc_id, text = json.loads(line)
                yield path.stem, doc_id, text


def overlaps(names: list[str], folder: Path, n: int = 13) -> dict[str, dict]:
    """Per benchmark: items, contaminated items (count and indices), one training document hit."""
    items = {name: [ngrams(t, n) for t in item_texts(name)] for name in names}
    owner: dict[int, list[tuple[str, int]]] = {}
    for name, grams in items.items():
        for i, g in enumerate(grams):
            for h in g:
                owner.setdefault(h, []).append((name, i))
    hits: dict[str, dict[int, str]] = {name: {} for name in names}
    for source, doc_id, text in training_documents(folder):
        for h in ngrams(text, n) & owner.keys():
            for name, i in owner[h]:
                hits[name].setdefault(i, f"{source}:{doc_id}")
    return {name: {"items": len(items[name]), "contaminated": len(hits[name]),
                   "example": next(iter(hits[name].values()), None), "which": sorted(hits[name])}
            for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.contamination", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="",
                        help=f"comma list of tasks (default: the paper suite); known: {', '.join(BENCHMARKS)}")
    parser.add_argument("--n", type=int, default=13, help="words per n-gram (default 13, as GPT-3)")
    parser.add_argument("--docs", type=Path, default=None, help="folder of prepared documents (default $CODEMIX_CACHE/docs)")
    args = parser.parse_args(argv)
    folder = args.docs or cache_root() / "docs"
    try:
        names = [b.name for b in resolve("paper", args.tasks)]
        if args.n < 5:
            raise ValueError(f"--n must be at least 5, got {args.n}")
        if not any(folder.glob("*.jsonl")):
            raise ValueError(f"no prepared documents in {str(folder)!r}; run python -m trainers.data.prepare first")
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    result = overlaps(names, folder, args.n)
    print(f"| task | items | items sharing a {args.n}-gram with training data | example document |")
    print("|---|---|---|---|")
    for name, r in result.items():
        print(f"| {name} | {r['items']} | {r['contaminated']} | {r['example'] or '-'} |")
    return 1 if any(r["contaminated"] for r in result.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
