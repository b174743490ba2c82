"""Recipes are stage lists with the study's proportions; stages are trained once and shared."""

import threading
from dataclasses import replace

import pytest
import ray

from trainers.config import TrainConfig
from trainers.recipes import COOLDOWN_MIN_LR, RECIPES, get_recipe
from trainers.stages import run_recipe, stage_configs, stage_key
from trainers.train import fit_stages

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


def test_stage_keys_change_only_with_what_the_stage_computes():
    cfg = stage_configs(get_recipe("balanced_to_text", "text"), BASE)[0]
    key = stage_key(cfg, "", "tok")
    assert stage_key(replace(cfg, num_workers=4, cpus_per_worker=2.0, log_every=1), "", "tok") == key
    assert stage_key(replace(cfg, code_ratio=0.4), "", "tok") != key
    assert stage_key(cfg, "previous", "tok") != key and stage_key(cfg, "", "other-tokenizer") != key


@pytest.mark.e2e
def test_two_trials_asking_for_the_same_stages_at_once_train_them_once(prepared, tmp_path):
    """Balanced->Text with a text cooldown and with a code cooldown share init and continue."""
    base = replace(BASE, manifest=str(prepared.manifest))
    ray.init(address="local", num_cpus=4, include_dashboard=False)  # room for two trials at once
    logs = {}

    def trial(cooldown):
        train = lambda cfgs, folders, name: fit_stages(cfgs, folders, name, str(tmp_path / "train"))  # noqa: E731
        logs[cooldown] = run_recipe(get_recipe("balanced_to_text", cooldown), base, tmp_path, train, prepared)[2]
    try:
        threads = [threading.Thread(target=trial, args=(c,)) for c in ("text", "code")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=900)
    finally:
        ray.shutdown()
    text, code = logs["text"], logs["code"]
    assert [s["key"] for s in text[:2]] == [s["key"] for s in code[:2]]  # the shared chain
    assert text[2]["key"] != code[2]["key"]                               # different cooldowns
    for i in range(2):  # each shared stage: trained by one trial, reused by the other
        assert sorted([text[i]["reused"], code[i]["reused"]]) == [False, True]
        assert text[i]["checkpoint"] == code[i]["checkpoint"]
    assert len(list((tmp_path / "stages").iterdir())) == 4
    # One Ray Train run per trial: the first trains its three stages in one, the second its cooldown.
    runs = sorted(p.name for p in (tmp_path / "train").iterdir() if p.is_dir())
    assert runs == sorted([f"stages-{text[0]['key']}-3", f"stages-{code[2]['key']}-1"])
