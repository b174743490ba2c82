"""`ray job submit` of the smoke sweep against a real `ray start --head` on 127.0.0.1.

The test starts the head itself (`--block`, in its own process group) and stops it by
that process id when it is done, whatever happened.
"""

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:  # it answers; 401 when Ray's token auth is on
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@pytest.fixture
def head(tmp_path, prepared):
    # Ray 2.59+ turns token auth on for `ray start`; head and client must agree, so both get
    # the same mode and a token of this test's own (no ~/.ray file is read or written).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    gcs, dashboard = _free_port(), _free_port()
    log = open(tmp_path / "head.log", "w")
    proc = subprocess.Popen(
        ["ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         "--num-cpus=2"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        address = f"http://127.0.0.1:{dashboard}"
        _wait_for(f"{address}/api/version", 120)
        yield address, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the head we started, by its process group
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        # `ray start` recorded this head as the machine's current cluster; a later plain
        # `ray.init()` would try to join it. Remove the record if it is still ours.
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.exists() and current.read_text().strip().endswith(f":{gcs}"):
            current.unlink()


def test_job_submit_runs_the_smoke_sweep(head, tmp_path):
    address, env = head
    storage = tmp_path / "runs"
    for _ in range(20):  # the job server answers before its agent has registered
        done = subprocess.run(
            ["ray", "job", "submit", "--address", address, "--working-dir", str(ROOT), "--",
             "python", "sweeps/ratio.py", "--preset", "smoke", "--ratios", "0,1",
             "--storage", str(storage), "--experiment", "submitted"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
        if "No available agent" not in done.stdout + done.stderr:
            break
        time.sleep(3)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout
    assert "Best code_ratio per metric" in done.stdout
    client = mlflow.MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("submitted").experiment_id])
    assert len([r for r in runs if "mlflow.parentRunId" in r.data.tags]) == 2
