"""Every preset and size builds; bad configs fail at construction with the numbers."""

import argparse
import subprocess
import sys
from dataclasses import replace

import pytest

from trainers.presets import PAPER_RATIOS, PRESETS
from sweeps.plan import TRAIN_FIELDS, Axis, trial_configs
from sweeps.spec import SweepSpec, add_shared_flags, base_config
from trainers.sizes import SIZES, parameter_count
from trainers.config import TrainConfig, check_machine

UNITS = {"k": 1e3, "m": 1e6, "b": 1e9}


@pytest.mark.parametrize("size", [s for s in SIZES if s != "smoke"])
def test_sizes_have_the_parameter_count_their_name_says(size):
    named = float(size[:-1]) * UNITS[size[-1]]
    n = parameter_count(size)  # on the meta device: the 2.8B model allocates nothing
    assert abs(n - named) <= 0.05 * named, f"{size}: {n:,} params"


def test_smoke_is_a_fraction_of_a_million_params():
    assert 0.1e6 <= parameter_count("smoke") <= 0.5e6


def _spec(preset: str, **kw) -> SweepSpec:
    base = dict(experiment="t", preset=preset, base=PRESETS[preset].config, seeds=(0,),
                search="grid", trials=1, storage=None, tracking_uri="sqlite:///x.db",
                resume=False, dry_run=True, metric="val_bpb_text", mode="min")
    return SweepSpec(**{**base, **kw})


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_resolves_to_a_trial_per_point_and_seed_with_the_points_values(preset, tmp_path):
    configs = trial_configs(_spec(preset, storage=tmp_path, seeds=(0, 1)), [Axis("code_ratio", PAPER_RATIOS)])
    assert [(c["code_ratio"], c["seed"]) for c in configs] == [(r, s) for r in PAPER_RATIOS for s in (0, 1)]
    own = PRESETS[preset].config
    for c in configs:  # everything but the point is the preset's own config
        assert TrainConfig(**{k: c[k] for k in TRAIN_FIELDS}) == replace(own, code_ratio=c["code_ratio"], seed=c["seed"])
        assert c["init_source"] == "scratch" and c["train_storage"] == str(tmp_path / "train")


def _flags(*argv: str):
    parser = argparse.ArgumentParser()
    add_shared_flags(parser, experiment="t")
    return parser.parse_args(list(argv))


def test_flags_replace_fields_of_the_presets_config_and_nothing_else():
    demo = PRESETS["demo"].config
    assert base_config(_flags("--preset", "demo")) == demo
    got = base_config(_flags("--preset", "demo", "--size", "4m", "--tokens", "2000000", "--workers", "2",
                             "--synthetic-share", "0", "--eval-suite", "none", "--no-repeat"))
    assert got == replace(demo, model_size="4m", tokens=2_000_000, num_workers=2, eval_suite="none", allow_repeat=False)


def test_building_a_config_asks_nothing_of_the_machine():
    """No lm-eval registry, no sandbox probe, no data: those are the sweep's pre-flight."""
    code = ("import sys\n"
            "from trainers.config import TrainConfig\n"
            "TrainConfig(code_ratio=0.5, model_size='smoke', tokens=10**6, seed=0, eval_suite='paper',\n"
            "            eval_tasks='nope', allow_code_execution=True)\n"
            "print([m for m in ('lm_eval', 'evaluation.sandbox', 'evaluation.suites') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]


def test_the_preflight_refuses_an_unknown_task():
    with pytest.raises(ValueError, match="nope"):
        check_machine(TrainConfig(code_ratio=0.5, model_size="smoke", tokens=10**6, seed=0, eval_suite="paper",
                                  eval_tasks="nope"))


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
