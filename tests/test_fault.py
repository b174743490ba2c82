"""A worker killed mid-run: Ray Train restarts the group from the last checkpoint, the data
stream resumes exactly, and the run ends at the same step having fed the same tokens."""

import os
import signal
import threading
import time
from dataclasses import replace

import pytest
import ray
import torch
from ray.util.state import list_actors

from trainers.config import TrainConfig
from trainers.train import TRAIN_STATE, fit

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster():
    ray.init(address="local", num_cpus=2)
    yield
    ray.shutdown()


TEXT_MIX = "encyclopedic:0.4,news:0.3,speeches:0.1,literature:0.2"  # text split by tier, as a cooldown does


def assert_realized(metrics: dict, cfg: TrainConfig, data) -> None:
    """The realized mixture is the requested one within half a point: families, code ratio and
    (with a text mix) each text tier; the epochs of the sources add up to the tokens trained."""
    assert abs(metrics["realized_code_ratio"] - cfg.code_ratio) <= 0.005
    for family, share in cfg.mixture.weights().items():
        assert abs(metrics[f"realized_share_{family}"] - share) <= 0.005, family
    for part, share in cfg.mixture.parts().items():
        if part.startswith("text/"):
            assert abs(metrics[f"realized_share_text_{part[5:]}"] - share) <= 0.005, part
    fed = sum(metrics[f"epochs_{name}"] * len(data.tokens(name, "train")) for name in data.sources())
    assert fed == pytest.approx(metrics["trained_tokens"])


def _checkpoints(root):
    return sorted(p for p in root.glob("fault/checkpoint_*") if p.is_dir())


def _registered(root, run: str = "fault") -> bool:
    """Ray Train has taken a checkpoint into its books (not merely started writing one)."""
    snapshot = root / run / "checkpoint_manager_snapshot.json"
    return snapshot.exists() and "checkpoint_" in snapshot.read_text()


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_killed_worker_resumes_from_the_last_checkpoint(cluster, prepared, tmp_path, parallel):
    cfg = TrainConfig(code_ratio=0.5, synthetic_share=0.2, model_size="smoke", tokens=240 * 16 * 128, seed=0,
                      manifest=str(prepared.manifest), cpus_per_worker=0.9, log_every=10,
                      checkpoint_every=40, keep_checkpoints=2, max_failures=2, parallel=parallel,
                      eval_suite="paper", eval_tasks="piqa,humaneval", eval_limit=6, text_mix=TEXT_MIX,
                      micro_batch=4)  # two micro-batches a step: gradients synchronised on the second
    out = {}
    run = threading.Thread(target=lambda: out.update(result=fit(cfg, "fault", str(tmp_path))))
    run.start()
    deadline = time.monotonic() + 300
    while not _registered(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _registered(tmp_path), "no checkpoint was written"
    workers = list_actors(address=ray.get_runtime_context().gcs_address,
                          filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])
    assert len(workers) == 2
    os.kill(max(w.pid for w in workers), signal.SIGKILL)  # one worker process dies mid-run
    run.join(timeout=600)
    metrics, checkpoint = out["result"]

    assert metrics["resumed_from_step"] >= 40  # restarted from a checkpoint, not from scratch
    assert metrics["trained_tokens"] == cfg.steps * cfg.tokens_per_step  # no step lost or repeated
    assert_realized(metrics, cfg, prepared)
    # The restarted group still scores the benchmarks (under FSDP on a gathered full copy).
    assert metrics["piqa_n"] == 6 and metrics["humaneval_n"] == 6 and metrics["code_bpb"] > 0
    state = torch.load(f"{checkpoint}/{TRAIN_STATE}", weights_only=False)
    assert state["step"] == cfg.steps
    assert len(_checkpoints(tmp_path)) <= cfg.keep_checkpoints


def test_a_killed_worker_in_a_later_stage_resumes_that_stage_and_keeps_the_done_ones(cluster, prepared, tmp_path):
    """Stages trained in one Ray Train run: a worker dies in the second stage; the restarted
    group skips the recorded first stage and resumes the second from its own checkpoint."""
    from trainers.stages import read_record
    from trainers.train import STAGE_FILE, fit_stages
    first = TrainConfig(code_ratio=0.5, model_size="smoke", tokens=40 * 16 * 128, seed=0, manifest=str(prepared.manifest),
                        cpus_per_worker=0.9, log_every=10, checkpoint_every=20, max_failures=2)
    folders = [tmp_path / "stages" / "a", tmp_path / "stages" / "b"]
    second = replace(first, code_ratio=0.1, tokens=200 * 16 * 128, init_checkpoint=str(folders[0] / "checkpoint"),
                     text_mix=TEXT_MIX)
    for f in folders:
        f.mkdir(parents=True)
    out = {}
    run = threading.Thread(target=lambda: out.update(
        metrics=fit_stages([first, second], [str(f) for f in folders], "chain", str(tmp_path))))
    run.start()

    def second_stage_checkpointed() -> bool:  # Ray Train has registered a checkpoint of stage 2
        snapshot = tmp_path / "chain" / "checkpoint_manager_snapshot.json"
        books = snapshot.read_text() if snapshot.exists() else ""
        return any(c.name in books and (c / STAGE_FILE).exists() and '"stage": 1' in (c / STAGE_FILE).read_text()
                   for c in (tmp_path / "chain").glob("checkpoint_*"))
    deadline = time.monotonic() + 300
    while not second_stage_checkpointed() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert second_stage_checkpointed(), "the second stage wrote no checkpoint"
    recorded = read_record(folders[0])
    workers = list_actors(address=ray.get_runtime_context().gcs_address,
                          filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])
    os.kill(max(w.pid for w in workers), signal.SIGKILL)
    run.join(timeout=600)

    metrics = out["metrics"]
    assert read_record(folders[0]) == recorded  # the first stage was not trained again
    assert metrics["resumed_from_step"] >= 20 and metrics["trained_tokens"] == second.tokens
    assert read_record(folders[1])["metrics"] == metrics
    assert_realized(metrics, second, prepared)
    assert_realized(read_record(folders[0])["metrics"], first, prepared)  # a stage without a text mix, too


def _trial_runs_with_a_checkpoint(train_root) -> int:
    return sum("checkpoint_" in p.read_text() for p in train_root.glob("*/checkpoint_manager_snapshot.json"))


def test_a_sweep_whose_driver_was_killed_resumes_without_retraining_or_duplicate_runs(head, tmp_path):
    """The sweep's driver is SIGKILLed while its second trial trains: `--resume` keeps the finished
    trial, restarts the other from its last checkpoint, and logs into the MLflow runs it had."""
    import subprocess
    import sys
    from pathlib import Path

    import mlflow
    root = Path(__file__).resolve().parents[1]
    storage = tmp_path / "runs"
    cmd = [sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--ratios", "0,1", "--tokens", str(160 * 16 * 128),
           "--checkpoint-every", "40", "--eval-suite", "none", "--storage", str(storage), "--experiment", "killed"]
    env = {**head["env"], "RAY_ADDRESS": head["gcs"]}
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while _trial_runs_with_a_checkpoint(storage / "train") < 2 and time.monotonic() < deadline:
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)  # the driver dies mid-trial: trial 1 done, trial 2 checkpointed
    driver.wait()
    log.close()
    client = mlflow.MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("killed").experiment_id
    before = {r.data.params["code_ratio"]: r for r in client.search_runs([experiment])
              if "mlflow.parentRunId" in r.data.tags}
    assert "trial_finished" in before["0.0"].data.metrics and "trial_finished" not in before["1.0"].data.metrics
    trained_before = sorted(p.name for p in (storage / "train").iterdir())
    # The interrupted sweep, as `python -m sweeps.status` reads it from Tune's records.
    status = subprocess.run([sys.executable, "-m", "sweeps.status", "--storage", str(storage), "--experiment", "killed"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert status.returncode == 0 and "2 trials: 1 finished" in status.stdout, status.stdout + status.stderr[-2000:]
    assert "not yet, 1 trial(s) finished" in status.stdout

    done = subprocess.run([*cmd, "--resume"], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = client.search_runs([experiment])
    children = {r.data.params["code_ratio"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(runs) == 3 and len(children) == 2  # one parent, one run per trial: nothing duplicated
    assert {k: r.info.run_id for k, r in children.items()} == {k: r.info.run_id for k, r in before.items()}
    assert children["1.0"].data.metrics["resumed_from_step"] >= 40  # from its checkpoint, not from scratch
    assert children["1.0"].data.metrics["trained_tokens"] == 160 * 16 * 128
    assert sorted(p.name for p in (storage / "train").iterdir()) == trained_before  # the finished trial was not rerun
    assert all(r.info.status == "FINISHED" for r in children.values())
