"""The mixture: code ratio and code families, as a deterministic map from sequence to tokens.

    mix = Mixture.build(code_ratio=0.25, synthetic_share=0.1)   # checked when built
    mix = Mixture.build(0.25, text_mix="encyclopedic:0.4,news:0.3,speeches:0.1,literature:0.2")
    stream = MixedStream(family_arrays, mix, seq_len=256, seed=0)
    tokens, family = stream.sequences(np.arange(64))

The text budget is taken from every text source in proportion to its size, or, with a
`text_mix`, split over the text family's quality tiers (a cooldown up-weights the
encyclopedic one): the stream's parts are then "text/encyclopedic", "text/news", ...

A run consumes sequences 0, 1, 2, ... of `seq_len + 1` tokens, each from one part. Which
family follows a chain of low-discrepancy rules: sequence j is text when
`floor((j+1)(1-r) + phase) - floor(j(1-r) + phase) == 1`; the others are numbered among
themselves and the same rule, with each family's share of what is left, picks the next
family, and so on. Every prefix of the run therefore holds each family within a couple of
sequences of its share: the mixture is honoured token for token, not on average. Within a
family, its c-th sequence is the window at `offset + c * seq_len` of the family's packed
tokens, wrapping around (a wrap is a repetition; `epochs()` counts it). All of it is a pure
function of (seed, j): a worker reads only its own indices, the stream is the same on any
number of workers, and a run resumed at step N continues exactly where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trainers.data.english import TIERS
from trainers.data.sources import CODE_FAMILIES, FAMILIES

# Inside the code budget, without synthetic code: mostly web code, a third markup, a little
# code-adjacent text, as in the study's code mixture (§2: web code and markup dominate).
DEFAULT_CODE_MIX = "web_code:0.6,markup:0.3,code_adjacent:0.1"


def parse_shares(text: str, what: str = "code mix", form: str = "FAMILY:SHARE") -> dict[str, float]:
    """'web_code:0.6,markup:0.4' -> {'web_code': 0.6, 'markup': 0.4}."""
    shares = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        family, _, value = part.partition(":")
        try:
            shares[family.strip()] = float(value)
        except ValueError:
            raise ValueError(f"{what} entry {part!r} is not {form}") from None
    return shares


def parse_text_mix(text: str) -> tuple[tuple[str, float], ...]:
    """'encyclopedic:0.5,news:0.5' -> checked (tier, share) pairs; '' -> () (sources' natural sizes)."""
    shares = parse_shares(text, "text mix", "TIER:SHARE")
    for tier, share in shares.items():
        if tier not in TIERS:
            raise ValueError(f"unknown text tier {tier!r}; tiers: {', '.join(TIERS)}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share {share} of text tier {tier} is outside [0, 1]")
    if shares and abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ValueError(f"text mix shares add up to {sum(shares.values()):g}, not 1 ({text})")
    return tuple((t, shares[t]) for t in TIERS if t in shares)


@dataclass(frozen=True)
class Mixture:
    """Share of code tokens, and how the code budget splits over the code families."""
    code_ratio: float
    code_shares: tuple[tuple[str, float], ...]
    text_shares: tuple[tuple[str, float], ...] = ()  # empty: every text source by its size

    def __post_init__(self):
        r = self.code_ratio
        if not (isinstance(r, (int, float)) and 0.0 <= r <= 1.0):
            raise ValueError(f"code ratio {r!r} is outside [0, 1]")
        for family, share in self.code_shares:
            if family not in CODE_FAMILIES:
                raise ValueError(f"unknown code family {family!r}; code families: {', '.join(CODE_FAMILIES)}")
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"share {share} of {family} is outside [0, 1]")
        total = sum(s for _, s in self.code_shares)
        if abs(total - 1.0) > 1e-6:
            shown = ", ".join(f"{f}={s:g}" for f, s in self.code_shares)
            raise ValueError(f"code family shares add up to {total:g}, not 1 ({shown})")

    @classmethod
    def build(cls, code_ratio: float, synthetic_share: float = 0.0, code_mix: str = DEFAULT_CODE_MIX,
              text_mix: str = "") -> "Mixture":
        """The code budget: `synthetic_share` of it synthetic, the rest split as `code_mix`."""
        if not (isinstance(synthetic_share, (int, float)) and 0.0 <= synthetic_share <= 1.0):
            raise ValueError(f"synthetic share {synthetic_share!r} is outside [0, 1]")
        base = parse_shares(code_mix)
        if "synthetic" in base:
            raise ValueError("give synthetic code with synthetic_share, not in the code mix")
        total = sum(base.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"code mix shares add up to {total:g}, not 1 ({code_mix})")
        shares = [(f, s * (1 - synthetic_share)) for f, s in base.items()] + [("synthetic", synthetic_share)]
        return cls(float(code_ratio), tuple(shares), parse_text_mix(text_mix))

    def weights(self) -> dict[str, float]:
        """Each family's share of all training tokens."""
        w = {f: 0.0 for f in FAMILIES}
        w["text"] = 1.0 - self.code_ratio
        for family, share in self.code_shares:
            w[family] += self.code_ratio * share
        return w

    def parts(self) -> dict[str, float]:
        """Each part's share of all training tokens: the families, text split by tier with a text mix."""
        w = self.weights()
        text = {f"text/{t}": w["text"] * s for t, s in self.text_shares} if self.text_shares else {"text": w["text"]}
        return {**text, **{f: w[f] for f in CODE_FAMILIES}}


class MixedStream:
    """Sequences of a mixture over each part's packed token array (keys of `Mixture.parts`)."""

    def __init__(self, arrays: dict[str, np.ndarray], mixture: Mixture, seq_len: int, seed: int):
        self.arrays, self.mixture, self.seq_len = arrays, mixture, seq_len
        weights = mixture.parts()
        self.families = [f for f, w in weights.items() if w > 0]
        rng = np.random.default_rng(seed)
        # Chain: each level takes its family's share of what the levels before left over.
        self.levels, left = [], 1.0
        for i, f in enumerate(self.families):
            share = 1.0 if i == len(self.families) - 1 else min(1.0, weights[f] / left)
            self.levels.append((f, share, float(rng.random())))
            left -= weights[f]
        self.offsets = {}
        for f in self.families:
            n = len(arrays.get(f, ()))
            if n <= seq_len + 1:
                kind = "text tier" if "/" in f else "family"
                raise ValueError(f"{kind} {f} has {n} tokens, fewer than one sequence of {seq_len + 1}"
                                 + (" (its sources were not prepared)" if n == 0 else ""))
            self.offsets[f] = int(rng.integers(0, n - seq_len - 1))

    @staticmethod
    def _before(idx, share: float, phase: float):
        return np.floor(idx * share + phase).astype(np.int64) - math.floor(phase)

    def assign(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For sequences j: the family (index into self.families) and its number in that family."""
        idx = np.asarray(j, dtype=np.int64).copy()
        family = np.full(idx.shape, -1, dtype=np.int64)
        nth = np.zeros(idx.shape, dtype=np.int64)
        for level, (_, share, phase) in enumerate(self.levels):
            before = self._before(idx, share, phase)
            hit = (family < 0) & (self._before(idx + 1, share, phase) - before == 1)
            family[hit], nth[hit] = level, before[hit]
            idx = np.where(family < 0, idx - before, idx)
        return family, nth

    def sequences(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tokens of sequences j, shape (len(j), seq_len + 1), and each one's family index."""
        family, nth = self.assign(j)
        out = np.empty((len(family), self.seq_len + 1), dtype=np.int64)
        for row, (level, c) in enumerate(zip(family, nth, strict=True)):
            name = self.families[level]
            arr = self.arrays[name]
            start = (self.offsets[name] + int(c) * self.seq_len) % (len(arr) - self.seq_len - 1)
            out[row] = arr[start:start + self.seq_len + 1]
        return out, family

    def counts(self, n_sequences: int) -> dict[str, int]:
        """Sequences of each family among the first n."""
        idx, out = n_sequences, {}
        for f, share, phase in self.levels:
            out[f] = int(self._before(np.int64(idx), share, phase))
            idx -= out[f]
        return out

    def epochs(self, n_sequences: int) -> dict[str, float]:
        """Passes over each family's tokens that the first n sequences make."""
        return {f: c * self.seq_len / len(self.arrays[f]) for f, c in self.counts(n_sequences).items()}
