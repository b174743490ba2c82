"""Shared fixtures: one prepared corpus for the whole suite, built once and cached.

The cache lives in the checkout's .cache/ (git-ignored) unless CODEMIX_CACHE is set, so a
second run of the suite reuses the tokenizer and token arrays.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CODEMIX_CACHE", str(ROOT / ".cache" / "codemix"))
os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")


@pytest.fixture(scope="session")
def prepared():
    from trainers.data.prepare import prepare
    return prepare()


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


def ray_env(**extra) -> dict:
    """The environment of a test's own Ray cluster and its clients: Ray 2.59+ turns token auth
    on for `ray start`, and head, nodes and clients must agree, so all get the same mode and a
    token of this cluster's own (no ~/.ray file is read or written)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), **extra}


def start_node(args: list[str], env: dict, log: Path, wrap: list[str] | None = None) -> subprocess.Popen:
    """`ray start --block ARGS` in its own process group (`wrap`: a command that runs it, e.g.
    in another mount namespace, ending in `exec ray start ...`)."""
    cmd = wrap or ["ray", "start", "--block", *args]
    return subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_node(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    """Stop a node we started, by its process group: SIGTERM, then SIGKILL after 2 s
    (`ray start --block` takes ~30 s to stop on its own, and the node is thrown away)."""
    if proc.poll() is not None and sig == signal.SIGTERM:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=2)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def forget_cluster(gcs_port: int) -> None:
    """`ray start` recorded this head as the machine's current cluster; a later plain
    `ray.init()` would try to join it. Remove the record if it is still ours."""
    current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    if current.exists() and current.read_text().strip().endswith(f":{gcs_port}"):
        current.unlink()


@pytest.fixture
def head(tmp_path, prepared):
    """A real `ray start --head --block` on 127.0.0.1 in its own process group, stopped by that
    process id when the test is done, whatever happened."""
    env = ray_env()
    gcs, dashboard = _free_port(), _free_port()
    proc = start_node(["--head", "--node-ip-address=127.0.0.1", f"--port={gcs}", "--include-dashboard=true",
                       "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2"],
                      env, tmp_path / "head.log")
    try:
        address = f"http://127.0.0.1:{dashboard}"
        _wait_for(f"{address}/api/version", 120)
        yield {"dashboard": address, "gcs": f"127.0.0.1:{gcs}", "env": env}
    finally:
        stop_node(proc)
        forget_cluster(gcs)


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 (runs in a sqlite database, artefacts proxied to a
    folder, as cluster.yaml proxies them to S3), in its own process group: stopped and
    restarted by that process id, on the same port and database."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.proc = folder, _free_port(), None
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self) -> "MlflowServer":
        log = open(self.folder / "mlflow-server.log", "a")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", (self.folder / "artifacts").as_uri()],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for(f"{self.uri}/health", 120)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    try:
        yield server
    finally:
        server.stop()
