"""codemix's Ray Train settings: chosen for the cluster at hand, never over a user's own."""

import os
from dataclasses import replace

import pytest
import ray

from trainers.config import TrainConfig
from trainers.ray_settings import POLL_VAR, PREEMPTION_VAR, apply

SMOKE = TrainConfig(code_ratio=0.5, model_size="smoke", tokens=60_000, seed=0, num_workers=2, cpus_per_worker=0.9)


@pytest.fixture
def cluster(monkeypatch):
    monkeypatch.delenv(POLL_VAR, raising=False)
    monkeypatch.delenv(PREEMPTION_VAR, raising=False)
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_one_node_that_holds_the_run_gets_no_preemption_watcher(cluster):
    apply(SMOKE)
    assert os.environ[PREEMPTION_VAR] == "0"
    assert os.environ[POLL_VAR] == "0.25"
    # More CPUs than this node has: the run waits for nodes to join, and watching them helps.
    apply(replace(SMOKE, num_workers=4, cpus_per_worker=1.0))
    assert PREEMPTION_VAR not in os.environ


def test_a_users_own_setting_is_kept(cluster, monkeypatch):
    monkeypatch.setenv(PREEMPTION_VAR, "1")
    monkeypatch.setenv(POLL_VAR, "2")
    apply(SMOKE)
    assert os.environ[PREEMPTION_VAR] == "1"
    assert os.environ[POLL_VAR] == "2"
