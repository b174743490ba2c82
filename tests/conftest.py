"""Shared fixtures: one prepared corpus for the whole suite, built once and cached.

The cache lives in the checkout's .cache/ (git-ignored) unless CODEMIX_CACHE is set, so a
second run of the suite reuses the tokenizer and token arrays. On an empty cache the first
preparation (package downloads, documents, tokenizer, token arrays: minutes on 2 cores) runs
once, after collection and before the first test, with its progress on the terminal, when any
collected test asks for the `prepared` fixture: no test's own time limit pays for it. A test
that runs a sweep script in a subprocess asks for `prepared` too, so its data is ready.
"""

import contextlib
import os
import random
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


PREPARE_BUDGET_S = 1200  # the first preparation on a quiet 2-core machine: ~2.5 min, ~180 MB of downloads


def pytest_collection_finish(session):
    """Prepare the embedded corpus before the first test, if any collected test needs it."""
    if session.config.option.collectonly or not any("prepared" in getattr(item, "fixturenames", ())
                                                    for item in session.items):
        return
    from trainers.data.prepare import prepare
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        start = time.monotonic()
        print(f"\n[conftest] preparing the embedded corpus under {os.environ['CODEMIX_CACHE']} "
              "(cached: a second run takes a second)", flush=True)
        data = prepare()
        took = time.monotonic() - start
        print(f"[conftest] data ready in {took:.0f} s" + (f" (built: {', '.join(data.built)})" if data.built else ""),
              flush=True)
    if took > PREPARE_BUDGET_S:
        pytest.exit(f"the first data preparation took {took:.0f} s, over its {PREPARE_BUDGET_S} s budget", returncode=1)


@pytest.fixture(scope="session")
def prepared():
    """The prepared corpus (built before the first test by pytest_collection_finish)."""
    from trainers.data.prepare import prepare
    return prepare(quiet=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_range(size: int = 256) -> tuple[int, int]:
    """`size` consecutive ports that are free now, outside Ray's default worker range
    (10002-19999) and the kernel's ephemeral one, so another Ray's workers are not in it."""
    rng = random.Random()
    for _ in range(200):
        low = rng.randrange(20_000, 32_000 - size)
        try:
            with contextlib.ExitStack() as held:
                for port in range(low, low + size):
                    s = held.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            return low, low + size - 1
        except OSError:
            continue
    raise RuntimeError(f"no {size} consecutive free ports between 20000 and 32000")


def node_ports(head: bool = False) -> list[str]:
    """`ray start` flags giving every service of a node a port free now (Ray's defaults are
    fixed: dashboard agent 52365, client server 10001, workers 10002-19999, ...), so another
    Ray instance on the machine cannot break a test's cluster."""
    low, high = _free_range()
    services = ["node-manager-port", "object-manager-port", "dashboard-agent-grpc-port",
                "dashboard-agent-listen-port", "metrics-export-port", "runtime-env-agent-port",
                *(["ray-client-server-port"] if head else [])]
    return [f"--{name}={_free_port()}" for name in services] + [f"--min-worker-port={low}", f"--max-worker-port={high}"]


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
                       "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2",
                       *node_ports(head=True)],
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
