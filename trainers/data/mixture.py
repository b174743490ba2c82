"""The code/text mixture as a deterministic function from sequence index to tokens.

A run consumes sequences 0, 1, 2, ... of length `seq_len + 1` (inputs plus the shifted
target). Sequence j is pure code or pure text; which one follows a low-discrepancy rule,

    is_code(j) = floor((j + 1) * r + phase) - floor(j * r + phase)

so every prefix of the run holds code at share r to within one sequence, and the whole
run to within one sequence of `round(n * r)`. That is the code ratio honoured at the token
level. Within a domain, the c-th sequence is the window starting at `offset + c * seq_len`
of that domain's packed token array (wrapping around: a wrap is a repetition, and
`epochs()` reports it). Everything is a pure function of (seed, j): a worker reads only its
own indices, the stream is the same on any number of workers, and a resumed run continues
exactly where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mixture:
    """The share of code tokens in the training stream; the rest is text."""
    code_ratio: float

    def __post_init__(self):
        if not (isinstance(self.code_ratio, (int, float)) and 0.0 <= self.code_ratio <= 1.0):
            raise ValueError(f"code ratio {self.code_ratio!r} is outside [0, 1]")


class MixedStream:
    """Sequences of a mixture over the packed `text` and `code` token arrays."""

    def __init__(self, arrays: dict[str, np.ndarray], mixture: Mixture, seq_len: int, seed: int):
        self.arrays, self.mixture, self.seq_len = arrays, mixture, seq_len
        rng = np.random.default_rng(seed)
        self.phase = float(rng.random())
        self.offsets = {}
        for domain in ("text", "code"):
            n = len(arrays[domain])
            if n <= seq_len + 1 and self._needs(domain):
                raise ValueError(f"{domain} has {n} tokens, fewer than one sequence of {seq_len + 1}")
            self.offsets[domain] = int(rng.integers(0, max(1, n - seq_len - 1)))

    def _needs(self, domain: str) -> bool:
        r = self.mixture.code_ratio
        return r > 0 if domain == "code" else r < 1

    def _code_before(self, j: np.ndarray) -> np.ndarray:
        """How many of sequences 0..j-1 are code."""
        r = self.mixture.code_ratio
        return np.floor(j * r + self.phase).astype(np.int64) - math.floor(self.phase)

    def is_code(self, j: np.ndarray) -> np.ndarray:
        j = np.asarray(j, dtype=np.int64)
        return self._code_before(j + 1) - self._code_before(j) == 1

    def sequences(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tokens of sequences j, shape (len(j), seq_len + 1), and which of them are code."""
        j = np.asarray(j, dtype=np.int64)
        code = self.is_code(j)
        nth = np.where(code, self._code_before(j), j - self._code_before(j))
        out = np.empty((len(j), self.seq_len + 1), dtype=np.int64)
        for row, (is_c, c) in enumerate(zip(code, nth)):
            domain = "code" if is_c else "text"
            arr = self.arrays[domain]
            span = len(arr) - self.seq_len - 1
            start = (self.offsets[domain] + int(c) * self.seq_len) % span
            out[row] = arr[start:start + self.seq_len + 1]
        return out, code

    def epochs(self, n_sequences: int) -> dict[str, float]:
        """How many passes over each domain's array the first n sequences make."""
        code = int(self._code_before(np.int64(n_sequences)))
        used = {"code": code, "text": n_sequences - code}
        return {d: used[d] * self.seq_len / max(1, len(self.arrays[d])) for d in used}
