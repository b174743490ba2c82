"""Benchmark: how much of a sweep's time the cores spend training, by how trials share them.

    python bench/sweep_throughput.py [--preset demo] [--ratios 0,0.25,0.5,0.75] [--tokens 500000]
    # saves bench/results/sweep_throughput.json

The same grid (`--ratios`, one seed, the preset's evaluation) runs through
`sweeps.runner.run_sweep` in this process on one local Ray instance, once per layout, each
into fresh storage: two Train workers per trial and one trial at a time (the presets' layout
so far), then one worker per trial and as many trials at once as the CPUs hold (Ray Tune
runs two on 2 cores). Per layout, over the Tune phase (first trial launched to last trial
done; the summary's fits after it are timed apart):
- training share: the cores' seconds spent in training loops (each trial's `train_s` x its
  workers x their threads) over the phase's wall time x the cluster's CPUs;
- sweep tokens/s: tokens trained by all trials over the phase's wall time;
- CPU seconds by process role (the driver, Tune's and Train's helper actors, the workers),
  sampled once a second: what the driver and Ray's helpers take while trials train.
Ratios are the one-worker layout over the two-worker one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixed_cost import CpuByRole  # noqa: E402
from report import report  # noqa: E402


def one_sweep(args, workers: int, storage: Path) -> dict:
    import ray
    from sweeps.runner import Axis, prepare_sweep, run_sweep, train_configs, trial_configs
    from sweeps.script import parse_values
    from sweeps.spec import add_shared_flags, resolve
    parser = argparse.ArgumentParser()
    add_shared_flags(parser, experiment="throughput")
    spec = resolve(parser.parse_args(["--preset", args.preset, "--tokens", str(args.tokens), "--workers", str(workers),
                                      "--storage", str(storage), "--eval-suite", args.eval_suite]))
    axes = [Axis("code_ratio", parse_values(args.ratios, "--ratios"), low=0.0, high=1.0)]
    configs = train_configs(trial_configs(spec, axes))
    data = prepare_sweep(spec, configs)
    marks = {}

    def tune_done(df, parent):
        marks["tune_done"] = time.perf_counter()
        return df

    cpus = ray.cluster_resources()["CPU"]
    with CpuByRole(interval=1.0) as cpu:
        marks["start"] = time.perf_counter()
        df, _, _ = run_sweep(spec, data, axes, after_trials=tune_done)
        marks["end"] = time.perf_counter()
    wall = marks["tune_done"] - marks["start"]
    threads = configs[0].cpu_threads
    training_core_s = float(df["train_s"].sum()) * workers * threads
    return {"workers_per_trial": workers, "trials": len(df), "tune_wall_s": wall,
            "summary_s": marks["end"] - marks["tune_done"],
            "training_share": training_core_s / (wall * cpus),
            "sweep_tokens_per_s": len(df) * configs[0].steps * configs[0].tokens_per_step / wall,
            "train_s_median": float(df["train_s"].median()),
            "cpu_s_by_role": {role: round(v["cpu_s"], 1) for role, v in cpu.table().items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="demo", help="the sweep's preset (default demo)")
    parser.add_argument("--ratios", default="0,0.25,0.5,0.75", help="the grid (default 0,0.25,0.5,0.75)")
    parser.add_argument("--tokens", type=int, default=500_000, help="tokens per trial (default 500000)")
    parser.add_argument("--eval-suite", default="paper", help="benchmarks at each trial's end (default paper)")
    args = parser.parse_args()

    import ray
    ray.init(num_cpus=2)  # with its dashboard, as `ray start` and a user's ray.init() have it
    figures = {}
    try:
        for workers in (2, 1):
            with tempfile.TemporaryDirectory() as tmp:
                figures[workers] = one_sweep(args, workers, Path(tmp))
            print(figures[workers], flush=True)
    finally:
        ray.shutdown()
    results = {f"{k}_{w}_workers": v for w, f in figures.items() for k, v in f.items() if not isinstance(v, dict)}
    for k in ("training_share", "sweep_tokens_per_s", "tune_wall_s"):
        results[f"{k}_ratio"] = figures[1][k] / figures[2][k]
    results["cpu_s_by_role"] = {w: f["cpu_s_by_role"] for w, f in figures.items()}
    report(results, "sweep_throughput")


if __name__ == "__main__":
    main()
