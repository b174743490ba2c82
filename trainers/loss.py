"""The training loss without the full logits: the mean next-token cross-entropy over a batch,
computed from the final hidden states a chunk of tokens at a time.

    model = CausalLMLoss(LlamaForCausalLM(...), kernel="chunked", chunk=4096)
    loss = model(input_ids=seqs[:, :-1], targets=seqs[:, 1:])   # a scalar
    logits = model(input_ids=seqs).logits                         # without targets: the HF output

Plain `F.cross_entropy(model(x).logits.float(), y)` holds the whole batch's logits (tokens x
vocabulary) in bf16 and again in fp32 for the backward pass: at 8192 tokens and a 32k
vocabulary that is 1.5 GiB per sequence. Here each chunk's logits are computed, reduced to a
loss and dropped; its backward pass recomputes them (`torch.utils.checkpoint`), so the loss
holds one chunk's logits at a time for one extra head matmul (about 2% of a 470M model's
FLOPs). On a GPU with liger-kernel installed, its fused linear + cross-entropy kernel does
the same without the recomputation ("fused").
"""

from __future__ import annotations

import importlib.util

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint



def has_liger() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def kernel_for(requested: str, device: torch.device) -> str:
    """"auto": liger's fused kernel on a GPU where it is installed, else chunks."""
    if requested != "auto":
        return requested
    return "fused" if device.type == "cuda" and has_liger() else "chunked"


def _summed_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = hidden @ weight.to(hidden.dtype).t()
    return F.cross_entropy(logits.float(), targets, reduction="sum")


def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                          chunk: int) -> torch.Tensor:
    """mean(cross_entropy(hidden @ weight.T, targets)) over every token, `chunk` tokens of
    logits alive at a time (hidden: tokens x d, targets: tokens)."""
    total = hidden.new_zeros((), dtype=torch.float32)
    for h, t in zip(hidden.split(chunk), targets.split(chunk), strict=True):
        total = total + checkpoint(_summed_loss, h, weight, t, use_reentrant=False)
    return total / targets.numel()


def fused_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
    return LigerFusedLinearCrossEntropyLoss()(weight.to(hidden.dtype), hidden, targets)


class CausalLMLoss(torch.nn.Module):
    """A Hugging Face causal LM with its training loss in its forward pass, so that DDP and
    FSDP2 wrap one module whose forward computes the loss (FSDP2 unshards the head's weight
    for it, as for any forward)."""

    def __init__(self, lm: torch.nn.Module, kernel: str = "chunked", chunk: int = 4096,
                 autocast: torch.dtype | None = None):
        super().__init__()
        self.lm, self.kernel, self.chunk, self.autocast = lm, kernel, chunk, autocast

    def forward(self, input_ids: torch.Tensor, targets: torch.Tensor | None = None):
        """The mean loss over every target token; without targets, the model's output. Under
        `autocast` (DDP in bf16; FSDP2 casts by its own policy) the matmuls run in that dtype."""
        if self.autocast is None:
            return self._forward(input_ids, targets)
        with torch.autocast(input_ids.device.type, dtype=self.autocast):
            return self._forward(input_ids, targets)

    def _forward(self, input_ids: torch.Tensor, targets: torch.Tensor | None):
        if targets is None:  # evaluation: the model's own output, logits and all
            return self.lm(input_ids=input_ids)
        if self.kernel == "full":
            logits = self.lm(input_ids=input_ids).logits
            return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))
        hidden = self.lm.model(input_ids=input_ids).last_hidden_state
        hidden, targets = hidden.reshape(-1, hidden.size(-1)), targets.reshape(-1)
        weight = self.lm.lm_head.weight
        if self.kernel == "fused":
            return fused_cross_entropy(hidden, weight, targets)
        return chunked_cross_entropy(hidden, weight, targets, self.chunk)
