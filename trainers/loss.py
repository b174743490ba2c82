"""The training loss without the full logits: the mean next-token cross-entropy over a batch,
computed from the final hidden states a chunk of tokens at a time.

    model = CausalLMLoss(LlamaForCausalLM(...), kernel="chunked", chunk=4096)
    loss = model(input_ids=seqs[:, :-1], targets=seqs[:, 1:])   # a scalar
    logits = model(input_ids=seqs).logits                         # without targets: the HF output

Plain `F.cross_entropy(model(x).logits.float(), y)` holds the whole batch's logits (tokens x
vocabulary) in bf16 and again in fp32 for the backward pass: at 8192 tokens and a 32k
vocabulary that is 1.5 GiB per sequence. Here ("chunked") each chunk's logits are computed,
turned into the chunk's loss and gradients, and dropped; the backward pass only scales the
gradients kept (the hidden states' and the head's). On a GPU with liger-kernel installed,
its Triton kernel does the same in fewer passes over memory ("fused").
"""

from __future__ import annotations

import importlib.util

import torch
import torch.nn.functional as F



def has_liger() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def kernel_for(requested: str, device: torch.device) -> str:
    """"auto": liger's fused kernel on a GPU where it is installed, else chunks."""
    if requested != "auto":
        return requested
    return "fused" if device.type == "cuda" and has_liger() else "chunked"


class _ChunkedCrossEntropy(torch.autograd.Function):
    """The mean cross-entropy of (hidden @ weight.T) against targets, a chunk of tokens at a
    time, with its gradients computed in the forward pass (as liger-kernel's fused kernel does):
    each chunk's logits become its softmax in place, then d(loss)/d(logits), then the chunk's
    gradients for the hidden states and the weight; only those two are kept for the backward
    pass. No logits outlive their chunk and nothing is recomputed: the same FLOPs as the plain
    loss (a forward and two backward matmuls)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk):
        n = targets.numel()
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, n, chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
            product = h @ weight.t()  # in the compute dtype: bf16 under autocast or FSDP2's policy
            logits = product.float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            probs = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
            probs[torch.arange(len(t), device=t.device), t] -= 1.0
            grad_logits = probs.div_(n).to(product.dtype)
            grad_hidden[start:start + chunk] = grad_logits @ weight.to(product.dtype)
            grad_weight += (grad_logits.t() @ h.to(product.dtype)).float()
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return total / n

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_output, grad_weight * grad_output, None, None


def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                          chunk: int) -> torch.Tensor:
    """mean(cross_entropy(hidden @ weight.T, targets)) over every token, `chunk` tokens of
    logits alive at a time (hidden: tokens x d, targets: tokens)."""
    return _ChunkedCrossEntropy.apply(hidden, weight, targets, chunk)


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
