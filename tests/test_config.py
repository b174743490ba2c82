"""Every preset and size builds; bad configs fail at construction with the numbers."""

import pytest

from trainers.presets import PAPER_RATIOS, PRESETS
from sweeps.plan import Axis, trial_configs
from sweeps.spec import SweepSpec
from trainers.sizes import SIZES, parameter_count
from trainers.config import TrainConfig

UNITS = {"k": 1e3, "m": 1e6, "b": 1e9}


@pytest.mark.parametrize("size", [s for s in SIZES if s != "smoke"])
def test_sizes_have_the_parameter_count_their_name_says(size):
    named = float(size[:-1]) * UNITS[size[-1]]
    n = parameter_count(size)  # on the meta device: the 2.8B model allocates nothing
    assert abs(n - named) <= 0.05 * named, f"{size}: {n:,} params"


def test_smoke_is_a_fraction_of_a_million_params():
    assert 0.1e6 <= parameter_count("smoke") <= 0.5e6


def _spec(preset: str, **kw) -> SweepSpec:
    p = PRESETS[preset]
    base = dict(experiment="t", preset=preset, size=p.size, tokens=p.tokens, seeds=(0,),
                search="grid", trials=1, storage=None, tracking_uri="sqlite:///x.db",
                resume=False, dry_run=True, metric="val_bpb_text", mode="min")
    return SweepSpec(**{**base, **kw})


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_resolves_to_valid_trials(preset, tmp_path):
    configs = trial_configs(_spec(preset, storage=tmp_path, seeds=(0, 1)), [Axis("code_ratio", PAPER_RATIOS)])
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
    assert lrs[-1] == pytest.approx(cfg.min_lr, rel=0.01)


def test_cooldown_schedule_decays_linearly_to_its_floor():
    cfg = TrainConfig(code_ratio=0.5, model_size="smoke", tokens=100 * 16 * 128, seed=0,
                      schedule="linear", min_lr=1e-6)
    lrs = [cfg.lr_at(s) for s in range(cfg.steps)]
    assert lrs[0] == cfg.lr and lrs[-1] == pytest.approx(1e-6)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))


@pytest.mark.parametrize("bad, message", [
    (dict(parallel="tp"), "unknown parallelism 'tp'"),
    (dict(schedule="step"), "unknown LR schedule 'step'"),
    (dict(global_batch=15), "does not split over 2 workers"),
])
def test_bad_training_configs_fail_when_built(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(code_ratio=0.5, model_size="smoke", tokens=10**6, seed=0, num_workers=2, **bad)
