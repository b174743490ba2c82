"""The training core runs without Ray: in one process, on torch and transformers alone, the
step trains, and the state it saves is a Hugging Face checkpoint plus the optimizer's state."""

import json
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

import ranks
from trainers.config import TrainConfig
from trainers.core import (TRAIN_STATE, build_model, optimizer, save_checkpoint, train_step,
                           validate, wrap)
from trainers.loss import chunked_cross_entropy
from trainers.data.mixture import MixedStream

ROOT = Path(__file__).resolve().parents[1]


def test_the_core_imports_no_ray():
    code = "import sys, trainers.core\nprint([m for m in sys.modules if m == 'ray' or m.startswith('ray.')])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]


def test_one_process_trains_and_saves_a_checkpoint_that_loads(prepared, tmp_path):
    torch.set_num_threads(1)
    cfg = TrainConfig(code_ratio=0.25, model_size="smoke", tokens=20 * 16 * 128, seed=0, manifest=str(prepared.manifest),
                      num_workers=1, lr=3e-3)
    stream = MixedStream({p: prepared.family_tokens(p, "train") for p, w in cfg.mixture.parts().items() if w > 0},
                         cfg.mixture, cfg.seq_len, cfg.seed)
    model = wrap(build_model(cfg, None), cfg, torch.device("cpu"))
    opt = optimizer(model, cfg)
    before = validate(replace(cfg, eval_tokens=4096), model, prepared)["val_bpb_text"]
    losses = []
    for step in range(cfg.steps):
        seqs, _ = stream.sequences(step * cfg.global_batch + np.arange(cfg.global_batch))
        loss, _ = train_step(model, opt, torch.from_numpy(seqs), cfg, step)
        losses.append(loss.item())
    after = validate(replace(cfg, eval_tokens=4096), model, prepared)["val_bpb_text"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) and after < before
    fed = torch.zeros(len(stream.families), dtype=torch.float64)
    assert save_checkpoint(model, opt, cfg.steps, fed, cfg, prepared, 0, tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reloaded.state_dict().values(), strict=True))
    assert torch.load(tmp_path / TRAIN_STATE, weights_only=False)["step"] == cfg.steps


def _ranks(cfg: TrainConfig, batches: torch.Tensor, do: str, tmp_path, name: str):
    """The core on cfg.num_workers ranks under torchrun (one: in this process); rank 0's result."""
    torch.save(batches, tmp_path / f"{name}.batches.pt")
    job = {"cfg": asdict(cfg), "batches": str(tmp_path / f"{name}.batches.pt"), "do": do,
           "out": str(tmp_path / f"{name}.out.pt")}
    if cfg.num_workers == 1:
        ranks.run(job)
    else:
        (tmp_path / f"{name}.json").write_text(json.dumps(job))
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                               str(cfg.num_workers), str(ROOT / "tests" / "ranks.py"), str(tmp_path / f"{name}.json")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(job["out"])


def test_the_loss_curve_is_the_same_over_workers_and_micro_batches(prepared, tmp_path):
    cfg = TrainConfig(code_ratio=0.25, model_size="smoke", tokens=5 * 16 * 128, seed=0, num_workers=1, loss_chunk=300)
    stream = MixedStream({p: prepared.family_tokens(p, "train") for p, w in cfg.mixture.parts().items() if w > 0},
                         cfg.mixture, cfg.seq_len, cfg.seed)
    batches = torch.stack([torch.from_numpy(stream.sequences(s * 16 + np.arange(16))[0]) for s in range(cfg.steps)])
    whole = _ranks(cfg, batches, "curve", tmp_path, "whole")
    parts = _ranks(replace(cfg, num_workers=2, micro_batch=2), batches, "curve", tmp_path, "split")
    assert len(whole) == 5 and np.allclose(whole, parts, rtol=1e-4), (whole, parts)


def test_one_global_batch_takes_the_same_step_however_it_is_split(prepared, tmp_path):
    """16 sequences as one worker x 16, one worker x 4 micro-batches of 4, two DDP workers x
    4 micro-batches of 2, two FSDP2 workers x 2 x 4, and with activation checkpointing and
    the full-logits loss: the loss is the mean over every target token of the global batch,
    so each takes the same step."""
    cfg = TrainConfig(code_ratio=0.25, model_size="smoke", tokens=4 * 16 * 128, seed=0, num_workers=1,
                      loss_chunk=300)  # the chunk splits a micro-batch's tokens unevenly on purpose
    stream = MixedStream({p: prepared.family_tokens(p, "train") for p, w in cfg.mixture.parts().items() if w > 0},
                         cfg.mixture, cfg.seq_len, cfg.seed)
    batch = torch.from_numpy(stream.sequences(np.arange(cfg.global_batch))[0])[None]  # one step
    whole = _ranks(cfg, batch, "step", tmp_path, "whole")
    for name, split in {"1 x 4 x 4": dict(micro_batch=4), "1 x 16, full logits": dict(loss_kernel="full"),
                        "1 x 4 x 4, checkpointed": dict(micro_batch=4, activation_checkpointing=True),
                        "2 DDP x 2 x 4": dict(num_workers=2, micro_batch=2),
                        "2 FSDP x 2 x 4": dict(num_workers=2, micro_batch=2, parallel="fsdp")}.items():
        got = _ranks(replace(cfg, **split), batch, "step", tmp_path, name.replace(" ", "_").replace(",", ""))
        assert got["loss"] == pytest.approx(whole["loss"], rel=1e-5), name
        for key, w in whole["weights"].items():
            assert torch.allclose(got["weights"][key], w, atol=1e-6, rtol=1e-4), (name, key)


def test_the_chunked_loss_is_the_cross_entropy_and_its_gradient():
    torch.manual_seed(0)
    hidden, weight = torch.randn(50, 16, requires_grad=True), torch.randn(300, 16, requires_grad=True)
    targets = torch.randint(0, 300, (50,))
    plain = F.cross_entropy(hidden @ weight.t(), targets)
    plain_grads = torch.autograd.grad(plain, (hidden, weight))
    for chunk in (1, 7, 50, 64):
        chunked = chunked_cross_entropy(hidden, weight, targets, chunk)
        assert chunked.item() == pytest.approx(plain.item(), rel=1e-6), chunk
        for got, want in zip(torch.autograd.grad(chunked, (hidden, weight)), plain_grads, strict=True):
            assert torch.allclose(got, want, atol=1e-6), chunk


def test_bf16_compute_follows_fp32_over_a_run(prepared):
    """bf16 autocast (the DDP path on GPUs, here on CPU) with fp32 weights and optimizer state
    tracks the fp32 loss curve within bf16's rounding."""
    torch.set_num_threads(1)
    cfg = TrainConfig(code_ratio=0.25, model_size="smoke", tokens=10 * 16 * 128, seed=0, num_workers=1, micro_batch=8)
    stream = MixedStream({p: prepared.family_tokens(p, "train") for p, w in cfg.mixture.parts().items() if w > 0},
                         cfg.mixture, cfg.seq_len, cfg.seed)
    curves = {}
    for precision in ("fp32", "bf16"):
        run = replace(cfg, precision=precision)
        model = wrap(build_model(run, None), run, torch.device("cpu"))
        opt = optimizer(model, run)
        curves[precision] = [train_step(model, opt, torch.from_numpy(stream.sequences(
            s * cfg.global_batch + np.arange(cfg.global_batch))[0]), run, s)[0].item() for s in range(cfg.steps)]
    assert curves["bf16"] != curves["fp32"]  # it did compute in bf16
    assert np.allclose(curves["bf16"], curves["fp32"], rtol=2e-2), curves


def test_a_micro_batch_that_does_not_split_a_workers_share_is_refused():
    with pytest.raises(ValueError, match="micro-batch 3 does not split a worker's 8 sequences"):
        TrainConfig(code_ratio=0.5, model_size="smoke", tokens=10**6, seed=0, num_workers=2, micro_batch=3)


@pytest.mark.slow  # inductor compiles the blocks to C++ on CPU: about 15 s
def test_compiled_blocks_take_the_same_steps():
    torch.set_num_threads(1)
    cfg = TrainConfig(code_ratio=0.25, model_size="smoke", tokens=3 * 16 * 128, seed=0, num_workers=1, micro_batch=8)
    batch = torch.randint(0, 4096, (16, 129), generator=torch.Generator().manual_seed(0))
    curves = []
    for compiled in (False, True):
        run = replace(cfg, compile=compiled)
        model = wrap(build_model(run, None), run, torch.device("cpu"))
        opt = optimizer(model, run)
        curves.append([train_step(model, opt, batch, run, s)[0].item() for s in range(cfg.steps)])
    assert np.allclose(curves[0], curves[1], rtol=1e-5), curves
