"""cluster.yaml passes the Ray cluster launcher's own validation, is shut to strangers, gives
every node one storage; rayjob.yaml (KubeRay) has the same settings."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


def launcher_config(text: str) -> dict:
    """What `ray up` does with the file before it starts anything."""
    config = prepare_config(yaml.safe_load(text))
    validate_config(config)
    return config


@pytest.fixture(scope="module")
def cluster():
    return launcher_config((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_is_a_valid_launcher_config(cluster):
    assert cluster["head_node_type"] in cluster["available_node_types"]
    assert any("pip install" in c and "-e /home/ray/codemix" in c for c in cluster["head_setup_commands"])
    assert any("torch.cuda.is_available()" in c for c in cluster["worker_setup_commands"])  # CUDA torch on GPU nodes


@pytest.mark.parametrize("edit, complaint", [
    (lambda c: c.update(max_worker=4), "max_worker"),                      # a misspelt key
    (lambda c: c.update(head_node_type="gpu-worker"), "head_node_type"),    # a node type that is not defined
])
def test_ray_up_refuses_a_bad_edit(edit, complaint):
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    edit(config)
    with pytest.raises(Exception, match=complaint):
        launcher_config(yaml.safe_dump(config))


def test_nothing_listens_beyond_loopback_and_ray_needs_its_token(cluster):
    text = (ROOT / "cluster.yaml").read_text()
    assert "0.0.0.0" not in text
    head = " ".join(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head  # dashboard and job API: remote code execution if open
    mlflow = next(c for c in cluster["head_start_ray_commands"] if "mlflow server" in c)
    assert "--host 127.0.0.1" in mlflow
    for commands in (cluster["head_start_ray_commands"], cluster["worker_start_ray_commands"]):
        starts = [c for c in commands if "ray start" in c]
        assert starts and all("RAY_AUTH_MODE=token" in c for c in starts)
    assert "~/.ray/auth_token" in cluster["file_mounts"]  # the token `ray get-auth-token --generate` wrote


def test_every_node_mounts_the_storage_the_sweep_is_given(cluster):
    mount = " ".join(cluster["initialization_commands"])  # run on every node's host
    assert re.search(r"mount -t nfs4 .* /mnt/codemix", mount)
    assert "-v /mnt/codemix:/mnt/codemix" in cluster["docker"]["run_options"]
    storages = re.findall(r"--storage (\S+)", (ROOT / "cluster.yaml").read_text())
    assert storages and all(s.startswith("/mnt/codemix/") for s in storages)


def test_mlflow_keeps_runs_in_a_database_and_proxies_artefacts(cluster):
    mlflow = next(c for c in cluster["head_start_ray_commands"] if "mlflow server" in c)
    assert "--backend-store-uri sqlite:////" in mlflow and "--artifacts-destination s3://" in mlflow
    head = next(c for c in cluster["head_start_ray_commands"] if "ray start" in c)
    assert "MLFLOW_TRACKING_URI=http://127.0.0.1:5000" in head  # jobs on the head log to it


@pytest.fixture(scope="module")
def rayjob():
    return yaml.safe_load((ROOT / "rayjob.yaml").read_text())


def _ray_containers(job):
    spec = job["spec"]["rayClusterSpec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [(g, c) for g in groups for c in g["template"]["spec"]["containers"] if c["name"].startswith("ray-")]


def test_rayjob_has_the_same_safety_storage_and_tracking(rayjob):
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    spec = rayjob["spec"]
    assert spec["rayClusterSpec"]["authOptions"] == {"mode": "token"}
    assert spec["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    for group, container in _ray_containers(rayjob):
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in group["template"]["spec"]["volumes"]}
        assert mounts == {"runs": "/mnt/codemix"} and claims == {"runs": "codemix-runs"}
    mlflow = next(c for c in spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"]
                  if c["name"] == "mlflow")
    command = " ".join(mlflow["args"])
    assert "--host 127.0.0.1" in command and "--artifacts-destination s3://" in command
    assert yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert "--storage /mnt/codemix/" in spec["entrypoint"]


def test_the_rayjob_entrypoint_uses_real_flags(rayjob):
    words = rayjob["spec"]["entrypoint"].split()
    assert words[:2] == ["python", "sweeps/ratio.py"]
    help_text = subprocess.run([sys.executable, str(ROOT / words[1]), "--help"], capture_output=True, text=True,
                               check=True).stdout
    for flag in (w for w in words if w.startswith("--")):
        assert flag in help_text
