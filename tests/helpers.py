"""What many tests do the same way: run a command as a user would, check a one-line refusal,
split a sweep's MLflow runs into its parent and children, and wait for something to happen."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """`python ARGS...` from the repository root, its output captured."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kw)


def one_line_error(done: subprocess.CompletedProcess, named: str) -> None:
    """Refused as the contract says: exit 2 and one line naming the bad value (lines announcing
    the first fetch of a registry package on a fresh machine aside)."""
    err = [line for line in done.stderr.strip().splitlines() if not line.startswith("[data] fetching ")]
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(err) == 1 and named in err[0], done.stderr[-3000:]


def parent_and_children(client, experiment: str) -> tuple[list, list]:
    """A sweep's runs in MLflow: its parent runs (one per invocation) and the trials' child runs."""
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return ([r for r in runs if "mlflow.parentRunId" not in r.data.tags],
            [r for r in runs if "mlflow.parentRunId" in r.data.tags])


def wait_until(what, seconds: float, why: str, proc: subprocess.Popen | None = None, every: float = 1.0) -> None:
    """Poll `what()` until it is true; fail when `proc` ends first or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (rc {proc.returncode}) while waiting for {why}")
        time.sleep(every)
    raise TimeoutError(f"no {why} within {seconds} s")
