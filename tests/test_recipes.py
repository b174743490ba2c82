"""Recipes are stage lists with the study's proportions, and stage keys name what a stage computes.
(Shared stages trained once by concurrent trials: the recipe sweep of test_sweep_e2e.py.)"""

from dataclasses import fields, replace

import pytest

from trainers.config import COMPUTE, TrainConfig
from trainers.recipes import COOLDOWN_MIN_LR, RECIPES, get_recipe
from trainers.stages import stage_configs, stage_key

BASE = TrainConfig(code_ratio=0.0, model_size="smoke", tokens=100_000, seed=0, cpus_per_worker=0.9, log_every=5)


@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("cooldown", ["none", "text", "code"])
def test_every_recipe_spends_its_whole_budget(recipe, cooldown):
    stages = get_recipe(recipe, cooldown)
    assert sum(s.token_share for s in stages) == pytest.approx(1.0)
    assert not stages[0].from_previous and all(s.from_previous for s in stages[1:])
    if cooldown != "none":
        last = stages[-1]
        assert last.token_share == pytest.approx(0.10) and last.schedule == "linear"
        assert last.min_lr == COOLDOWN_MIN_LR and last.code_ratio == (0.2 if cooldown == "code" else 0.0)


def test_code_to_text_starts_from_a_code_lm_of_code_and_markup():
    init = get_recipe("code_to_text")[0]
    assert init.code_ratio == 1.0 and init.code_mix == "web_code:0.8,markup:0.2"


def test_unknown_recipe_or_cooldown_is_refused():
    with pytest.raises(ValueError, match="unknown recipe 'fim'"):
        get_recipe("fim")
    with pytest.raises(ValueError, match="unknown cooldown 'warm'"):
        get_recipe("text_only", "warm")


def test_a_stage_below_one_batch_is_refused():
    with pytest.raises(ValueError, match="smaller than one batch"):
        stage_configs(get_recipe("balanced_to_text", "code"), replace(BASE, tokens=3_000))


# A value of each field that differs from BASE's stage and keeps the config valid.
OTHER = {"code_ratio": 0.4, "model_size": "1m", "tokens": 120_000, "seed": 7, "synthetic_share": 0.5,
         "code_mix": "web_code:1", "text_mix": "news:1", "global_batch": 8, "lr": 1e-3, "schedule": "linear",
         "warmup_frac": 0.1, "min_lr": 1e-5, "weight_decay": 0.0, "grad_clip": 0.5, "manifest": "/elsewhere.json",
         "init_checkpoint": "/a/checkpoint", "allow_repeat": False, "log_every": 1, "checkpoint_every": 3,
         "keep_checkpoints": 5, "max_failures": 0, "parallel": "fsdp", "num_workers": 4, "micro_batch": 2,
         "cpus_per_worker": 2.0, "precision": "bf16", "loss_kernel": "full", "loss_chunk": 64,
         "activation_checkpointing": True, "attention": "eager", "compile": True, "gpu_memory": 40.0,
         "use_gpu": True, "eval_tokens": 1024, "eval_suite": "paper", "eval_tasks": "piqa", "eval_limit": 3,
         "allow_code_execution": True, "eval_code_limit": 2, "track_metric": "val_bpb_text"}


def test_stage_keys_change_only_with_what_the_stage_computes():
    cfg = stage_configs(get_recipe("balanced_to_text", "text"), BASE)[0]
    key = stage_key(cfg, "", "tok")
    assert set(OTHER) == {f.name for f in fields(TrainConfig)}  # a new field needs a value here
    for name, value in OTHER.items():
        changed = stage_key(replace(cfg, **{name: value}), "", "tok") != key
        assert changed == (name in cfg.part(COMPUTE)), name
    assert stage_key(cfg, "previous", "tok") != key and stage_key(cfg, "", "other-tokenizer") != key
