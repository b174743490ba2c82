"""The training core: the model, its wrapping, the optimizer, the step and the training state,
on torch and transformers alone. It runs in one process or under any launcher that sets up
the process group (Ray Train's workers call it: trainers/train.py; so can `torchrun` or a
benchmark on a GPU machine without Ray).

    model = wrap(build_model(cfg, None), cfg, device)
    opt = optimizer(model, cfg)
    loss, lr = train_step(model, opt, batch, cfg, step)
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict
from torch.nn.parallel import DistributedDataParallel

from evaluation.bpb import bits_per_byte
from trainers.config import VAL_METRIC, TrainConfig
from trainers.data.prepare import PreparedData
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
    from transformers import LlamaForCausalLM  # here, not at the top: Ray's controller unpickles
    # this module without needing transformers, and that import costs seconds per process
    source = resume_dir or (Path(cfg.init_checkpoint) if cfg.init_checkpoint else None)
    if source is not None:
        return LlamaForCausalLM.from_pretrained(source, dtype=torch.float32)
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(model_config(cfg.model_size))
    glorot_normal_(model)
    return model


def wrap(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    """The model on its device, wrapped for the process group: FSDP2's `fully_shard` per block
    and at the root, or DDP (nothing to wrap in a group of one)."""
    model.to(device)
    if cfg.parallel == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        # bf16 compute with fp32 gradient reduction on GPUs; fp32 on CPU, where bf16 is slow.
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
            if device.type == "cuda" else MixedPrecisionPolicy()
        for layer in model.model.layers:
            fully_shard(layer, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
        return model
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)


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
            logits = model(input_ids=chunk[:, :-1]).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), chunk[:, 1:].reshape(-1))
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
    weights = get_model_state_dict(model, options=FULL)
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


def validate(cfg: TrainConfig, model, data: PreparedData) -> dict:
    """Held-out bits-per-byte per family, with its standard error over the held-out windows."""
    token_bytes = data.token_bytes()
    raw = model.module if hasattr(model, "module") else model
    out = {}
    for f in data.families():
        out[VAL_METRIC[f]], out[f"{VAL_METRIC[f]}_stderr"] = bits_per_byte(
            raw, data.family_tokens(f, "val"), token_bytes, cfg.seq_len, cfg.eval_tokens)
    return out


def unsharded(model, cfg):
    """A plain model to score: DDP's module, or under FSDP a full copy on every rank."""
    if cfg.parallel != "fsdp":
        return model.module if hasattr(model, "module") else model
    from transformers import LlamaForCausalLM
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))  # a collective
    copy = LlamaForCausalLM(model_config(cfg.model_size)).to(next(model.parameters()).device)
    copy.load_state_dict(full)
    return copy
