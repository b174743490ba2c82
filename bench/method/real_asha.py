"""Benchmark: a real sweep, Optuna with ASHA against the full grid, in tokens trained and optimum.

    python -m bench.method.real_asha [--preset smoke] [--trials 8,12,16] [--resolution 0.05]
    # saves bench/results/real_asha.json

The planted benchmark (bench/method/planted.py) knows its optimum; this one trains. In one process
and one local Ray instance with its dashboard (ASHA needs it), `sweeps/ratio.py` runs twice
on the same preset, one worker a trial: a grid over the code ratio at `--resolution`, then
`--search optuna --asha --trials N` over [0, 1] for each N of `--trials`, all locating the
optimum of `--metric` (held-out text bits-per-byte by default; no benchmarks, so the
per-report metric is cheap). Figures: steps (hence tokens) each trained, the ratio of each
Optuna+ASHA budget to the grid's (the target is at most 0.4), each optimum with its 95%
interval, and its distance from the grid's: how few trials still locate it within 0.05.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


from bench.report import report


def one(args, extra: list[str], storage: Path, name: str) -> dict:
    import mlflow
    from sweeps import ratio
    start = time.perf_counter()
    code = ratio.main(["--preset", args.preset, "--workers", "1", "--eval-suite", "none", "--metric", args.metric,
                       "--storage", str(storage), "--experiment", name, *extra])
    assert code == 0
    client = mlflow.MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags).data
    m = parent.metrics
    return {"wall_s": time.perf_counter() - start, "budget_steps": m["budget_steps"], "trials": m["budget_trials"],
            "best": m["best_code_ratio"], "low": m["best_code_ratio_low"], "high": m["best_code_ratio_high"],
            "sentence": parent.tags["mlflow.note.content"].split("\n")[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="smoke", help="the sweeps' preset (default smoke)")
    parser.add_argument("--trials", default="8,12,16", help="Optuna trials, one sweep per value (default 8,12,16)")
    parser.add_argument("--resolution", type=float, default=0.05, help="the grid's spacing (default 0.05)")
    parser.add_argument("--metric", default="val_bpb_text", help="the optimum's metric (default val_bpb_text)")
    args = parser.parse_args()

    import numpy as np
    import ray
    ratios = ",".join(f"{r:g}" for r in np.round(np.linspace(0, 1, int(round(1 / args.resolution)) + 1), 6))
    ray.init(num_cpus=2)
    results, runs = {}, {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            grid = one(args, ["--ratios", ratios], Path(tmp) / "grid", "grid")
            print("grid", grid, flush=True)
            for n in (int(t) for t in args.trials.split(",")):
                runs[n] = one(args, ["--search", "optuna", "--asha", "--trials", str(n)], Path(tmp) / f"asha{n}",
                              f"asha{n}")
                print(f"optuna+asha {n} trials", runs[n], flush=True)
    finally:
        ray.shutdown()
    results.update({f"grid_{k}": v for k, v in grid.items()})
    for n, run in runs.items():
        results.update({f"asha{n}_{k}": v for k, v in run.items()})
        results[f"asha{n}_budget_ratio"] = run["budget_steps"] / grid["budget_steps"]
        results[f"asha{n}_wall_ratio"] = run["wall_s"] / grid["wall_s"]
        results[f"asha{n}_optimum_distance"] = abs(run["best"] - grid["best"])
    report(results, "real_asha")


if __name__ == "__main__":
    main()
