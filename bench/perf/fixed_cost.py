"""Benchmark: where a trial's fixed cost goes, and what codemix's settings cut from it.

    python -m bench.perf.fixed_cost [--runs 3] [--trials 3]   # saves bench/results/fixed_cost.json

In one process and one local Ray instance on this machine:
1. One Train job (`trainers.train.fit`, smoke size, 2 DDP workers): launch -> worker
   function -> first optimizer step, and the whole call outside its training loop. `--runs`
   jobs with codemix's Ray settings (trainers/ray_settings.py: the controller polls its
   workers every 0.25 s; no preemption watcher on a one-node cluster) interleaved with as
   many on Ray's defaults (2 s; watcher on); medians and their ratio. As a floor, as many
   Ray Train jobs whose worker function returns at once (codemix's settings, same workers):
   what Ray's start-up alone costs here.
2. Where the time goes: CPU seconds each process spent during one job (the Train
   controller, the workers, Ray's helper actors, the raylet), grouped by role. On 2 cores,
   every process a job starts competes with the workers' own start-up.
3. A sweep (`sweeps.runner.run_sweep`, smoke preset, `--trials` code ratios): wall time
   per trial outside training, with Tune reusing trial actors (codemix's setting) against a
   fresh actor per trial, each run twice in alternation; medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path


from bench.report import report
from trainers.ray_settings import POLL_VAR, PREEMPTION_VAR

# Ray's own defaults, set explicitly for the baseline runs (codemix leaves a user's setting alone).
RAY_DEFAULTS = {POLL_VAR: "2", PREEMPTION_VAR: "1"}


def timed_fit(cfg, storage: str, name: str, ray_defaults: bool) -> dict:
    """One Train job, with codemix's Ray settings (trainers/ray_settings.py) or Ray's defaults."""
    from trainers.train import fit
    for var, value in RAY_DEFAULTS.items():
        if ray_defaults:
            os.environ[var] = value
        else:
            os.environ.pop(var, None)
    start = time.perf_counter()
    m, _ = fit(cfg, name, storage)
    wall = time.perf_counter() - start
    for var in RAY_DEFAULTS:
        os.environ.pop(var, None)
    return {"launch_to_worker_s": m["startup_s"], "worker_to_first_step_s": m["first_step_s"],
            "launch_to_first_step_s": m["startup_s"] + m["first_step_s"],
            "fit_outside_training_s": wall - m["train_s"], "fit_wall_s": wall}


def _return_at_once(config: dict) -> dict:
    return {"started": time.time()}


def floor_fit(cfg, storage: str, name: str) -> dict:
    """Ray Train's own start-up and tear-down: the same workers, a function that does nothing."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from trainers.ray_settings import apply
    apply(cfg)
    start = time.time()
    result = TorchTrainer(_return_at_once,
                          scaling_config=ScalingConfig(num_workers=cfg.num_workers,
                                                       resources_per_worker={"CPU": cfg.cpus_per_worker}),
                          run_config=RunConfig(name=name, storage_path=storage)).fit()
    return {"launch_to_worker_s": result.return_value["started"] - start, "fit_wall_s": time.time() - start}


class CpuByRole:
    """Samples every process's CPU time while a job runs; Ray names its workers `ray::Actor.method`."""

    def __init__(self, interval: float = 0.1):
        import psutil  # ships with ray[default]
        self.psutil, self.interval = psutil, interval
        self.start_cpu = {p.pid: self._cpu(p) for p in psutil.process_iter()}
        self.last: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cpu(p) -> float:
        try:
            t = p.cpu_times()
            return t.user + t.system
        except Exception:  # gone or not ours
            return 0.0

    def _role(self, p) -> str:
        if p.pid == os.getpid():
            return "driver (this process)"
        try:
            cmd = p.cmdline()
        except Exception:
            return ""
        if not cmd:  # a process renaming itself (or a kernel thread): look again next sample
            return ""
        if cmd[0].startswith("ray::"):
            name = cmd[0][5:].split(".")[0].strip()
            return "idle pool worker" if name == "IDLE" else name
        return p.name()

    def _run(self) -> None:
        while not self.stop.is_set():
            for p in self.psutil.process_iter():
                role = self._role(p)
                cpu = self._cpu(p) - self.start_cpu.get(p.pid, 0.0)
                if p.pid == os.getpid():  # the driver's own, not this sampler thread's
                    cpu -= time.thread_time()
                if role and cpu > 0:
                    # a worker that became an actor keeps the actor's name
                    prev = self.last.get(p.pid, ("idle pool worker", 0.0))[0]
                    self.last[p.pid] = (prev if role == "idle pool worker" else role, cpu)
            self.stop.wait(self.interval)

    def snapshot(self) -> dict:
        """Every process's role and CPU seconds so far (at most one interval old); for `table`."""
        return dict(self.last)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def table(self, last: dict | None = None) -> dict[str, dict]:
        """CPU seconds by role since the start (or in a `snapshot()` taken earlier)."""
        out: dict[str, dict] = defaultdict(lambda: {"processes": 0, "cpu_s": 0.0})
        for role, cpu in (self.last if last is None else last).values():
            if cpu >= 0.1:
                out[role]["processes"] += 1
                out[role]["cpu_s"] += cpu
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["cpu_s"]))


def sweep_overhead(storage: Path, name: str, trials: int, reuse: bool) -> float:
    """Wall time per trial of a smoke ratio sweep, minus each trial's training loop."""
    import sweeps.runner as runner
    from sweeps.plan import Axis, prepare_sweep, train_configs, trial_configs
    from sweeps.spec import add_shared_flags, resolve

    parser = argparse.ArgumentParser()
    add_shared_flags(parser, experiment=name)
    spec = resolve(parser.parse_args(["--preset", "smoke", "--storage", str(storage), "--experiment", name]))
    ratios = [round(i / max(1, trials - 1), 3) for i in range(trials)]
    axes = [Axis("code_ratio", tuple(ratios), low=0.0, high=1.0)]
    data = prepare_sweep(spec, train_configs(trial_configs(spec, axes)))
    start = time.perf_counter()
    df, _, _ = runner.run_sweep(spec, data, axes, reuse_actors=reuse)
    wall = time.perf_counter() - start
    if len(df) != trials:
        raise RuntimeError(f"{name}: {len(df)} of {trials} trials finished")
    return (wall - df["train_s"].sum()) / trials


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="Train jobs per setting (part 1)")
    p.add_argument("--trials", type=int, default=3, help="trials per sweep (part 3)")
    args = p.parse_args()
    import ray
    from trainers.config import TrainConfig
    from trainers.data.prepare import prepare

    smoke = TrainConfig(code_ratio=0.25, model_size="smoke", tokens=16 * 128 * 10, seed=0,
                        manifest=str(prepare(quiet=True).manifest), cpus_per_worker=0.9, log_every=5,
                        eval_tokens=1024)
    results: dict = {"machine_cpus": os.cpu_count(), "workers": smoke.num_workers}
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        timed_fit(smoke, tmp, "warm-up", False)  # first job also starts Ray's autoscaling helper
        runs = {"codemix": [], "ray_default": [], "empty_worker_fn": []}
        for i in range(args.runs):
            runs["ray_default"].append(timed_fit(smoke, tmp, f"default-{i}", True))
            runs["codemix"].append(timed_fit(smoke, tmp, f"codemix-{i}", False))
            runs["empty_worker_fn"].append(floor_fit(smoke, tmp, f"floor-{i}"))
        for setting, rows in runs.items():
            for key in rows[0]:
                results[f"{setting}_median_{key}"] = statistics.median(r[key] for r in rows)
        for key in ("launch_to_first_step_s", "fit_wall_s"):
            results[f"codemix_over_default_{key}"] = results[f"codemix_median_{key}"] / results[f"ray_default_median_{key}"]
        results["fit_runs"] = runs

        with CpuByRole() as cpu:
            results["profiled_fit"] = timed_fit(smoke, tmp, "profiled", False)
        results["cpu_by_role"] = cpu.table()
        results["cpu_total_s"] = sum(r["cpu_s"] for r in results["cpu_by_role"].values())
        print(f"\nCPU seconds per role during one fit ({results['profiled_fit']['fit_wall_s']:.1f} s wall, "
              f"{os.cpu_count()} cores):")
        for role, r in results["cpu_by_role"].items():
            print(f"  {role:<36} {r['processes']:>2} process(es) {r['cpu_s']:6.2f} s")

        sweeps = {"reuse": [], "fresh": []}
        for i in range(2):
            for setting in ("fresh", "reuse"):
                sweeps[setting].append(sweep_overhead(Path(tmp) / "sweeps", f"bench-{setting}-{i}",
                                                      args.trials, setting == "reuse"))
        for setting, values in sweeps.items():
            results[f"sweep_{setting}_actors_overhead_per_trial_s"] = statistics.median(values)
        results["sweep_reuse_over_fresh"] = (results["sweep_reuse_actors_overhead_per_trial_s"]
                                             / results["sweep_fresh_actors_overhead_per_trial_s"])
        results["sweep_runs"] = sweeps
    ray.shutdown()
    report(results, "fixed_cost")


if __name__ == "__main__":
    main()
