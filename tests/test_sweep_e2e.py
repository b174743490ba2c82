"""End to end on real parts: a local Ray cluster, Ray Train DDP, Tune, a sqlite MLflow store.

One smoke sweep over three code ratios; everything asserted is read back from MLflow the
way a user would find it, and the checkpoint is loaded with transformers' Auto classes.
"""

import json
import math
import re
from pathlib import Path

import mlflow
import pytest
import ray
from transformers import AutoModelForCausalLM, AutoTokenizer

from evaluation.bpb import bits_per_byte
from sweeps import ratio
from trainers.data.mixture import Mixture
from trainers.data.prepare import PreparedData
from trainers.data.sources import SOURCES
from trainers.sizes import get_size
from helpers import parent_and_children

pytestmark = pytest.mark.e2e
RATIOS = (0.0, 0.5, 1.0)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, prepared):
    storage = tmp_path_factory.mktemp("runs")
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        code = ratio.main(["--preset", "smoke", "--ratios", ",".join(map(str, RATIOS)),
                           "--synthetic-share", "0.2", "--storage", str(storage), "--experiment", "e2e",
                           "--metric", "nl_reasoning_bpb", "--allow-code-execution"])
    finally:
        ray.shutdown()
    assert code == 0
    client = mlflow.MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    parent, children = parent_and_children(client, "e2e")
    return storage, client, parent, children


def test_one_parent_with_one_child_per_trial(sweep):
    _, _, parent, children = sweep
    assert len(parent) == 1 and parent[0].data.tags["sweep"] == "e2e"
    assert len(children) == len(RATIOS)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent[0].info.run_id}


def test_child_runs_are_named_by_their_point_of_the_sweep(sweep):
    _, _, _, children = sweep
    assert sorted(c.info.run_name for c in children) == [f"code_ratio={r:g} seed=0" for r in RATIOS]


def test_children_hold_params_and_the_realized_ratio(sweep):
    _, _, _, children = sweep
    seen = set()
    for c in children:
        p, m = c.data.params, c.data.metrics
        for key in ("code_ratio", "synthetic_share", "init_source", "model_size", "seed", "tokens"):
            assert key in p
        requested = float(p["code_ratio"])
        seen.add(requested)
        assert abs(m["realized_code_ratio"] - requested) <= 0.01
        weights = Mixture.build(requested, float(p["synthetic_share"]), p["code_mix"]).weights()
        for family, share in weights.items():  # every family, token for token
            assert abs(m[f"realized_share_{family}"] - share) <= 0.005
        for key in ("val_bpb_text", "val_bpb_code", "val_bpb_markup", "val_bpb_code_adjacent",
                    "val_bpb_synthetic", "tokens_per_s", "mfu"):
            assert math.isfinite(m[key]) and m[key] > 0
        assert all(f"epochs_{name}" in m for name in SOURCES)
    assert seen == set(RATIOS)


def test_training_moved_the_held_out_loss_the_way_the_mixture_says(sweep):
    _, _, _, children = sweep
    bpb = {float(c.data.params["code_ratio"]): c.data.metrics for c in children}
    # A model that saw no code models held-out code worse than one that saw only code,
    # and the other way round for text.
    assert bpb[0.0]["val_bpb_code"] > bpb[1.0]["val_bpb_code"]
    assert bpb[1.0]["val_bpb_text"] > bpb[0.0]["val_bpb_text"]


def test_every_trial_is_scored_on_the_benchmarks_with_errors_and_floors(sweep):
    _, _, _, children = sweep
    for c in children:
        m = c.data.metrics
        for key in ("nl_reasoning", "nl_reasoning_bpb", "world_knowledge", "world_knowledge_bpb", "code_bpb",
                    "piqa_acc_norm", "hellaswag_bpb", "triviaqa_exact_match", "mbpp_bpb"):
            assert math.isfinite(m[key]) and math.isfinite(m[f"{key}_stderr"]), key
        # The smoke preset scores 8 items per task, spread over the trial's two workers and
        # gathered on rank 0.
        assert m["piqa_n"] == 8 and m["humaneval_n"] == 8
        # pass@1: the workers' greedy completions run in the code sandbox, 4 items per task.
        assert m["humaneval_pass1_n"] == m["mbpp_pass1_n"] == 4 and 0 <= m["code_pass1"] <= 1
        # Even 60k tokens of training beat the Glorot-random model on the gold answers' likelihood.
        assert m["nl_reasoning_bpb"] < m["nl_reasoning_bpb_floor"]
        assert m["eval_s"] > 0


def test_the_optimum_follows_the_chosen_benchmark_metric(sweep):
    _, _, parent, children = sweep
    m = parent[0].data.metrics
    assert parent[0].data.params["metric"] == "nl_reasoning_bpb"
    assert m["best_code_ratio"] == m["best_code_ratio_nl_reasoning_bpb"]  # the primary metric's optimum
    assert m["best_code_ratio_low"] == m["best_code_ratio_nl_reasoning_bpb_low"]
    assert "nl_reasoning_bpb" in parent[0].data.tags["mlflow.note.content"].splitlines()[0]


def test_step_metrics_are_logged_as_curves_over_tokens_trained(sweep):
    """The MLflow step is the tokens a trial has trained (not Tune's iteration, which starts
    again when a trial restarts): the loss curve's steps rise by whole steps' tokens, and the
    final values sit at the last of them."""
    _, client, _, children = sweep
    run = children[0]
    history = client.get_metric_history(run.info.run_id, "loss")
    assert len(history) >= 3
    per_step = int(run.data.params["global_batch"]) * 128
    steps = [m.step for m in history]
    assert steps == sorted(set(steps)) and all(s % per_step == 0 for s in steps)
    [final] = client.get_metric_history(run.info.run_id, "trial_finished")
    assert final.step == steps[-1] == run.data.metrics["trained_tokens"]


def test_parent_holds_optimum_plot_and_table(sweep):
    storage, client, parent, _ = sweep
    run = parent[0]
    assert min(RATIOS) <= run.data.metrics["best_code_ratio_low"] <= run.data.metrics["best_code_ratio"] \
        <= run.data.metrics["best_code_ratio_high"] <= max(RATIOS)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"results.csv", "results.md", "metrics_vs_code_ratio.png", "optimum.json", "comparison.md",
            "comparison.csv"} <= names
    comparison = json.load(open(client.download_artifacts(run.info.run_id, "comparison.json")))
    assert comparison["baseline"] == "code_ratio=0" and set(comparison["variants"]) == {"code_ratio=0.5", "code_ratio=1"}
    optimum = json.load(open(client.download_artifacts(run.info.run_id, "optimum.json")))
    assert set(optimum["val_bpb_text"]["p_best"]) == {str(r) for r in RATIOS}
    assert sum(optimum["val_bpb_text"]["p_best"].values()) == pytest.approx(1.0)
    assert "surrogate_loo_mae_val_bpb_text" in run.data.metrics
    png = client.download_artifacts(run.info.run_id, "metrics_vs_code_ratio.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert run.info.artifact_uri.startswith((storage / "artifacts").as_uri())  # kept with the sweep


def test_the_checkpoint_tag_loads_with_auto_classes_and_reproduces_the_logged_bits_per_byte(sweep):
    _, _, _, children = sweep
    child = children[0]
    p, path = child.data.params, child.data.tags["checkpoint"]
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.decode(tok("def main():")["input_ids"]) == "def main():"
    data = PreparedData(Path(p["manifest"]))
    bpb, _ = bits_per_byte(model, data.family_tokens("text", "val"), data.token_bytes(),
                           get_size(p["model_size"]).seq_len, int(p["eval_tokens"]))
    assert bpb == pytest.approx(child.data.metrics["val_bpb_text"], rel=1e-4)


def test_resume_keeps_finished_trials(sweep):
    storage, client, parent, children = sweep
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        code = ratio.main(["--preset", "smoke", "--ratios", ",".join(map(str, RATIOS)),
                           "--synthetic-share", "0.2", "--storage", str(storage), "--experiment", "e2e", "--resume"])
    finally:
        ray.shutdown()
    assert code == 0
    parents, after = parent_and_children(client, "e2e")
    assert len(parents) == 1 and len(after) == len(children)  # resumed into the same runs


def test_status_lists_the_trials_and_the_optimum_of_a_finished_sweep(sweep):
    import subprocess
    import sys
    storage = sweep[0]
    done = subprocess.run([sys.executable, "-m", "sweeps.status", "--storage", str(storage), "--experiment", "e2e"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 trials: 3 finished" in done.stdout
    assert "Best code_ratio for nl_reasoning_bpb (the sweep's summary):" in done.stdout
    rows = [line for line in done.stdout.splitlines() if "FINISHED" in line]
    assert len(rows) == 3 and all("100%" in r for r in rows)


def test_sync_relogs_a_lost_child_run_from_tunes_records_once(sweep, tmp_path):
    """A child run MLflow lost (here: deleted) is made again from Tune's results on disk, with
    every metric at every step; a second sync finds nothing missing."""
    import shutil

    from sweeps.sync import sync
    storage, client, _, children = sweep
    shutil.copy(storage / "mlflow.db", tmp_path / "mlflow.db")  # the module's store stays as it was
    shutil.copy(storage / "e2e.sweep.json", tmp_path / "e2e.sweep.json")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    import mlflow
    copy = mlflow.MlflowClient(uri)
    assert sync(tmp_path, "e2e", uri)["metrics_logged"] == 0  # the sweep itself missed nothing
    lost = children[0]
    copy.delete_run(lost.info.run_id)
    first = sync(tmp_path, "e2e", uri)
    assert first["runs_made"] == 1 and first["metrics_logged"] > 0
    again = copy.search_runs([lost.info.experiment_id], f"tags.trial_id = '{lost.data.tags['trial_id']}'")
    [remade] = again
    assert remade.info.status == "FINISHED" and remade.info.run_name == lost.info.run_name
    for key in ("loss", "val_bpb_text", "trial_finished"):
        assert [(m.step, m.value) for m in copy.get_metric_history(remade.info.run_id, key)] == \
            [(m.step, m.value) for m in client.get_metric_history(lost.info.run_id, key)]
    assert sync(tmp_path, "e2e", uri) == {"trials": 3, "runs_made": 0, "metrics_logged": 0}


def test_status_of_an_unknown_sweep_is_one_line(tmp_path):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "sweeps.status", "--storage", str(tmp_path), "--experiment", "nope"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no sweep 'nope'" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_recipe_sweep_trains_shared_stages_once_and_judges_variants(prepared, tmp_path):
    """Two recipes sharing their first stages, as two one-worker trials at once: one trains the
    shared stages while the other waits for them. The code cooldown is then judged against the
    text one by the reference instruction model, which the sweep serves on 127.0.0.1 itself."""
    from evaluation.reference import reference_model
    from sweeps import recipe
    judge = reference_model()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        code = recipe.main(["--preset", "smoke", "--recipes", "balanced_to_text", "--cooldowns", "text,code",
                            "--workers", "1", "--storage", str(tmp_path), "--experiment", "recipes",
                            "--eval-tasks", "piqa,mbpp",
                            "--winrate-baseline", "balanced_to_text/text", "--judge", str(judge),
                            "--winrate-max-new-tokens", "8"])
    finally:
        ray.shutdown()
    assert code == 0
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [parent], children = parent_and_children(client, "recipes")
    assert sorted(c.data.params["variant"] for c in children) == ["balanced_to_text/code", "balanced_to_text/text"]
    # 3 stages each; the init and continue stages were trained by one trial and reused by the other.
    assert sorted(c.data.metrics["stages_reused"] for c in children) == [0, 2]
    assert len(list((tmp_path / "stages").iterdir())) == 4  # init, continue and two cooldowns
    # One Ray Train run per trial: the first trains its three stages in one, the other its cooldown.
    assert sorted(p.name.rsplit("-", 1)[1] for p in (tmp_path / "train").glob("stages-*")) == ["1", "3"]
    assert parent.data.tags["best_variant_val_bpb_text"] in ("balanced_to_text/code", "balanced_to_text/text")
    # The study's relative-increase table for the sweep's own variants, against the first one.
    comparison = client.download_artifacts(parent.info.run_id, "comparison.json")
    variants = json.load(open(comparison))["variants"]
    assert set(variants) == {"balanced_to_text/text"} and "nl_reasoning_bpb" in variants["balanced_to_text/text"]
    # Win-rate: on the judged variant's child run, not on the baseline's; the report on the parent.
    judged = {c.data.params["variant"]: c for c in children}
    wr = judged["balanced_to_text/code"].data
    assert wr.metrics["win_rate_low"] <= wr.metrics["win_rate"] <= wr.metrics["win_rate_high"]
    assert 0 <= wr.metrics["win_rate_length_controlled"] <= 1
    assert wr.tags["win_rate_baseline"] == "balanced_to_text/text" and wr.tags["win_rate_informative"] in ("true", "false")
    assert "win_rate" not in judged["balanced_to_text/text"].data.metrics
    report = json.load(open(client.download_artifacts(parent.info.run_id, "winrate.json")))
    [trial] = report["trials"]
    assert trial["variant"] == "balanced_to_text/code" and trial["prompts"] == 2 and len(trial["verdicts"]) == 2
    assert not Path(f"/proc/{trial['judge_served_pid']}").exists()  # the judge server was stopped
    report = open(client.download_artifacts(parent.info.run_id, "winrate.md")).read()
    assert "Win-rate against balanced_to_text/text" in report


def _swept(main, args: list[str], storage, experiment: str, dashboard: bool = False):
    """Run a sweep script's main on a fresh local cluster; (client, parent run, child runs)."""
    ray.init(address="local", num_cpus=2, include_dashboard=dashboard)
    try:
        code = main([*args, "--storage", str(storage), "--experiment", experiment])
    finally:
        ray.shutdown()
    assert code == 0
    client = mlflow.MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    [parent], children = parent_and_children(client, experiment)
    return client, parent, children


def test_an_optuna_sweep_with_asha_runs_end_to_end(prepared, tmp_path):
    """The README's `--search optuna --asha` on the smoke preset: every report carries the
    held-out metric ASHA compares trials on, measured during training. With the dashboard, as
    a user's cluster has it: Ray Train's placement-group cleaner needs its state API to free
    the resources of a trial that ASHA stopped. Two workers a trial: one trial at a time on 2
    cores, so each is compared with every trial before it at each rung, and some are stopped."""
    client, parent, children = _swept(ratio.main, ["--preset", "smoke", "--search", "optuna", "--asha", "--trials",
                                                   "4", "--workers", "2", "--eval-tasks", "piqa"], tmp_path, "asha",
                                      dashboard=True)
    assert len(children) == 4 and len({c.data.params["code_ratio"] for c in children}) == 4  # Optuna's points
    tracked = {c.info.run_id: client.get_metric_history(c.info.run_id, "val_bpb_text") for c in children}
    assert all(h and all(math.isfinite(m.value) for m in h) for h in tracked.values())  # measured in training
    assert max(len(h) for h in tracked.values()) >= 5  # a trial that ran to the end: a value at every report
    assert all(c.data.params["track_metric"] == "val_bpb_text" for c in children)
    finished = [c for c in children if "trial_finished" in c.data.metrics]
    assert finished and all("piqa_acc_norm" in c.data.metrics for c in finished)  # the end-of-trial evaluation
    assert len(finished) < len(children)  # ASHA stopped at least one trial before its end
    assert parent.data.params["search"] == "optuna" and parent.data.params["asha"] == "True"
    assert 0 < parent.data.metrics["budget_steps"] <= 4 * 29
    assert 0 <= parent.data.metrics["best_code_ratio"] <= 1


def test_an_optuna_sweep_over_two_objectives_logs_their_pareto_front(prepared, tmp_path):
    """Multi-objective TPE: both objectives measured at every report (Tune checks each result
    for every metric the searcher optimises); the parent run gets the front."""
    client, parent, children = _swept(ratio.main, ["--preset", "smoke", "--search", "optuna", "--trials", "3",
                                                   "--workers", "1", "--eval-suite", "none", "--pareto", "val_bpb_code"],
                                      tmp_path, "pareto")
    assert len(children) == 3 and all(c.data.params["track_metric"] == "val_bpb_text,val_bpb_code" for c in children)
    for c in children:
        assert len(client.get_metric_history(c.info.run_id, "val_bpb_code")) >= 5  # measured during training
    assert parent.data.params["pareto"] == "val_bpb_code"
    front = json.load(open(client.download_artifacts(parent.info.run_id, "pareto.json")))
    assert 1 <= len(front["front"]) <= 3 and front["objectives"] == ["val_bpb_text", "val_bpb_code"]
    assert "Pareto front of val_bpb_text and val_bpb_code" in parent.data.tags["mlflow.note.content"]


def test_asha_on_a_cluster_without_a_dashboard_is_refused_before_trials(prepared, tmp_path, capsys):
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        with pytest.raises(SystemExit) as stop:
            ratio.main(["--preset", "smoke", "--search", "optuna", "--asha", "--trials", "3", "--eval-suite", "none",
                        "--storage", str(tmp_path), "--experiment", "nodash"])
    finally:
        ray.shutdown()
    assert stop.value.code == 2 and "--asha needs Ray's dashboard" in capsys.readouterr().err
    assert not (tmp_path / "tune").exists()


def test_a_two_axis_sweep_locates_the_optimum_per_model_size(prepared, tmp_path):
    from sweeps import size
    _, parent, children = _swept(size.main, ["--preset", "smoke", "--sizes", "smoke,1m", "--ratios", "0,1",
                                             "--workers", "1", "--eval-suite", "none"], tmp_path, "sizes")
    assert sorted((c.data.params["model_size"], float(c.data.params["code_ratio"])) for c in children) == sorted(
        (s, r) for s in ("1m", "smoke") for r in (0.0, 1.0))
    for s in ("smoke", "1m"):
        m = parent.data.metrics
        assert m[f"best_code_ratio_val_bpb_text_low/model_size_{s}"] <= m[f"best_code_ratio_val_bpb_text/model_size_{s}"] \
            <= m[f"best_code_ratio_val_bpb_text_high/model_size_{s}"]
        lines = parent.data.tags["mlflow.note.content"].split("\n\n")  # the optimum of --metric, per size
        assert any(line.startswith(f"model_size_{s}: ") and "val_bpb_text" in line for line in lines)
    # With MLflow down, `status` reads the sweep's own record: both axes, not an assumed code ratio.
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "sweeps.status", "--storage", str(tmp_path), "--experiment", "sizes",
                           "--tracking-uri", "http://127.0.0.1:9"], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "did not answer" in done.stderr, done.stderr[-2000:]
    header = next(line for line in done.stdout.splitlines() if re.match(r"\|\s*trial\s*\|", line))
    assert "code_ratio" in header and "model_size" in header
    assert "4 trials: 4 finished" in done.stdout
    for s in ("smoke", "1m"):  # the code ratio's optimum per size, each from its own two trials
        assert any(line.startswith(f"model_size={s}: ") and "val_bpb_text" in line for line in done.stdout.splitlines())
    assert parent.data.params["axes"] == "code_ratio,model_size"
    # Whether the small size ranks the two ratios as the larger one does (issue 24's transfer report).
    assert abs(parent.data.metrics["transfer_spearman/smoke_to_1m"]) == pytest.approx(1.0)
