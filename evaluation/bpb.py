"""Validation bits-per-byte: a tokenizer-independent loss on held-out text and code.

bpb = (sum of next-token losses in nats) / ln 2 / (UTF-8 bytes those tokens stand for),
over the first `max_tokens` tokens of a held-out split, in non-overlapping windows.
Document separators stand for no bytes and are left out of both sums.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def bits_per_byte(model: torch.nn.Module, tokens: np.ndarray, token_bytes: np.ndarray,
                  seq_len: int, max_tokens: int, batch_size: int = 8) -> float:
    n_windows = max(1, min(len(tokens) - 1, max_tokens) // seq_len)
    if len(tokens) < seq_len + 1:
        raise ValueError(f"held-out split has {len(tokens)} tokens, fewer than one window of {seq_len + 1}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nats, nbytes = 0.0, 0
    for start in range(0, n_windows, batch_size):
        rows = [np.asarray(tokens[w * seq_len: w * seq_len + seq_len + 1], dtype=np.int64)
                for w in range(start, min(n_windows, start + batch_size))]
        batch = torch.from_numpy(np.stack(rows)).to(device)
        logits = model(input_ids=batch[:, :-1]).logits.float()
        targets = batch[:, 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
        weight = torch.from_numpy(token_bytes).to(device)[targets.reshape(-1)]
        counted = weight > 0
        nats += float(loss[counted].sum())
        nbytes += int(weight.sum())
    model.train(was_training)
    return nats / math.log(2) / max(1, nbytes)
