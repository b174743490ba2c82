"""A pretrained tokenizer, by folder or hub id, in place of the BPE trained here.

    tok = load_pretrained("/models/my-tokenizer")   # one ValueError line if it cannot be used
    save_pretrained_tokenizer(tok, cache_dir)       # tokenizer files + token_bytes.npy

A study at scale tokenizes with an existing vocabulary (32k to 256k tokens). Documents are
encoded without the tokenizer's own special tokens (no BOS) and each ends in its EOS, as
with the trained one; ids above 65,536 are stored as uint32 (trainers.data.store).
Bits-per-byte needs the bytes each token stands for: byte-level vocabularies (GPT-2's
alphabet) are decoded exactly; others count the UTF-8 bytes of each piece, with `▁` as a
space and byte-fallback pieces (`<0x0A>`) as one byte.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

BYTE_FALLBACK = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


def load_pretrained(ref: str):
    """The tokenizer at a folder or hub id, checked: it loads, it is a fast tokenizer, it has
    an end-of-text token."""
    from transformers import AutoTokenizer  # only with a pretrained tokenizer: slow to import
    try:
        tok = AutoTokenizer.from_pretrained(ref)
    except Exception as e:  # noqa: BLE001 - any failure to load is the user's one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"tokenizer {ref!r} cannot be loaded: {first}") from None
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"tokenizer {ref!r} has no tokenizer.json (a fast tokenizer is needed)")
    if tok.eos_token_id is None:
        raise ValueError(f"tokenizer {ref!r} has no end-of-text (eos) token to end documents with")
    return tok


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte <-> printable-character table, which ByteLevel BPE uses."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def token_bytes(tok) -> np.ndarray:
    """UTF-8 bytes each token stands for; special tokens count 0 and are left out of bpb."""
    backend = json.loads(tok.backend_tokenizer.to_str())
    decoders = backend.get("decoder") or {}
    kinds = {d.get("type") for d in decoders.get("decoders", [decoders])}
    special = set(tok.all_special_ids)
    out = np.zeros(len(tok), dtype=np.int32)
    char_to_byte = {c: b for b, c in bytes_to_unicode().items()}
    for piece, idx in tok.get_vocab().items():
        if idx in special or idx >= len(out):
            continue
        if "ByteLevel" in kinds:
            out[idx] = sum(1 for c in piece if c in char_to_byte)
        elif BYTE_FALLBACK.match(piece):
            out[idx] = 1
        else:
            out[idx] = len(piece.replace("▁", " ").encode())
    return out


def save_pretrained_tokenizer(tok, out: Path) -> None:
    tok.save_pretrained(out)
    np.save(Path(out) / "token_bytes.npy", token_bytes(tok))
