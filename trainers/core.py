"""The training core: the model, its wrapping, the optimizer, the step and the training state,
on torch and transformers alone. It runs in one process or under any launcher that sets up
the process group (Ray Train's workers call it: trainers/train.py; so can `torchrun` or a
benchmark on a GPU machine without Ray).

    model = wrap(build_model(cfg, None), cfg, device)     # the model with its loss, DDP or FSDP2
    opt = optimizer(model, cfg)
    loss, lr = train_step(model, opt, batch, cfg, step)   # micro-batches, bf16 on GPUs, chunked loss
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict
from torch.nn.parallel import DistributedDataParallel

from evaluation.bpb import bits_per_byte
from trainers.config import VAL_METRIC, TrainConfig
from trainers.data.prepare import PreparedData
from trainers.loss import CausalLMLoss, kernel_for
from trainers.sizes import model_config

TRAIN_STATE = "train_state.pt"
STAGE_FILE = "stage.json"
FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def glorot_normal_(model: torch.nn.Module) -> None:
    """The study's initialisation: Glorot-normal for every weight matrix, norms at one."""
    for p in model.parameters():
        if p.dim() == 2:
            torch.nn.init.xavier_normal_(p)


def build_model(cfg: TrainConfig, resume_dir: Path | None):
    """The Hugging Face model, fp32, with the config's attention implementation."""
    from transformers import LlamaForCausalLM  # here, not at the top: Ray's controller unpickles
    # this module without needing transformers, and that import costs seconds per process
    source = resume_dir or (Path(cfg.init_checkpoint) if cfg.init_checkpoint else None)
    if source is not None:
        return LlamaForCausalLM.from_pretrained(source, dtype=torch.float32, attn_implementation=cfg.attention)
    torch.manual_seed(cfg.seed)
    eos = PreparedData.open(cfg.manifest).eos_id if cfg.manifest else 0
    model = LlamaForCausalLM(model_config(cfg.model_size, eos))
    model.set_attn_implementation(cfg.attention)
    glorot_normal_(model)
    return model


def compute_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype:
    """bf16 on GPUs and fp32 on CPU unless the config says otherwise; weights, gradients and
    optimizer state stay fp32 either way."""
    bf16 = cfg.precision == "bf16" or cfg.precision == "auto" and device.type == "cuda"
    return torch.bfloat16 if bf16 else torch.float32


def wrap(model, cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    """The model with its loss (trainers.loss.CausalLMLoss) on its device, its levers pulled
    (activation checkpointing, compiled blocks), wrapped for the process group: FSDP2's
    `fully_shard` per block and at the root, in bf16 by its mixed-precision policy, or DDP
    under autocast (nothing to wrap in a group of one)."""
    model.train()  # from_pretrained returns eval mode, in which no block is checkpointed
    model.config.use_cache = False
    if cfg.activation_checkpointing:
        _checkpoint_blocks(model)
    if cfg.compile:
        for layer in model.model.layers:  # the blocks' forward only: FSDP's hooks stay outside the graph
            layer.forward = torch.compile(layer.forward)
    dtype = compute_dtype(cfg, device)
    fsdp = cfg.parallel == "fsdp"
    out = CausalLMLoss(model, kernel_for(cfg.loss_kernel, device), cfg.loss_chunk,
                       autocast=dtype if dtype != torch.float32 and not fsdp else None).to(device)
    if fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        mp = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32) \
            if dtype != torch.float32 else MixedPrecisionPolicy()
        for layer in model.model.layers:
            fully_shard(layer, mp_policy=mp)
        fully_shard(out, mp_policy=mp)
        return out
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return out
    return DistributedDataParallel(out, device_ids=[device.index] if device.type == "cuda" else None,
                                   gradient_as_bucket_view=True)  # no second copy of the gradients


def _checkpoint_blocks(model) -> None:
    """transformers' per-block activation checkpointing (non-reentrant, as FSDP2 needs);
    `activation_checkpointing_enable` from transformers 5.2x, `gradient_checkpointing_enable` before."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def causal_lm(model):
    """The Hugging Face model inside a wrapped model (a plain model as it is)."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    return inner.lm if isinstance(inner, CausalLMLoss) else inner


def optimizer(model: torch.nn.Module, cfg: TrainConfig, fused: bool | None = None) -> torch.optim.Optimizer:
    """AdamW; its fused kernel on GPUs (one launch for every parameter), foreach on CPU."""
    on_gpu = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay,
                             fused=on_gpu if fused is None else fused)


def train_step(model, opt, batch: torch.Tensor, cfg: TrainConfig, step: int) -> tuple[torch.Tensor, float]:
    """One optimizer step on this worker's sequences (inputs and shifted targets), forwarded
    `cfg.micro_batch` at a time with the gradients accumulated: the loss is the mean over every
    target token of the batch (each micro-batch weighted by its share of the tokens; equal
    across ranks, so the group's average is the global batch's mean), and gradients are
    synchronised over the group on the last micro-batch only."""
    lr = cfg.lr_at(step)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    chunks = batch.split(cfg.micro_batch or len(batch))
    total = batch.new_zeros((), dtype=torch.float32)
    for i, chunk in enumerate(chunks):
        with _sync_gradients(model, last=i == len(chunks) - 1):
            loss = model(input_ids=chunk[:, :-1], targets=chunk[:, 1:])
            (loss * len(chunk) / len(batch)).backward()
        total += loss.detach() * len(chunk) / len(batch)
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return total, lr


@contextlib.contextmanager
def _sync_gradients(model, last: bool):
    """DDP's `no_sync` or FSDP2's gradient-sync switch on every micro-batch but the last."""
    if last or not (isinstance(model, DistributedDataParallel) or hasattr(model, "set_requires_gradient_sync")):
        yield
    elif isinstance(model, DistributedDataParallel):
        with model.no_sync():
            yield
    else:
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)


def save_checkpoint(model, opt, step: int, fed: torch.Tensor, cfg: TrainConfig, data: PreparedData,
                    rank: int, folder: Path, stage: int = 0) -> bool:
    """All ranks gather the full state (collectives); rank 0 writes it."""
    weights = _hf_keys(get_model_state_dict(model, options=FULL))
    optim = get_optimizer_state_dict(model, opt, options=FULL)
    fed_total = sum_over_ranks(fed)
    if rank != 0:
        return False
    from transformers import AutoTokenizer, LlamaForCausalLM
    with torch.device("meta"):  # config and file layout only: no second copy of the weights to build
        skeleton = LlamaForCausalLM(model_config(cfg.model_size))
    skeleton.save_pretrained(folder, state_dict=weights)
    AutoTokenizer.from_pretrained(data.tokenizer_dir).save_pretrained(folder)
    torch.save({"step": step, "fed_total": fed_total, "optimizer": optim}, folder / TRAIN_STATE)
    (folder / STAGE_FILE).write_text(json.dumps({"stage": stage}))  # which stage of a chain it belongs to
    return True


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def sum_over_ranks(t: torch.Tensor) -> torch.Tensor:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return t.clone()
    # all_reduce works in place, on the process group's device (NCCL: the GPU)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    out = t.to(device, copy=True)
    dist.all_reduce(out)
    return out.cpu()


def validate(cfg: TrainConfig, model, data: PreparedData, families=None) -> dict:
    """Held-out bits-per-byte per family (every family present, or those given), with its
    standard error over the held-out windows."""
    token_bytes = data.token_bytes()
    raw = model.module if isinstance(model, DistributedDataParallel) else model  # under FSDP, the root
    out = {}
    for f in families or data.families():
        out[VAL_METRIC[f]], out[f"{VAL_METRIC[f]}_stderr"] = bits_per_byte(
            raw, data.family_tokens(f, "val"), token_bytes, cfg.seq_len, cfg.eval_tokens)
    return out


def unsharded(model, cfg):
    """A plain Hugging Face model to score: DDP's, or under FSDP a full copy on every rank."""
    if cfg.parallel != "fsdp":
        return causal_lm(model)
    from transformers import LlamaForCausalLM
    full = _hf_keys(get_model_state_dict(model, options=StateDictOptions(full_state_dict=True)))  # a collective
    copy = LlamaForCausalLM(model_config(cfg.model_size)).to(next(model.parameters()).device)
    copy.load_state_dict(full)
    return copy


def _hf_keys(state: dict) -> dict:
    """A CausalLMLoss's state dict under the Hugging Face model's own names."""
    return {k.removeprefix("lm."): v for k, v in state.items()}
