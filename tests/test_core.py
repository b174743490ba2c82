"""The training core runs without Ray: in one process, on torch and transformers alone, the
step trains, and the state it saves is a Hugging Face checkpoint plus the optimizer's state."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from trainers.config import TrainConfig
from trainers.core import TRAIN_STATE, build_model, optimizer, save_checkpoint, train_step, validate, wrap
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


def test_micro_batches_take_the_same_step_as_the_whole_batch(prepared):
    """Accumulating four micro-batches of 4 gives the step one batch of 16 gives: the loss is the
    mean over every target token either way. (Plain SGD, so the weights show the gradients:
    Adam's first step is about lr x sign(gradient), which float noise flips where it is ~0.)"""
    torch.set_num_threads(1)
    cfg = TrainConfig(code_ratio=0.25, model_size="smoke", tokens=4 * 16 * 128, seed=0, num_workers=1)
    stream = MixedStream({p: prepared.family_tokens(p, "train") for p, w in cfg.mixture.parts().items() if w > 0},
                         cfg.mixture, cfg.seq_len, cfg.seed)
    batch = torch.from_numpy(stream.sequences(np.arange(cfg.global_batch))[0])
    stepped = []
    for micro in (0, 4):
        run = replace(cfg, micro_batch=micro)
        model = build_model(run, None)
        loss, _ = train_step(model, torch.optim.SGD(model.parameters(), lr=1.0), batch, run, step=0)
        stepped.append((loss.item(), [p.detach().clone() for p in model.parameters()]))
    (whole_loss, whole), (micro_loss, micro) = stepped
    assert micro_loss == pytest.approx(whole_loss, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(whole, micro, strict=True))


def test_a_micro_batch_that_does_not_split_a_workers_share_is_refused():
    with pytest.raises(ValueError, match="micro-batch 3 does not split a worker's 8 sequences"):
        TrainConfig(code_ratio=0.5, model_size="smoke", tokens=10**6, seed=0, num_workers=2, micro_batch=3)
