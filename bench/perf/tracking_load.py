"""Benchmark: the report rate a real `mlflow server` sustains from N concurrent trials, and
whether any metric is lost.

    python -m bench.perf.tracking_load [--trials 1,4,16] [--reports 60] [--metrics 40]
    # saves bench/results/tracking_load.json

A sweep's driver logs each report of each trial as one `log_batch` (sweeps/tracking.py's
ChildRunCallback): a report of a trial is one request of about 40 metrics. Here N processes,
one per trial, each make a child run and log `--reports` such reports to one server (sqlite
database, artefacts proxied to a folder: the cluster's layout, with sqlite for the head's
database) as fast as it takes them, all at once. Per N: reports per second the server
sustained, the median and 95th-percentile request time, and every metric read back
(`get_metric_history`) against what was sent: lost values must be zero. The baseline is
N = 1 in the same run; ratios are reports/s at N over reports/s at 1.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


from bench.report import report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
                             "--port", str(port), "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                             "--artifacts-destination", (folder / "artifacts").as_uri()],
                            stdout=open(folder / "server.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            return proc, uri
        except OSError:
            time.sleep(1)
    raise TimeoutError("mlflow server did not start")


def _trial(uri: str, experiment_id: str, index: int, reports: int, metrics: int, start, out) -> None:
    import mlflow
    from mlflow.entities import Metric
    client = mlflow.MlflowClient(uri)
    run = client.create_run(experiment_id, run_name=f"trial {index}")
    start.wait()
    times = []
    for step in range(reports):
        now = int(time.time() * 1000)
        batch = [Metric(f"m{k}", float(step * 1000 + k), now, step) for k in range(metrics)]
        t = time.perf_counter()
        client.log_batch(run.info.run_id, metrics=batch)
        times.append(time.perf_counter() - t)
    out.put((run.info.run_id, times))


def load(uri: str, trials: int, reports: int, metrics: int) -> dict:
    import mlflow
    import numpy as np
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment(f"load-{trials}-{time.time_ns()}")
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_trial, args=(uri, experiment_id, i, reports, metrics, start, out))
             for i in range(trials)]
    for p in procs:
        p.start()
    time.sleep(2 + trials * 0.3)  # every process imported mlflow and made its run
    begin = time.perf_counter()
    start.set()
    done = [out.get(timeout=1800) for _ in procs]
    wall = time.perf_counter() - begin
    for p in procs:
        p.join()
    times = np.concatenate([t for _, t in done])
    lost = 0
    for run_id, _ in done:
        for k in range(metrics):
            history = {(m.step, m.value) for m in client.get_metric_history(run_id, f"m{k}")}
            lost += sum((s, float(s * 1000 + k)) not in history for s in range(reports))
    return {"reports_per_s": trials * reports / wall, "metrics_per_s": trials * reports * metrics / wall,
            "request_median_ms": float(np.median(times) * 1000), "request_p95_ms": float(np.percentile(times, 95) * 1000),
            "wall_s": wall, "lost": lost, "sent": trials * reports * metrics}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", default="1,4,16", help="concurrent trials, a comma list (default 1,4,16)")
    p.add_argument("--reports", type=int, default=60, help="reports per trial (default 60)")
    p.add_argument("--metrics", type=int, default=40, help="metrics per report (default 40)")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.trials.split(",")]
    results = {"reports": args.reports, "metrics": args.metrics, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        proc, uri = _server(Path(tmp))
        try:
            for n in counts:
                r = load(uri, n, args.reports, args.metrics)
                print(f"{n} trials: {r['reports_per_s']:.1f} reports/s, {r['lost']} of {r['sent']} values lost",
                      flush=True)
                results.update({f"n{n}_{k}": v for k, v in r.items()})
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    base = results[f"n{counts[0]}_reports_per_s"]
    for n in counts[1:]:
        results[f"n{n}_reports_per_s_ratio"] = results[f"n{n}_reports_per_s"] / base
    report(results, "tracking_load")
    return 0 if all(results[f"n{n}_lost"] == 0 for n in counts) else 1


if __name__ == "__main__":
    sys.exit(main())
