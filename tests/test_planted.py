"""A sweep whose answer is known: Ray Tune, Optuna, ASHA, the optimum's fit and MLflow, run for
real on a planted curve (sweeps/planted.py), must find the planted optimum."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from helpers import one_line_error

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


def planted(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sweeps.planted", "--storage", str(tmp_path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def last_json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_grid_finds_the_planted_optimum(tmp_path):
    r = last_json(planted("--optimum", "0.35", "--noise", "0.002", "--resolution", "0.1", tmp_path=tmp_path))
    assert abs(r["optimum"] - 0.35) <= 0.05 and r["low"] <= 0.35 <= r["high"]  # between two grid points
    assert r["budget"] == r["grid_budget"] == 11 * 27 and r["finished_trials"] == 11
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = client.get_run(r["parent_run_id"])
    assert parent.data.metrics["best_code_ratio"] == pytest.approx(r["optimum"])
    assert "planted_loss is best at code ratio" in parent.data.tags["mlflow.note.content"]


def test_optuna_with_asha_finds_it_for_less_than_the_grid(tmp_path):
    r = last_json(planted("--optimum", "0.65", "--noise", "0.002", "--search", "optuna", "--asha", "--trials", "16",
                          tmp_path=tmp_path))
    assert abs(r["optimum"] - 0.65) <= 0.05
    assert r["budget"] < 16 * 27 and r["finished_trials"] < 16  # ASHA stopped some trials early
    assert r["budget"] < r["grid_budget"]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    children = client.search_runs([client.get_experiment_by_name("codemix-planted").experiment_id],
                                  f"tags.mlflow.parentRunId = '{r['parent_run_id']}'")
    assert len(children) == 16


def test_a_dirichlet_swarm_finds_a_planted_mixture(tmp_path):
    """Four parts, the planted mixture far from the even one the swarm is drawn around (L1 0.7):
    the fitted law's proposal lands near it, and the parent run holds the answer."""
    planted_mix = {"text": 0.6, "web_code": 0.25, "markup": 0.1, "code_adjacent": 0.05}
    r = last_json(planted("--optimum-mixture", ",".join(f"{p}:{s}" for p, s in planted_mix.items()), "--trials", "32",
                          "--steps", "3", "--noise", "0.002", tmp_path=tmp_path))
    assert r["finished_trials"] == 32 and r["budget"] == 32 * 3
    assert abs(sum(r["mixture"].values()) - 1) < 1e-9 and r["l1"] < 0.2, r
    assert all(r["low"][p] <= r["mixture"][p] <= r["high"][p] for p in planted_mix)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = client.get_run(r["parent_run_id"])
    assert parent.data.params["mixture_law"] == r["law"]
    assert parent.data.metrics["best_share_web_code"] == pytest.approx(r["mixture"]["web_code"])
    assert {f"law_{law}_spearman" for law in ("linear", "log_linear", "lightgbm", "gp", "dml")} <= set(parent.data.metrics)
    assert {"best_mixture.json", "metric_vs_share.png"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_optuna_over_the_simplex_with_asha_finds_a_planted_mixture_on_less_budget(tmp_path):
    """Optuna chooses the mixtures (one number a part, mapped onto the simplex) and ASHA stops
    most of them early: the laws are fitted where enough trials reached, and still land near."""
    planted_mix = {"text": 0.5, "web_code": 0.3, "markup": 0.2}
    r = last_json(planted("--optimum-mixture", ",".join(f"{p}:{s}" for p, s in planted_mix.items()), "--search",
                          "optuna", "--asha", "--trials", "18", "--steps", "9", "--noise", "0.002", tmp_path=tmp_path))
    assert r["finished_trials"] < 18 and r["budget"] < 18 * 9  # ASHA stopped some early
    assert (r["fitted_at_step"] is None) == (r["finished_trials"] >= 8)  # too few finished: fitted at a rung
    assert r["l1"] < 0.2, r
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    children = client.search_runs([client.get_experiment_by_name("codemix-planted").experiment_id],
                                  f"tags.mlflow.parentRunId = '{r['parent_run_id']}'")
    assert len(children) == 18 and all(c.info.run_name.startswith("mixture=text") for c in children)


@pytest.mark.parametrize("args, named", [
    (["--optimum-mixture", "text:0.5,prose:0.5"], "unknown part 'prose'"),
    (["--optimum", "0.3", "--search", "dirichlet"], "goes with --optimum-mixture"),
    (["--optimum-mixture", "text:0.5,web_code:0.5", "--asha", "--trials", "16"], "add --search optuna"),
    (["--optimum-mixture", "text:0.5,web_code:0.4"], "add up to 1"),
    (["--optimum-mixture", "text:0.5,web_code:0.5", "--trials", "4"], "too few to fit mixture laws"),
    (["--optimum-mixture", "text:0.5,web_code:0.5", "--optimum", "0.3"], "one of them"),
    (["--optimum", "1.5"], "outside [0, 1]"),
    (["--optimum", "0.3", "--asha"], "add --search optuna"),
    (["--optimum", "0.3", "--search", "optuna", "--trials", "2"], "too few"),
])
def test_bad_planted_settings_are_one_line(args, named, tmp_path):
    done = planted(*args, tmp_path=tmp_path / "runs")
    one_line_error(done, named)
    assert not (tmp_path / "runs").exists()
