"""The token store: a source's tokens as shards on disk, read lazily.

    ids = Packed.open(folder, "train", np.uint16, shards=12)   # memory-maps, reads nothing yet
    window = ids[start:start + 257]                            # an ndarray of that window only

A shard is two files, written by `write_shard` (each under a temporary name, then renamed):

    train-00003.bin       the token ids, raw little-endian uint16 or uint32 (`dtype_for`), each
                          document followed by the end-of-text id
    train-00003.idx.npy   int64 offsets: where each document ends in the .bin file

the layout of Megatron-LM's `.bin`/`.idx` pairs and OLMo-core's raw token files: any reader
that knows the dtype can memory-map a shard, or read a byte range of it from a bucket.
`Packed` strings a split's shards (and a part's sources) end to end without concatenating
them: a family of hundreds of gigabytes costs a few file handles.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def dtype_for(vocab_size: int) -> np.dtype:
    """uint16 while every id fits, else uint32."""
    if vocab_size > 2**32:
        raise ValueError(f"a vocabulary of {vocab_size:,} tokens does not fit uint32 token ids")
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:05d}"


def write_shard(folder: Path, split: str, index: int, documents: list[np.ndarray], dtype: np.dtype) -> int:
    """Write one shard of documents (each already ending in end-of-text); its token count."""
    stem = Path(folder) / shard_name(split, index)
    ends = np.cumsum([len(d) for d in documents], dtype=np.int64)
    tokens = np.concatenate(documents).astype(dtype, copy=False) if documents else np.zeros(0, dtype)
    for path, write in ((stem.with_suffix(".bin"), lambda f: f.write(tokens.astype(tokens.dtype.newbyteorder("<"),
                                                                                    copy=False).tobytes())),
                        (stem.with_suffix(".idx.npy"), lambda f: np.save(f, ends))):
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        with tmp.open("wb") as f:
            write(f)
        tmp.rename(path)
    return int(tokens.size)


class Packed:
    """Token arrays end to end, sliced as one: `len`, and `[a:b]` returning an ndarray of that
    window (it reads only the pieces the window touches)."""

    def __init__(self, arrays: list[np.ndarray], dtype: np.dtype | None = None):
        self.arrays = [a for a in arrays if len(a)]
        self.dtype = np.dtype(dtype or (self.arrays[0].dtype if self.arrays else np.uint16))
        self.starts = np.concatenate([[0], np.cumsum([len(a) for a in self.arrays], dtype=np.int64)])

    @classmethod
    def open(cls, folder: Path, split: str, dtype, shards: int) -> "Packed":
        """A split's shards in order, memory-mapped (empty shards left out)."""
        arrays = []
        for i in range(shards):
            path = Path(folder) / f"{shard_name(split, i)}.bin"
            if path.stat().st_size:
                arrays.append(np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r"))
        return cls(arrays, dtype)

    @classmethod
    def chain(cls, parts: list["Packed"]) -> "Packed":
        """Several packed arrays (a part's sources) end to end."""
        return cls([a for p in parts for a in p.arrays], parts[0].dtype if parts else None)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a packed token array is read in windows: arr[start:stop]")
        start, stop, _ = key.indices(len(self))
        if stop <= start:
            return np.zeros(0, dtype=self.dtype)
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        pieces, at = [], start
        for i in range(first, len(self.arrays)):
            if at >= stop:
                break
            lo = at - int(self.starts[i])
            hi = min(stop, int(self.starts[i + 1])) - int(self.starts[i])
            pieces.append(self.arrays[i][lo:hi])
            at = int(self.starts[i]) + hi
        return np.concatenate(pieces).astype(self.dtype, copy=False) if len(pieces) > 1 else np.array(pieces[0])

    def __array__(self, dtype=None, copy=None):
        """The whole array in memory (for small arrays and tests; training reads windows)."""
        out = self[0:len(self)]
        return out.astype(dtype) if dtype is not None else out
