"""What a run was fed: realized shares per family, text tier and mixture part, and how many
passes it made over each source.

    fed = {"text/news": 120, "web_code": 40, ...}     # sequences fed per part, over all ranks
    metrics = realized(fed, stream, data)              # realized_code_ratio, realized_share_*, epochs_*

A mixture part (a key of `Mixture.parts`) is a family, or with a text mix a text tier
("text/news"); a part's tokens are its sources packed one after another
(`PreparedData.part_layout`), and its c-th sequence is the window at
`offset + c * seq_len` of them, wrapping (trainers/data/mixture.py). So which sources a part's
sequences came from follows from how many it fed: each window's tokens are split over the
sources it overlaps, and a source's share of the run and its epochs follow, whether text is
one part or split by tier.
"""

from __future__ import annotations

import numpy as np

from trainers.data.english import TIERS
from trainers.data.sources import FAMILIES

CHUNK = 1 << 20  # windows handled at once: bounded memory at the study's millions of sequences


def source_tokens(n_windows: int, offset: int, seq_len: int, layout: list[tuple[str, int]]) -> dict[str, int]:
    """Tokens each source of a part gave to the part's first `n_windows` sequences (seq_len
    each, as counted for training), the part being `layout`'s sources packed in order."""
    ends = np.cumsum([n for _, n in layout])
    starts = ends - np.array([n for _, n in layout])
    period = int(ends[-1]) - seq_len - 1  # window starts wrap here (MixedStream.sequences)
    out = np.zeros(len(layout), dtype=np.int64)
    for first in range(0, n_windows, CHUNK):
        c = np.arange(first, min(n_windows, first + CHUNK), dtype=np.int64)
        w = (offset + c * seq_len) % period
        for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
            out[i] += np.clip(np.minimum(w + seq_len, b) - np.maximum(w, a), 0, None).sum()
    return {name: int(t) for (name, _), t in zip(layout, out, strict=True)}


def realized(fed: dict[str, float], stream, data) -> dict[str, float]:
    """The run's realized mixture from the sequences fed per part (`stream`: its MixedStream,
    `data`: its PreparedData): `realized_code_ratio`, `realized_share_<family>`,
    `realized_share_text_<tier>` (every tier, with or without a text mix) and `epochs_<source>`
    (passes over the source's training tokens)."""
    sources = data.sources()
    by_source = {name: 0 for name in sources}
    for part, n in fed.items():
        if n:
            layout = data.part_layout(part, "train")
            by_source.update(source_tokens(int(n), stream.offsets[part], stream.seq_len, layout))
    total = sum(by_source.values()) or 1
    share = {name: t / total for name, t in by_source.items()}
    family = {f: sum(s for n, s in share.items() if sources[n]["family"] == f) for f in FAMILIES}
    tiers = {t: sum(s for n, s in share.items() if sources[n]["family"] == "text" and sources[n].get("tier") == t)
             for t in TIERS}
    return {"realized_code_ratio": 1.0 - family["text"],
            **{f"realized_share_{f}": s for f, s in family.items()},
            **{f"realized_share_text_{t}": s for t, s in tiers.items()},
            **{f"epochs_{name}": by_source[name] / len(data.tokens(name, "train")) for name in sources}}
