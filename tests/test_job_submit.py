"""`ray job submit` of the smoke sweep against a real `ray start --head` on 127.0.0.1 (the
`head` fixture of conftest.py, stopped by its process id)."""

import subprocess
import time
from pathlib import Path

import mlflow
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def test_job_submit_runs_the_smoke_sweep(head, tmp_path):
    address, env = head["dashboard"], head["env"]
    storage = tmp_path / "runs"
    deadline = time.monotonic() + 240
    while True:  # the job server answers before its agent has registered (a minute or more on busy cores)
        done = subprocess.run(
            ["ray", "job", "submit", "--address", address, "--working-dir", str(ROOT), "--",
             "python", "sweeps/ratio.py", "--preset", "smoke", "--ratios", "0,1", "--workers", "1",
             "--eval-suite", "none", "--storage", str(storage), "--experiment", "submitted"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
        if "No available agent" not in done.stdout + done.stderr or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout
    assert "The optimum per metric" in done.stdout
    client = mlflow.MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("submitted").experiment_id])
    assert len([r for r in runs if "mlflow.parentRunId" in r.data.tags]) == 2


def test_a_token_protected_cluster_reached_without_the_token_is_refused_in_one_line(head, tmp_path):
    env = {k: v for k, v in head["env"].items() if k != "RAY_AUTH_TOKEN"}
    env.update(RAY_ADDRESS=head["gcs"], HOME=str(tmp_path))  # no ~/.ray/auth_token either
    start = time.monotonic()
    done = subprocess.run(["python", "sweeps/ratio.py", "--preset", "smoke", "--ratios", "0", "--eval-suite", "none",
                           "--storage", str(tmp_path / "runs")], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "cannot join the Ray cluster" in errors[0] and "token" in errors[0], done.stderr[-3000:]
    assert not (tmp_path / "runs" / "tune").exists()
    print(f"refused in {time.monotonic() - start:.1f} s: {errors[0]}")
