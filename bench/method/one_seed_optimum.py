"""Benchmark: the optimum of a one-seed sweep, with the trials' standard errors as the noise
against the fit guessing a white-noise term (the baseline), on the same planted curves.

    python -m bench.method.one_seed_optimum [--curves 100]     # saves bench/results/one_seed_optimum.json

Each curve is one value per point on the paper's six ratios (0, 0.25, 0.5, 0.75, 0.9, 1),
drawn once and given to both methods: bowls `3 + a (r - optimum)^2` (optimum uniform in
[0.1, 0.9], depth over the range 10 to 50 times the noise), slopes (falling 10 to 50 times the
noise over the range) and flat lines, each with Gaussian noise whose standard deviation
(0.005, 0.01 or 0.02) is the standard error each trial reports. Reported per method: bowls
located within 0.1 (and not called flat), slopes located at the end, flat lines wrongly
located (called varying at 5%), and how often the 95% interval holds the planted optimum.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


from bench.report import report

RATIOS = np.array([0.0, 0.25, 0.5, 0.75, 0.9, 1.0])


def curves(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        noise = float(rng.choice([0.005, 0.01, 0.02]))
        optimum = float(rng.uniform(0.1, 0.9))
        depth = rng.uniform(10, 50) * noise
        jitter = rng.normal(0, noise, len(RATIOS))
        yield "bowl", optimum, noise, 3 + depth / max(optimum, 1 - optimum) ** 2 * (RATIOS - optimum) ** 2 + jitter
        yield "slope", 1.0, noise, 3 + depth * (1 - RATIOS) + rng.normal(0, noise, len(RATIOS))
        yield "flat", None, noise, 3 + rng.normal(0, noise, len(RATIOS))


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--curves", type=int, default=100, help="curves of each kind (default 100)")
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args()
    from sweeps.optimum import ALPHA, locate
    tally = {m: {"bowl_within_0.1": 0, "bowl_interval_holds": 0, "slope_at_end": 0, "flat_located": 0, "s": 0.0}
             for m in ("standard_errors", "fitted_noise")}
    for i, (kind, optimum, noise, y) in enumerate(curves(args.curves, args.seed)):
        for method, se in (("standard_errors", np.full(len(RATIOS), noise)), ("fitted_noise", None)):
            start = time.perf_counter()
            opt = locate(RATIOS, y, "min", se, replicates=int(__import__("os").environ.get("REPS", 40)))
            t = tally[method]
            t["s"] += time.perf_counter() - start
            varies = opt.p_flat < ALPHA
            if kind == "bowl":
                t["bowl_within_0.1"] += varies and abs(opt.best - optimum) <= 0.1
                t["bowl_interval_holds"] += varies and opt.low <= optimum <= opt.high
            elif kind == "slope":
                t["slope_at_end"] += varies and opt.best == 1.0 and not opt.interior
            else:
                t["flat_located"] += varies
        if (i + 1) % 30 == 0:
            print(f"{(i + 1) // 3}/{args.curves} curves of each kind", flush=True)
    out = {"curves_per_kind": args.curves, "points": len(RATIOS), "seeds_per_point": 1}
    for method, t in tally.items():
        for key in ("bowl_within_0.1", "bowl_interval_holds", "slope_at_end", "flat_located"):
            out[f"{method}_{key}"] = t[key] / args.curves
        out[f"{method}_s_per_fit"] = t["s"] / (3 * args.curves)
    base = out["fitted_noise_bowl_within_0.1"]
    out["bowls_located_vs_baseline"] = out["standard_errors_bowl_within_0.1"] / base if base else float("inf")
    report(out, "one_seed_optimum")
    return 0


if __name__ == "__main__":
    sys.exit(main())
