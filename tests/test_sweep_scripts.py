"""Each experiment of the study has its script: help, a clean dry run, one-line bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import one_line_error

pytestmark = pytest.mark.usefixtures("prepared")  # runs sweep scripts: the data is prepared first (conftest)

ROOT = Path(__file__).resolve().parents[1]


def script(name: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"sweeps/{name}.py", "--preset", "smoke", "--storage", str(tmp_path),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


def dry(name: str, *args: str, tmp_path: Path) -> list[dict]:
    done = script(name, *args, "--dry-run", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "mlflow.db").exists()
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_size_crosses_every_ratio_with_every_size(tmp_path):
    trials = dry("size", "--ratios", "0,0.5", "--sizes", "smoke,1m", "--seeds", "2", tmp_path=tmp_path)
    assert sorted((t["code_ratio"], t["model_size"], t["seed"]) for t in trials) == sorted(
        (r, s, k) for r in (0.0, 0.5) for s in ("smoke", "1m") for k in (0, 1))


def test_synthetic_sweeps_the_share_and_ablates_each_kind_of_code(tmp_path):
    shares = dry("synthetic", "--shares", "0,0.5", "--ratios", "0.25", tmp_path=tmp_path)
    assert [(t["synthetic_share"], t["code_ratio"]) for t in shares] == [(0.0, 0.25), (0.5, 0.25)]
    ablation = dry("synthetic", "--sources", "markup,synthetic", "--ratios", "0.5", tmp_path=tmp_path)
    by_source = {t["code_source"]: t for t in ablation}
    assert by_source["markup"]["code_mix"] == "markup:1" and by_source["markup"]["synthetic_share"] == 0.0
    assert by_source["synthetic"]["synthetic_share"] == 1.0


def test_init_and_cooldown_are_the_studys_recipe_variants(tmp_path):
    init = {t["variant"] for t in dry("init", tmp_path=tmp_path)}
    assert init == {"text_only/none", "balanced_only/none", "balanced_to_text/none", "code_to_text/none"}
    cooldown = {t["variant"] for t in dry("cooldown", tmp_path=tmp_path)}
    assert cooldown == {"balanced_to_text/none", "balanced_to_text/text", "balanced_to_text/code"}


def test_optuna_dry_run_names_the_searched_ranges(tmp_path):
    done = script("synthetic", "--search", "optuna", "--asha", "--trials", "6", "--ratios", "0.1,0.6", "--dry-run",
                  tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0]) == {"synthetic_share": [0.0, 1.0], "code_ratio": [0.0, 1.0]}
    assert done.stdout.strip().endswith(
        "6 trials (optuna + ASHA); every check a run makes passed; nothing was trained (--dry-run)")


def test_a_mixture_sweep_is_a_swarm_of_mixtures_each_a_trials_mixes(tmp_path):
    """Each trial's mixture is its name and its config: the config's mixture gives back the
    shares named, within the bounds and the epoch limit."""
    from trainers.data.mixture import Mixture
    trials = dry("mixture", "--parts", "text/encyclopedic,text/news,web_code,markup", "--trials", "12",
                 "--bounds", "web_code:0.1-0.5", "--max-epochs", "50", "--seeds", "2", tmp_path=tmp_path)
    assert len(trials) == 24 and len({t["mixture"] for t in trials}) == 12
    for t in trials:
        weights = Mixture.build(t["code_ratio"], t["synthetic_share"], t["code_mix"], t["text_mix"]).parts()
        for part in ("text/encyclopedic", "text/news", "web_code", "markup"):
            assert weights[part] == pytest.approx(t[f"share_{part.replace('/', '_')}"], abs=1e-5)
        assert 0.1 - 1e-3 <= t["share_web_code"] <= 0.5 + 1e-3
        assert weights["text/speeches"] == weights["code_adjacent"] == weights["synthetic"] == 0


def test_an_optuna_mixture_search_checks_its_prior_mixture_before_anything_starts(tmp_path):
    done = script("mixture", "--search", "optuna", "--asha", "--trials", "16", "--parts", "text,web_code,markup",
                  "--dry-run", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("16 trials (optuna + ASHA); every check a run makes passed; nothing was "
                                        "trained (--dry-run)")


@pytest.mark.parametrize("name, args, named", [
    ("mixture", ["--parts", "text,prose"], "unknown part 'prose'"),
    ("mixture", ["--parts", "text,web_code", "--bounds", "text:0.8-1,web_code:0.5-1"], "no feasible mixture"),
    ("mixture", ["--parts", "text,web_code", "--bounds", "web_code:0.9-1", "--prior", "text:0.5,web_code:0.5"],
     "outside --bounds"),
    ("mixture", ["--parts", "text,web_code", "--max-epochs", "0.0001"], "--max-epochs 0.0001: every mixture repeats"),
    ("mixture", ["--trials", "8"], "too few for the mixture laws over 8 parts"),
    ("mixture", ["--validate", "1"], "--validate 1: give at least 2 seeds"),
    ("mixture", ["--transfer-size", "smoke"], "--transfer-size smoke: name a larger size"),
    ("mixture", ["--transfer-size", "470m"], "--transfer-size 470m: name a larger size"),
    ("mixture", ["--transfer-size", "4m", "--transfer-mixtures", "2"], "at least 3"),
    ("mixture", ["--search", "optuna", "--parts", "text,web_code", "--bounds", "web_code:0.5-1", "--max-epochs",
                 "0.9", "--tokens", "8000000", "--prior", "text:0.4,web_code:0.6"], "leave no feasible mixture"),
    ("mixture", ["--search", "optuna", "--parts", "text,web_code", "--bounds", "web_code:0.5-1"], "outside --bounds"),
    ("size", ["--sizes", "smoke,galaxy"], "unknown 'galaxy'"),
    ("size", ["--sizes", "1m,470m"], "different tokenizers"),
    ("synthetic", ["--shares", "0,1.2"], "1.2 is outside"),
    ("synthetic", ["--sources", "poetry"], "unknown 'poetry'"),
    ("synthetic", ["--ratios", "0,0.5"], "--ratios 0 trains no code"),
    ("synthetic", ["--sources", "markup", "--search", "optuna", "--trials", "4"], "named variants"),
    ("init", ["--recipes", "text_only", "--search", "optuna"], "named variants"),
    ("cooldown", ["--cooldowns", "tepid"], "tepid"),
])
def test_bad_input_is_one_line_before_anything_starts(name, args, named, tmp_path):
    done = script(name, *args, tmp_path=tmp_path)
    one_line_error(done, named)
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "tune").exists()
