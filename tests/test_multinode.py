"""Several Ray nodes on one machine, each a real `ray start` on 127.0.0.1 with resources of
its own: a sweep's trials land on both worker nodes; a node killed mid-trial costs its trial
only the steps since its last checkpoint; a storage that some node cannot see is refused
before any trial starts. Every node is stopped by its process group."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import _free_port, _wait_for, forget_cluster, node_ports, ray_env, start_node, stop_node

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]
STEPS_TOKENS = 160 * 16 * 128  # 160 steps of the smoke batch: long enough to kill a node mid-trial


class Cluster:
    def __init__(self, tmp_path: Path, **env):
        self.tmp, self.env, self.nodes = tmp_path, ray_env(**env), {}
        self.gcs_port, self.dashboard = _free_port(), _free_port()
        self.gcs = f"127.0.0.1:{self.gcs_port}"

    def start_head(self, cpus: int):
        self.nodes["head"] = start_node(
            ["--head", "--node-ip-address=127.0.0.1", f"--port={self.gcs_port}", f"--num-cpus={cpus}",
             "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard}",
             *node_ports(head=True)],
            self.env, self.tmp / "head.log")
        _wait_for(f"http://127.0.0.1:{self.dashboard}/api/version", 120)

    def add(self, name: str, cpus: int, hide: Path | None = None):
        """A worker node; `hide`: this folder is an empty tmpfs for that node's processes alone
        (its own mount namespace), as a folder local to another machine would be."""
        args = ["--address", self.gcs, "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", *node_ports()]
        wrap = None
        if hide is not None:
            wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    f"mount -t tmpfs tmpfs {hide} && exec ray start --block {' '.join(args)}"]
        joined = len(self.alive_nodes()) + 1
        for attempt in range(2):  # one at a time: on 2 busy cores a raylet can miss its start-up deadline
            self.nodes[name] = start_node(args, self.env, self.tmp / f"{name}-{attempt}.log", wrap=wrap)
            deadline = time.monotonic() + 120
            while self.nodes[name].poll() is None and time.monotonic() < deadline:
                if len(self.alive_nodes()) >= joined:
                    return
                time.sleep(1)
            stop_node(self.nodes[name])
        raise AssertionError(f"node {name} did not join; see {self.tmp}/{name}-*.log")

    def alive_nodes(self) -> list[dict]:
        return [n for n in self._list("nodes") if n["state"] == "ALIVE"]

    def wait_nodes(self, n: int, seconds: float = 120):
        deadline = time.monotonic() + seconds
        while len(self.alive_nodes()) < n:
            assert time.monotonic() < deadline, f"fewer than {n} nodes joined"
            time.sleep(1)

    def train_workers(self) -> list[dict]:
        return self._list("actors", "--detail", "--limit", "1000", "--filter", "class_name=RayTrainWorker")

    def _list(self, what: str, *args: str) -> list[dict]:
        """Ray's state API, as `ray list` gives it (dead actors included)."""
        out = subprocess.run(["ray", "list", what, "--address", f"http://127.0.0.1:{self.dashboard}", "--format",
                              "json", *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        start = out.stdout.find("[")
        return json.loads(out.stdout[start:]) if start >= 0 else []  # "No resource in the cluster"

    def stop(self):
        for proc in reversed(list(self.nodes.values())):
            stop_node(proc)
        forget_cluster(self.gcs_port)


@pytest.fixture
def cluster(tmp_path, prepared):
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()


def _sweep(cluster: Cluster, storage: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--ratios", "0,1", "--workers", "1",
           "--eval-suite", "none", "--storage", str(storage), "--experiment", "nodes", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env={**cluster.env, "RAY_ADDRESS": cluster.gcs, "PYTHONUNBUFFERED": "1"},
                            stdout=open(cluster.tmp / "sweep.log", "w"), stderr=subprocess.STDOUT)


def test_a_preparation_spread_over_three_nodes_writes_the_same_bytes_as_one_process(cluster, tmp_path):
    from test_store import UNIT, _corpus, _shards
    spec = _corpus(tmp_path / "corpus")
    cluster.start_head(cpus=1)
    cluster.add("a", cpus=1)
    cluster.add("b", cpus=1)
    for where, address in (("alone", ""), ("spread", cluster.gcs)):
        done = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--spec", str(spec), "--cache",
                               str(tmp_path / where), "--shard-mb", str(UNIT / 2**20), "--ray", address],
                              cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    assert "prose: read 2/2 files" in done.stdout
    alone, spread = _shards(tmp_path / "alone"), _shards(tmp_path / "spread")
    assert len(alone) > 100 and alone == spread
    tasks = cluster._list("tasks", "--detail", "--limit", "10000", "--filter", "func_or_class_name=_tokenize_task")
    # ~120 tasks of milliseconds each: a node whose worker starts late may find none left
    assert len({t["node_id"] for t in tasks}) >= 2, "the shards were not spread over the nodes"


def _can_unshare() -> bool:
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs a private mount namespace (root or user namespaces)")
def test_a_storage_some_node_cannot_see_is_refused_before_any_trial(cluster, tmp_path):
    storage = tmp_path / "runs"
    storage.mkdir()
    cluster.start_head(cpus=1)
    cluster.add("elsewhere", cpus=1, hide=storage)
    cluster.wait_nodes(2)
    start = time.monotonic()
    sweep = _sweep(cluster, storage)
    assert sweep.wait(timeout=300) == 2
    log = (cluster.tmp / "sweep.log").read_text()
    errors = [line for line in log.splitlines() if "error:" in line]
    assert len(errors) == 1 and "is not shared by the cluster's nodes: 1 of 2 cannot see it" in errors[0], log[-3000:]
    assert not (storage / "tune").exists()  # no trial started
    print(f"refused {time.monotonic() - start:.1f} s after the sweep started")


def test_trials_land_on_both_nodes_and_a_killed_node_costs_only_steps_since_its_checkpoint(cluster, tmp_path):
    """Head with no CPUs (the driver's node), two worker nodes of two CPUs: the two trials
    (one Train worker each) spread over both; then the node of one trial's worker is killed
    (its process group, SIGKILL) after that trial checkpointed. The trial trains again on the
    remaining node from its checkpoint; both finish with every token."""
    storage = tmp_path / "runs"
    cluster.env["RAY_scheduler_spread_threshold"] = "0"  # spread over the nodes rather than pack one
    cluster.start_head(cpus=0)
    cluster.add("a", cpus=2)
    cluster.add("b", cpus=2)
    cluster.wait_nodes(3)
    nodes = {n["node_id"]: n for n in cluster.alive_nodes()}
    sweep = _sweep(cluster, storage, "--tokens", str(STEPS_TOKENS), "--checkpoint-every", "40")
    deadline = time.monotonic() + 600
    while True:  # both trials training, each with a checkpoint
        alive = [w for w in cluster.train_workers() if w["state"] == "ALIVE"]
        done = sum("checkpoint_" in p.read_text() for p in (storage / "train").glob("*/checkpoint_manager_snapshot.json"))
        if len(alive) == 2 and done >= 2:
            break
        assert sweep.poll() is None, (cluster.tmp / "sweep.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the trials did not both start and checkpoint"
        time.sleep(1)
    used = {w["node_id"] for w in alive}
    assert len(used) == 2 and not used & {i for i, n in nodes.items() if n["is_head_node"]}  # both worker nodes
    before_kill = {p.parent.name: max((json.loads(line).get("step", -1) for line in p.read_text().splitlines()),
                                      default=-1) for p in (storage / "tune").glob("*/trial_*/result.json")}
    killed_at = time.time()  # both worker nodes hold a trial's worker: kill one
    os.killpg(cluster.nodes["b"].pid, signal.SIGKILL)  # the node dies: raylet, its workers, everything
    cluster.nodes["b"].wait()
    assert sweep.wait(timeout=900) == 0, (cluster.tmp / "sweep.log").read_text()[-4000:]

    import mlflow
    client = mlflow.MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("nodes").experiment_id], "tags.trial_id != ''")
    assert len(runs) == 2
    for run in runs:
        assert run.data.metrics["trial_finished"] == 1.0
        assert run.data.metrics["trained_tokens"] == STEPS_TOKENS // (16 * 128) * 16 * 128
    resumed = [r for r in runs if r.data.metrics.get("resumed_from_step", 0) >= 40]
    assert len(resumed) >= 1  # the killed node's trial went on from its checkpoint, not from scratch
    survivor = {n["node_id"] for n in cluster.alive_nodes()} & used
    assert len(survivor) == 1
    before = {w["actor_id"] for w in alive}
    restarted = [w for w in cluster.train_workers() if w["actor_id"] not in before]
    assert restarted and {w["node_id"] for w in restarted} == survivor  # on the node that is left
    # Time from the node's death to its trial training again: the trial's first report after it.
    trial_id = resumed[0].data.tags["trial_id"]
    [record] = (storage / "tune").glob(f"*/trial_{trial_id}/result.json")
    # Training again: its first report, well after the kill (reports sent before it arrive within
    # a second), of a step beyond the last it had reported when the node died.
    reports = [json.loads(line) for line in record.read_text().splitlines()]
    again = next(r for r in reports if r["timestamp"] >= int(killed_at) + 2
                 and r.get("step", -1) > before_kill.get(f"trial_{trial_id}", -1))
    print(f"node killed -> its trial reported training again after {again['timestamp'] - killed_at:.0f} s "
          f"(step {again['step']}, resumed from step {resumed[0].data.metrics['resumed_from_step']:.0f})")
