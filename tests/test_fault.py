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
