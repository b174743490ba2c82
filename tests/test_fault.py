"""A worker killed mid-run: Ray Train restarts the group from the last checkpoint, the data
stream resumes exactly, and the run ends at the same step having fed the same tokens."""

import os
import signal
import threading
import time

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


def _checkpoints(root):
    return sorted(p for p in root.glob("fault/checkpoint_*") if p.is_dir())


def _registered(root) -> bool:
    """Ray Train has taken a checkpoint into its books (not merely started writing one)."""
    snapshot = root / "fault" / "checkpoint_manager_snapshot.json"
    return snapshot.exists() and "checkpoint_" in snapshot.read_text()


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_killed_worker_resumes_from_the_last_checkpoint(cluster, prepared, tmp_path, parallel):
    cfg = TrainConfig(code_ratio=0.5, synthetic_share=0.2, model_size="smoke", tokens=240 * 16 * 128, seed=0,
                      manifest=str(prepared.manifest), cpus_per_worker=0.9, log_every=10,
                      checkpoint_every=40, keep_checkpoints=2, max_failures=2, parallel=parallel,
                      eval_suite="paper", eval_tasks="piqa,humaneval", eval_limit=6)
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
    for family, share in cfg.mixture.weights().items():
        assert abs(metrics[f"realized_share_{family}"] - share) <= 0.005
    # The restarted group still scores the benchmarks (under FSDP on a gathered full copy).
    assert metrics["piqa_n"] == 6 and metrics["humaneval_n"] == 6 and metrics["code_bpb"] > 0
    state = torch.load(f"{checkpoint}/{TRAIN_STATE}", weights_only=False)
    assert state["step"] == cfg.steps
    assert len(_checkpoints(tmp_path)) <= cfg.keep_checkpoints


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
    cmd = [sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--ratios", "0,1", "--tokens", str(240 * 16 * 128),
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

    done = subprocess.run([*cmd, "--resume"], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = client.search_runs([experiment])
    children = {r.data.params["code_ratio"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(runs) == 3 and len(children) == 2  # one parent, one run per trial: nothing duplicated
    assert {k: r.info.run_id for k, r in children.items()} == {k: r.info.run_id for k, r in before.items()}
    assert children["1.0"].data.metrics["resumed_from_step"] >= 40  # from its checkpoint, not from scratch
    assert children["1.0"].data.metrics["trained_tokens"] == 240 * 16 * 128
    assert sorted(p.name for p in (storage / "train").iterdir()) == trained_before  # the finished trial was not rerun
    assert all(r.info.status == "FINISHED" for r in children.values())
