"""Benchmark: how much of a sweep's time the cores spend training, by how trials share them.

    python -m bench.perf.sweep_throughput [--preset demo] [--layouts 2x0.9,1x0.9,1x0.55]
    # saves bench/results/sweep_throughput.json

The demo grid (the six code ratios of the study, one seed, the preset's tokens and
evaluation) runs through `sweeps.runner.run_sweep` in this process on one local Ray
instance, once per layout, back to back, each into fresh storage. A layout `WxC` is W Train
workers per trial at C CPUs each; Ray Tune runs as many trials at once as the CPUs hold:
- 2x0.9: two DDP workers, one trial at a time (the demo preset until this benchmark);
- 1x0.9: one worker a trial, two trials at once on 2 cores;
- 1x0.55: one worker a trial, three at once: one trial's start-up and evaluation beside
  the others' training, the cores shared by the OS.
Per layout, over the Tune phase (first trial launched to last trial done; the summary's fits
after it are timed apart):
- training share: the CPU seconds the training loops took (each worker's `train_cpu_s`, its
  process time: a core shared by two trials counts once) over wall time x the cluster's CPUs;
- busy share: every process's CPU seconds over the same: what is left idles;
- trials per hour and sweep tokens/s;
- CPU seconds by process role (the driver, Tune's and Train's helper actors, the workers)
  over the Tune phase only, per trial;
- per trial (medians): Ray Train start-up, training loop, end-of-trial evaluation.
Ratios are each layout over the first.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path


from bench.perf.fixed_cost import CpuByRole
from bench.report import report


def one_sweep(args, layout: str, storage: Path, cpu: CpuByRole) -> dict:
    import ray
    from sweeps.plan import Axis, prepare_sweep, train_configs, trial_configs
    from sweeps.plan import DRIVER_CPU
    from sweeps.runner import run_sweep
    from sweeps.script import parse_values
    from sweeps.spec import add_shared_flags, resolve
    workers, cpus = layout.split("x")
    parser = argparse.ArgumentParser()
    add_shared_flags(parser, experiment="throughput")
    flags = ["--preset", args.preset, "--storage", str(storage), "--eval-suite", args.eval_suite]
    spec = resolve(parser.parse_args(flags + (["--tokens", str(args.tokens)] if args.tokens else [])))
    spec = dataclasses.replace(spec, base=dataclasses.replace(spec.base, num_workers=int(workers),
                                                              cpus_per_worker=float(cpus)))
    axes = [Axis("code_ratio", parse_values(args.ratios, "--ratios"), low=0.0, high=1.0)]
    configs = train_configs(trial_configs(spec, axes))
    data = prepare_sweep(spec, configs)
    marks = {}

    def tune_done(df, parent):
        marks["tune_done"] = time.perf_counter()
        marks["cpu"] = cpu.snapshot()
        return df

    before = cpu.snapshot()
    marks["start"] = time.perf_counter()
    df, _, _ = run_sweep(spec, data, axes, after_trials=tune_done)
    marks["end"] = time.perf_counter()
    wall = marks["tune_done"] - marks["start"]
    cpus_total = ray.cluster_resources()["CPU"]
    phase = {pid: (role, c - before.get(pid, (role, 0.0))[1]) for pid, (role, c) in marks["cpu"].items()}
    by_role = cpu.table(phase)
    trials = len(df)
    training_cpu_s = float(df["train_cpu_s"].sum()) * int(workers)  # rank 0's, times the ranks
    at_once = int(cpus_total // (int(workers) * float(cpus) + DRIVER_CPU))  # as runner._concurrency counts
    return {"layout": layout, "trials": trials, "trials_at_once": at_once,
            "tune_wall_s": wall, "summary_s": marks["end"] - marks["tune_done"],
            "training_share": training_cpu_s / (wall * cpus_total),
            "busy_share": sum(v["cpu_s"] for v in by_role.values()) / (wall * cpus_total),
            "trials_per_hour": trials / wall * 3600,
            "sweep_tokens_per_s": trials * configs[0].steps * configs[0].tokens_per_step / wall,
            "startup_s_median": float(df["startup_s"].median()),
            "train_s_median": float(df["train_s"].median()),
            "eval_s_median": float(df["eval_s"].median()) if "eval_s" in df else 0.0,
            "cpu_s_per_trial_by_role": {role: round(v["cpu_s"] / trials, 1) for role, v in by_role.items()}}


def main() -> None:
    from trainers.presets import PAPER_RATIOS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="demo", help="the sweep's preset (default demo)")
    parser.add_argument("--ratios", default=",".join(map(str, PAPER_RATIOS)), help="the grid (default the study's six)")
    parser.add_argument("--tokens", type=int, default=0, help="tokens per trial (default: the preset's)")
    parser.add_argument("--eval-suite", default="paper", help="benchmarks at each trial's end (default paper)")
    parser.add_argument("--layouts", default="2x0.9,1x0.9,1x0.55",
                        help="WxC: W workers per trial at C CPUs each (default 2x0.9,1x0.9,1x0.55)")
    args = parser.parse_args()

    import ray
    ray.init(num_cpus=2)  # with its dashboard, as `ray start` and a user's ray.init() have it
    layouts = args.layouts.split(",")
    figures = {}
    try:
        with CpuByRole(interval=1.0) as cpu:
            for layout in layouts:
                with tempfile.TemporaryDirectory() as tmp:
                    figures[layout] = one_sweep(args, layout, Path(tmp), cpu)
                print(figures[layout], flush=True)
    finally:
        ray.shutdown()
    results = {f"{k}_{w}": v for w, f in figures.items() for k, v in f.items() if not isinstance(v, (dict, str))}
    for layout in layouts[1:]:
        for k in ("training_share", "busy_share", "trials_per_hour", "sweep_tokens_per_s", "tune_wall_s"):
            results[f"{k}_ratio_{layout}_vs_{layouts[0]}"] = figures[layout][k] / figures[layouts[0]][k]
    results["cpu_s_per_trial_by_role"] = {w: f["cpu_s_per_trial_by_role"] for w, f in figures.items()}
    report(results, "sweep_throughput")


if __name__ == "__main__":
    main()
