"""Benchmark: a sweep's trials per hour on one Ray node against two nodes of the same CPUs.

    python -m bench.perf.cluster_throughput [--ratios 0,0.25,0.5,0.75] [--preset smoke]
    # saves bench/results/cluster_throughput.json

Each layout is a real cluster on 127.0.0.1 started with `ray start` (token auth, as the
cluster runs it), stopped by its process groups: one node of 2 CPUs (the baseline), then a
head of 0 CPUs and two worker nodes of 1 CPU each. The same grid (one worker a trial, no
benchmarks) is submitted as `python sweeps/ratio.py` with RAY_ADDRESS set, into fresh
storage. Figures: wall time of the sweep command, trials per hour, and the ratio of the
two-node layout to the one-node one (what a second raylet and the placement across nodes
cost when the CPUs are the same).
"""

from __future__ import annotations

import argparse
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

from bench.report import report

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(["ray", "start", "--block", *args], env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _wait_nodes(dashboard: str, env: dict, n: int) -> None:
    for _ in range(120):
        out = subprocess.run(["ray", "list", "nodes", "--address", dashboard, "--format", "json"], env=env,
                             capture_output=True, text=True)
        if out.stdout.count('"ALIVE"') >= n:
            return
        time.sleep(1)
    raise TimeoutError(f"{n} nodes did not join")


def layout(name: str, workers: list[int], head_cpus: int, args, tmp: Path) -> dict:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    gcs, dash = _free_port(), _free_port()
    procs = [_start(["--head", "--node-ip-address=127.0.0.1", f"--port={gcs}", f"--num-cpus={head_cpus}",
                     "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}"],
                    env, tmp / f"{name}-head.log")]
    try:
        dashboard = f"http://127.0.0.1:{dash}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{dashboard}/api/version", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(1)
        _wait_nodes(dashboard, env, 1)
        for i, cpus in enumerate(workers):  # one at a time: a raylet can miss its start-up deadline on busy cores
            procs.append(_start(["--address", f"127.0.0.1:{gcs}", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}"],
                                env, tmp / f"{name}-node{i}.log"))
            _wait_nodes(dashboard, env, 2 + i)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", args.preset, "--ratios", args.ratios,
                               "--workers", "1", "--eval-suite", "none", "--storage", str(tmp / name),
                               "--experiment", name], cwd=ROOT, env={**env, "RAY_ADDRESS": f"127.0.0.1:{gcs}"},
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        trials = len(args.ratios.split(","))
        print(f"{name}: {trials} trials in {wall:.1f} s", flush=True)
        return {f"{name}_wall_s": wall, f"{name}_trials_per_hour": trials * 3600 / wall}
    finally:
        for p in reversed(procs):
            _stop(p)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="smoke")
    p.add_argument("--ratios", default="0,0.25,0.5,0.75")
    args = p.parse_args(argv)
    results = {"preset": args.preset, "ratios": args.ratios}
    with tempfile.TemporaryDirectory() as tmp:
        results |= layout("one_node", [], 2, args, Path(tmp))
        results |= layout("two_nodes", [1, 1], 0, args, Path(tmp))
    results["two_over_one_trials_per_hour"] = results["two_nodes_trials_per_hour"] / results["one_node_trials_per_hour"]
    report(results, "cluster_throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
