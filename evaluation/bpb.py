"""Validation bits-per-byte: a tokenizer-independent loss on held-out text and code.

bpb = (sum of next-token losses in nats) / ln 2 / (UTF-8 bytes those tokens stand for),
over the first `max_tokens` tokens of a held-out split, in non-overlapping windows.
Document separators stand for no bytes and are left out of both sums. Its standard error is
the ratio estimator's over the windows (each window a sample of nats and bytes): how far the
figure could move on another draw of held-out text of the same kind; it is not seed noise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def bits_per_byte(model: torch.nn.Module, tokens: np.ndarray, token_bytes: np.ndarray,
                  seq_len: int, max_tokens: int, batch_size: int = 8) -> tuple[float, float]:
    """(bits-per-byte, its standard error over windows)."""
    n_windows = max(1, min(len(tokens) - 1, max_tokens) // seq_len)
    if len(tokens) < seq_len + 1:
        raise ValueError(f"held-out split has {len(tokens)} tokens, fewer than one window of {seq_len + 1}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    weight_of = torch.from_numpy(token_bytes).to(device)
    nats, nbytes = [], []  # per window
    for start in range(0, n_windows, batch_size):
        rows = [np.asarray(tokens[w * seq_len: w * seq_len + seq_len + 1], dtype=np.int64)
                for w in range(start, min(n_windows, start + batch_size))]
        batch = torch.from_numpy(np.stack(rows)).to(device)
        logits = model(input_ids=batch[:, :-1]).logits.float()
        targets = batch[:, 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
        weight = weight_of[targets]
        nats.append((loss.view(targets.shape) * (weight > 0)).sum(dim=1).double().cpu().numpy())
        nbytes.append(weight.sum(dim=1).double().cpu().numpy())
    model.train(was_training)
    nats, nbytes = np.concatenate(nats), np.concatenate(nbytes)
    ratio = nats.sum() / max(1.0, nbytes.sum())
    n = len(nats)
    se = np.sqrt(((nats - ratio * nbytes) ** 2).sum() / (n * (n - 1))) / max(1.0, nbytes.mean()) if n > 1 else 0.0
    return float(ratio / math.log(2)), float(se / math.log(2))
