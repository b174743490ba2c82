"""The memory and time plan of one trial, made before anything starts: what each GPU holds,
the micro-batch (and activation checkpointing) that fits it, and what the trial costs.

    plan = plan_for(cfg)                 # bytes per GPU by part; the micro-batch that fits
    cfg = fitted(cfg)                    # the config with that micro-batch (and checkpointing) set
    print(plan.row())                    # what --dry-run prints

Pure arithmetic on the size table (no torch): a dry run of the paper presets plans on a laptop.
Counts are bytes per GPU (per worker on CPU) at the step's peak:

- states: fp32 weights, gradients and AdamW's two moments, 16 bytes a parameter, divided by
  the number of workers under FSDP2 (ZeRO-3); whole on every worker under DDP;
- extras: FSDP2's unsharded bf16 copies of the root (embeddings, head) and of the two
  blocks in flight, with their gradients before the reduce-scatter; under DDP in bf16,
  autocast's bf16 copy of every weight (kept for the backward pass);
- activations: what the backward pass keeps of each block, per token, counted from the
  operations of transformers' Llama block (RMSNorm in fp32, q/k/v/o, RoPE, SDPA, SwiGLU) in
  the dtypes each path produces; with checkpointing, each block's input plus one block's;
- the loss: one chunk's logits with their gradient, and the gradients the chunked loss keeps
  for the backward pass (all tokens' logits under `full`).

The peak is the larger of the backward pass's (states, extras, activations, loss, and the
gradients already accumulated by earlier micro-batches) and the optimizer step's. It is
checked against measured peaks by bench/perf/memory_plan.py (CPU, where every path can run)
and bench/gpu_step.py (GPU); the error is in docs/benchmarks.md. A GPU also loses memory to
the CUDA context and the allocator's fragmentation: a plan fits when its peak is within
USABLE of the GPU's memory, less CONTEXT_GIB.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from trainers.config import TrainConfig
from trainers.flops import flops_per_token
from trainers.sizes import ModelSize, get_size

GIB = 2 ** 30
USABLE = 0.9        # of a GPU's memory: the caching allocator's fragmentation and reserve
CONTEXT_GIB = 1.0   # the CUDA context, cuBLAS workspaces and NCCL buffers
PLAN_MFU = 0.40     # the MFU at which GPU-hours are stated (the target; llm-foundry: 35-40%)
PLAN_PEAK = 989e12  # dense bf16 FLOP/s of an H100 or H200, the GPUs the plan's hours are stated for
RECOMPUTE = 4 / 3   # checkpointing runs every block's forward twice: 8 instead of 6 FLOPs a parameter a token


def parameters(s: ModelSize) -> tuple[int, int, int]:
    """(all, per block, outside the blocks): embeddings, head (untied), norms."""
    block = 4 * s.d_model ** 2 + 3 * s.d_model * s.d_ff + 2 * s.d_model
    root = s.vocab_size * s.d_model * (1 if s.tie_embeddings else 2) + s.d_model
    return root + s.n_layers * block, block, root


def block_activation_bytes(s: ModelSize, bf16: bool, fsdp: bool, eager: bool) -> float:
    """Bytes one block keeps per token for its backward pass (its input included).

    fp32: the input, the two RMSNorms' normalised and scaled outputs, their second input, q
    and k after RoPE, v, the attention output and its reshaped copy (11 x d), and SwiGLU's
    gate, its SiLU, up and their product (4 x d_ff), 4 bytes each.
    bf16 under FSDP2 (bf16 parameters): each RMSNorm keeps its fp32 upcast and two bf16
    tensors (8 bytes x d), q, k, v, the output and its copy in bf16 (10 bytes x d), SwiGLU in
    bf16 (8 bytes x d_ff).
    bf16 under autocast (DDP): the residual stream and RMSNorms stay fp32 (24 bytes x d),
    each linear keeps its own bf16 cast of its input (q, k, v: 6; gate, up: 4), attention in
    bf16 (10), SwiGLU in bf16 (8 bytes x d_ff).
    Eager attention adds the scores' softmax in fp32 (and its bf16 cast): heads x context per token.
    """
    d, f = s.d_model, s.d_ff
    if not bf16:
        out = 4 * (11 * d + 4 * f)
    elif fsdp:
        out = 26 * d + 8 * f
    else:
        out = 44 * d + 8 * f
    if eager:  # the softmax's fp32 output (and its bf16 cast), heads x context per token
        out += s.n_heads * s.seq_len * (4 + (2 if bf16 else 0))
    return out


def loss_bytes(s: ModelSize, tokens: int, kernel: str, chunk: int, bf16: bool, fsdp: bool) -> float:
    """The loss's peak. Chunked (trainers/loss.py): one chunk's logits, their fp32 copy and
    log-sum-exp's temporary, the gradient in the compute dtype, and the gradients kept for the
    backward pass (the hidden states', the head's in fp32 and its cast). Full: every logit in
    bf16 and fp32, the log-softmax and its gradient, and the head's fp32 gradient."""
    if kernel == "full":
        return ((2 if bf16 else 0) + 12) * tokens * s.vocab_size + 4 * s.vocab_size * s.d_model
    alive = min(tokens, chunk) * s.vocab_size * (12 if bf16 else 8)
    kept = tokens * s.d_model * (2 if bf16 and fsdp else 4) + s.vocab_size * s.d_model * (4 + (2 if bf16 else 4))
    return alive + kept


@dataclass(frozen=True)
class Plan:
    size: str
    workers: int
    parallel: str
    bf16: bool
    micro_batch: int
    accumulation: int
    checkpointing: bool
    states: float       # bytes per GPU: weights, gradients and moments
    extras: float
    activations: float  # kept for the backward pass (with checkpointing: the blocks' inputs)
    loss: float
    grads_held: float   # gradients accumulated by earlier micro-batches, held through the next one
    backward: float     # the backward pass's peak
    optimizer_step: float
    budget: float       # bytes a plan may use on one GPU (0 on CPU: no limit)
    gpu_hours: float    # all GPUs together, at PLAN_MFU of PLAN_PEAK (wall hours: this over the GPUs)
    steps: int
    tokens_per_step: int

    @property
    def peak(self) -> float:
        return max(self.backward, self.optimizer_step)

    @property
    def fits(self) -> bool:
        return not self.budget or self.peak <= self.budget

    def row(self) -> dict:
        """What --dry-run prints for a trial."""
        return {"size": self.size, "GPUs": self.workers, "sharding": self.parallel,
                "precision": "bf16" if self.bf16 else "fp32", "micro-batch": self.micro_batch,
                "accumulation": self.accumulation, "checkpointing": "on" if self.checkpointing else "off",
                "states GiB": round(self.states / GIB, 1), "activations GiB": round(self.activations / GIB, 1),
                "loss GiB": round(self.loss / GIB, 1), "peak GiB/GPU": round(self.peak / GIB, 1),
                "of GiB": round(self.budget / GIB, 1) if self.budget else "-",
                "steps": self.steps, "tokens/step": self.tokens_per_step, "GPU-hours": round(self.gpu_hours, 1)}


def plan_for(cfg: TrainConfig) -> Plan:
    """The plan of one trial as configured (its micro-batch 0: a worker's whole share)."""
    s = get_size(cfg.model_size)
    n, block, root = parameters(s)
    share = cfg.global_batch // cfg.num_workers
    micro = cfg.micro_batch or share
    fsdp = cfg.parallel == "fsdp"
    bf16 = cfg.precision == "bf16" or cfg.precision == "auto" and cfg.use_gpu
    shard = cfg.num_workers if fsdp else 1
    states = 16 * n / shard
    p_bytes = 2 if bf16 else 4
    if fsdp:  # unsharded root and two blocks in flight, with one block's unsharded gradients (and fp32 for reduction)
        extras = p_bytes * root + 2 * p_bytes * block + (p_bytes + 4) * block
    else:
        extras = 2 * n if bf16 else 0  # autocast's cached bf16 weights
    tokens = micro * s.seq_len
    per_block = block_activation_bytes(s, bf16, fsdp, cfg.attention == "eager")
    residual = 2 if bf16 and fsdp else 4  # a block's input: the residual stream's dtype
    final_norm = (8 if bf16 and fsdp else 12) * s.d_model * tokens
    loss = loss_bytes(s, tokens, cfg.loss_kernel, cfg.loss_chunk, bf16, fsdp)
    grads_held = 4 * n / shard if micro < share else 0.0
    # The backward pass peaks as it starts: every activation alive, the loss's gradients made,
    # no gradient of this micro-batch's yet (set to None at the step's start). With checkpointing
    # the blocks' inputs stay to the end, so its later peak counts too: every gradient made and
    # the last block recomputed.
    if cfg.activation_checkpointing:
        kept = s.n_layers * residual * s.d_model * tokens + final_norm
        backward = max(12 * n / shard + extras + grads_held + kept + loss,
                       16 * n / shard + extras + kept + per_block * tokens)
    else:
        kept = s.n_layers * per_block * tokens + final_norm
        backward = 12 * n / shard + extras + grads_held + kept + loss
    optimizer_step = states + 4 * n / shard * (0 if cfg.use_gpu else 1)  # foreach AdamW's temporaries on CPU
    flops = flops_per_token(n, s.n_layers, s.d_model, s.seq_len) * (RECOMPUTE if cfg.activation_checkpointing else 1)
    hours = cfg.steps * cfg.tokens_per_step * flops / (PLAN_MFU * PLAN_PEAK) / 3600
    budget = (cfg.gpu_memory * USABLE - CONTEXT_GIB) * GIB if cfg.use_gpu else 0.0
    return Plan(size=cfg.model_size, workers=cfg.num_workers, parallel=cfg.parallel, bf16=bf16, micro_batch=micro,
                accumulation=share // micro, checkpointing=cfg.activation_checkpointing, states=states, extras=extras,
                activations=kept, loss=loss, grads_held=grads_held, backward=backward, optimizer_step=optimizer_step,
                budget=budget, gpu_hours=hours if cfg.use_gpu else 0.0, steps=cfg.steps,
                tokens_per_step=cfg.tokens_per_step)


def fitted(cfg: TrainConfig) -> TrainConfig:
    """A GPU config with its micro-batch chosen by the plan when it was left at 0: the largest
    that divides a worker's share and fits, without checkpointing if one does, else with it.
    A micro-batch or checkpointing given is kept and checked. Raises ValueError in one line
    when nothing fits. CPU configs are returned as they are (a worker's whole share at once)."""
    if not cfg.use_gpu:
        return cfg
    share = cfg.global_batch // cfg.num_workers
    if cfg.micro_batch:
        plan = plan_for(cfg)
        if not plan.fits:
            raise ValueError(f"{_over(plan, cfg)}: lower --micro-batch, add --activation-checkpointing, or shard over "
                             "more GPUs (--workers)")
        return cfg
    options = [True] if cfg.activation_checkpointing else [False, True]
    for checkpointing in options:
        for micro in sorted((m for m in range(1, share + 1) if share % m == 0), reverse=True):
            candidate = replace(cfg, micro_batch=micro, activation_checkpointing=checkpointing)
            if plan_for(candidate).fits:
                return candidate
    smallest = plan_for(replace(cfg, micro_batch=1, activation_checkpointing=True))
    raise ValueError(f"size {smallest.size} needs {smallest.peak / GIB:.1f} GiB per GPU even at micro-batch 1 with "
                     f"activation checkpointing, over the {smallest.budget / GIB:.1f} GiB a {cfg.gpu_memory:g} GiB GPU "
                     "leaves: shard over more GPUs (--workers, FSDP2), or a smaller size")


def _over(plan: Plan, cfg: TrainConfig) -> str:
    return (f"size {plan.size} at micro-batch {plan.micro_batch}{' (checkpointed)' if plan.checkpointing else ''} "
            f"needs {plan.peak / GIB:.1f} GiB per GPU, over the {plan.budget / GIB:.1f} GiB a "
            f"{cfg.gpu_memory:g} GiB GPU leaves")
