"""Every preset and size builds; bad configs fail at construction with the numbers."""

import pytest
import torch
from transformers import LlamaForCausalLM

from sweeps.presets import PAPER_RATIOS, PRESETS
from sweeps.runner import trial_configs
from sweeps.spec import SweepSpec
from trainers.sizes import SIZES, model_config
from trainers.train import TrainConfig

EXPECTED_PARAMS = {"smoke": (0.1e6, 0.5e6), "1m": (1e6, 2e6), "4m": (3e6, 5e6)}


@pytest.mark.parametrize("size", list(SIZES))
def test_sizes_have_the_parameter_count_their_name_says(size):
    with torch.device("meta"):
        model = LlamaForCausalLM(model_config(size, vocab_size=4096))
    n = sum(p.numel() for p in model.parameters())
    low, high = EXPECTED_PARAMS[size]
    assert low <= n <= high, f"{size}: {n:,} params"


def _spec(preset: str, **kw) -> SweepSpec:
    p = PRESETS[preset]
    base = dict(experiment="t", preset=preset, size=p.size, tokens=p.tokens, seeds=(0,),
                search="grid", trials=1, storage=None, tracking_uri="sqlite:///x.db",
                resume=False, dry_run=True, metric="val_bpb_text", mode="min")
    return SweepSpec(**{**base, **kw})


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_resolves_to_valid_trials(preset, tmp_path):
    configs = trial_configs(_spec(preset, storage=tmp_path, seeds=(0, 1)), "code_ratio", PAPER_RATIOS)
    assert len(configs) == 2 * len(PAPER_RATIOS)
    for c in configs:
        for key in ("code_ratio", "synthetic_share", "init_source", "model_size", "seed", "tokens"):
            assert key in c


def test_budget_smaller_than_one_batch_is_refused():
    with pytest.raises(ValueError, match="smaller than one batch"):
        TrainConfig(code_ratio=0.5, model_size="smoke", tokens=100, seed=0)


def test_unknown_size_is_refused():
    with pytest.raises(ValueError, match="unknown model size 'huge'"):
        TrainConfig(code_ratio=0.5, model_size="huge", tokens=10**6, seed=0)


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(code_ratio=0.5, model_size="smoke", tokens=200 * 16 * 128, seed=0)
    lrs = [cfg.lr_at(s) for s in range(cfg.steps)]
    peak = lrs.index(max(lrs))
    assert 0 < peak < cfg.steps // 10
    assert lrs[-1] == pytest.approx(cfg.min_lr_frac * cfg.lr, rel=0.01)
