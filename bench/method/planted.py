"""Benchmark: what Optuna with ASHA spends to locate an optimum, against a full grid.

    python -m bench.method.planted [--curves 20] [--trials 16]     # saves bench/results/planted.json

For each of `--curves` planted curves (optimum uniform in [0.05, 0.95], trial noise drawn
from 0.002/0.005/0.01; sweeps/planted.py), in this process on one local Ray cluster:
1. the baseline, a grid at 0.05 over [0, 1] (21 trials of 27 steps);
2. Optuna (TPE) with ASHA, `--trials` trials.
Reported: steps trained by each (ASHA's as a share of the grid's), how often each located
the planted optimum within 0.05, the median error, and how often the 95% interval held it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile

import numpy as np


from bench.report import report


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--curves", type=int, default=20)
    cli.add_argument("--trials", type=int, default=16)
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args()
    import ray
    from sweeps import planted
    rng = np.random.default_rng(args.seed)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.curves):
            optimum, noise = float(rng.uniform(0.05, 0.95)), float(rng.choice([0.002, 0.005, 0.01]))
            row = {"optimum": optimum, "noise": noise}
            for name, extra in (("grid", []), ("optuna_asha", ["--search", "optuna", "--asha", "--trials",
                                                                str(args.trials), "--seed", str(i)])):
                a = planted.parser().parse_args(["--optimum", str(optimum), "--noise", str(noise), "--storage",
                                                 f"{tmp}/{i}-{name}", *extra])
                r = planted.run(a)
                row[name] = {k: r[k] for k in ("optimum", "low", "high", "budget", "grid_budget", "error",
                                               "finished_trials")}
            rows.append(row)
            print(f"curve {i + 1}/{args.curves}: planted {optimum:.3f} noise {noise}: grid {row['grid']['optimum']:.3f} "
                  f"({row['grid']['budget']} steps), optuna+asha {row['optuna_asha']['optimum']:.3f} "
                  f"({row['optuna_asha']['budget']} steps)", flush=True)
    ray.shutdown()
    summary = {}
    for name in ("grid", "optuna_asha"):
        runs = [r[name] for r in rows]
        summary[name] = {
            "within_0.05": float(np.mean([x["error"] <= 0.05 for x in runs])),
            "median_error": statistics.median(x["error"] for x in runs),
            "interval_holds_planted": float(np.mean([x["low"] <= r["optimum"] <= x["high"]
                                                     for x, r in zip(runs, rows, strict=True)])),
            "median_steps": statistics.median(x["budget"] for x in runs)}
    summary["optuna_asha"]["steps_vs_grid"] = statistics.median(
        r["optuna_asha"]["budget"] / r["grid"]["budget"] for r in rows)
    flat = {f"{name}_{k}": v for name, figures in summary.items() for k, v in figures.items()}
    report({"curves": args.curves, "trials": args.trials, **flat, "runs": rows}, "planted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
