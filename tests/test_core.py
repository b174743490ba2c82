"""The training core runs without Ray: in one process, on torch and transformers alone, the
step trains, and the state it saves is a Hugging Face checkpoint plus the optimizer's state."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
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
