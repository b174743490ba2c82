"""Benchmark: what a three-stage recipe trial pays outside training, stage by stage or in one run.

    python -m bench.perf.recipe_startup [--runs 2] [--tokens 100000]   # saves bench/results/recipe_startup.json

In one process and one local Ray instance: Balanced->Text with a code cooldown (init,
continue, cooldown; smoke size, 2 DDP workers) trained through `trainers.stages.run_recipe`
into fresh storage, either as one Ray Train run per stage (how a recipe trial ran before:
each stage a `fit_stages` call of its own) or as one run for the whole chain (how it runs
now). Both do the same training and the same end-of-stage evaluation, so the difference of
their wall times outside training is Ray's start-up and tear-down. The two alternate,
`--runs` times each; medians, per stage, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


from bench.report import report


def one_recipe(base, data, storage: Path, per_stage: bool) -> dict:
    from trainers.recipes import get_recipe
    from trainers.stages import read_record, run_recipe
    from trainers.train import fit_stages

    def train(cfgs, folders, name, tokens_before):
        if not per_stage:
            return fit_stages(cfgs, folders, name, str(storage / "train"), tokens_before=tokens_before)
        for i, (cfg, folder) in enumerate(zip(cfgs, folders, strict=True)):
            fit_stages([cfg], [folder], f"{name}-{i}", str(storage / "train"),
                       tokens_before=tokens_before + sum(c.step_tokens for c in cfgs[:i]))

    start = time.perf_counter()
    _, _, log = run_recipe(get_recipe("balanced_to_text", "code"), base, storage, train, data)
    wall = time.perf_counter() - start
    train_s = sum(read_record(storage / "stages" / s["key"])["metrics"]["train_s"] for s in log)
    return {"wall_s": wall, "train_s": train_s, "outside_training_per_stage_s": (wall - train_s) / len(log)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="recipes of each kind, alternating (default 2)")
    parser.add_argument("--tokens", type=int, default=100_000, help="the recipe's token budget (default 100000)")
    args = parser.parse_args()

    import ray
    from trainers.config import TrainConfig
    from trainers.data.prepare import prepare
    data = prepare(quiet=True)
    ray.init(num_cpus=2, include_dashboard=False)
    figures: dict[str, list[dict]] = {"per_stage": [], "one_run": []}
    try:
        for run in range(args.runs):
            for kind in figures:
                base = TrainConfig(code_ratio=0.0, model_size="smoke", tokens=args.tokens, seed=run,
                                   manifest=str(data.manifest), cpus_per_worker=0.9)
                with tempfile.TemporaryDirectory() as tmp:
                    figures[kind].append(one_recipe(base, data, Path(tmp), per_stage=kind == "per_stage"))
                print(kind, figures[kind][-1], flush=True)
    finally:
        ray.shutdown()
    med = {kind: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for kind, runs in figures.items()}
    results = {f"{kind}_{k}": v for kind, m in med.items() for k, v in m.items()}
    results["outside_training_per_stage_ratio"] = (med["one_run"]["outside_training_per_stage_s"]
                                                   / med["per_stage"]["outside_training_per_stage_s"])
    results["wall_ratio"] = med["one_run"]["wall_s"] / med["per_stage"]["wall_s"]
    results["runs"] = figures
    report(results, "recipe_startup")


if __name__ == "__main__":
    main()
