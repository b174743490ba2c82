"""A sweep whose answer is known: the real machinery on a planted optimum.

    python -m sweeps.planted --optimum 0.3                          # a grid at 0.05 over [0, 1]
    python -m sweeps.planted --optimum 0.3 --search optuna --asha --trials 24 --noise 0.01
    python -m sweeps.planted --optimum-mixture text:0.5,web_code:0.3,markup:0.2 --trials 48
    python -m sweeps.planted --optimum-mixture text:0.5,web_code:0.3,markup:0.2 --search optuna --asha --trials 48

Ray Tune, Optuna, ASHA, the optimum's fit and interval and MLflow all run as in a real sweep;
only the trial is a known curve over the code ratio instead of a Train job. Like a training
run it reports a loss-like metric every step: `planted_loss = 3 + curvature * (r - optimum)^2
+ decay / sqrt(step)`, plus a noise that is fixed per trial (as a seed's offset is: `--noise`,
a standard deviation) and a quarter of it redrawn per report (as evaluation noise is). The
decay is the same for every ratio, so trials compared at the same step rank as they will at
the end, which is what ASHA assumes.

The last line printed is one JSON object: `optimum`, `low`, `high` (the located optimum and
its 95% interval), `budget` (steps trained over all trials), `grid_budget` (what a grid at
`--resolution` with the same seeds would train), `planted`, `error` (|optimum - planted|).

With `--optimum-mixture` the answer is a mixture over every part named (sweeps/simplex.py):
the trials are a Dirichlet swarm around the even mixture (or, with `--search optuna`,
Optuna's choices over the simplex, `--asha` as for a real search), each reporting `planted_loss =
3 + sum_i w_i (share_i + 0.02)^-0.5 + decay / sqrt(step)` (a power law per part, the form
the mixing-law papers fit), with `w_i` set so that its minimum on the simplex is the planted
mixture; the mixture laws are fitted, scored and searched (sweeps/mixture_law.py) as after a
real mixture search. The last line: `mixture`, `low`, `high` (per part), `law`, `budget`,
`planted` and `l1` (the L1 distance from proposal to planted mixture).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from ray import tune

from sweeps.spec import DEFAULT_STORAGE, SweepSpec
from sweeps.metrics import FINAL

METRIC = "planted_loss"


BETA, FLOOR = 0.5, 0.02  # the planted mixing law: sum_i w_i (share_i + FLOOR)^-BETA


def planted_mixture_loss(shares: np.ndarray, optimum: np.ndarray) -> np.ndarray:
    """The planted mixing law, whose minimum over the simplex is `optimum` (Lagrange: each
    part's marginal loss equal, (x_i + FLOOR) proportional to w_i^(1/(1+BETA)))."""
    w = (np.asarray(optimum) + FLOOR) ** (BETA + 1)
    return 3.0 + (w * (np.asarray(shares) + FLOOR) ** -BETA).sum(-1)


def planted_mixture_trial(point: dict, base: dict) -> None:
    config = {**base, **point}
    from sweeps.simplex import parse_label
    named = parse_label(config["mixture"])  # Optuna's mixtures are named as they are chosen
    shares = np.array(config["mixtures"].get(config["mixture"]) or [named.get(p, 0.0) for p in config["parts"]])
    rng = np.random.default_rng([config["seed"], *(int(round(s * 1e9)) for s in shares)])
    offset = rng.normal(0.0, config["noise"])
    level = float(planted_mixture_loss(shares, np.array(config["optimum_mixture"])))
    for step in range(1, config["steps"] + 1):
        value = level + config["decay"] / np.sqrt(step) + offset + rng.normal(0.0, config["noise"] / 4)
        tune.report({"step": step, METRIC: float(value), **({FINAL: True} if step == config["steps"] else {})})


def planted_trial(point: dict, base: dict) -> None:
    config = {**base, **point}
    r, steps = config["code_ratio"], config["steps"]
    rng = np.random.default_rng([config["seed"], int(round(r * 1e9))])
    offset = rng.normal(0.0, config["noise"])  # this trial's seed offset
    for step in range(1, steps + 1):
        if config["step_s"]:
            time.sleep(config["step_s"])
        value = (3.0 + config["curvature"] * (r - config["optimum"]) ** 2 + config["decay"] / np.sqrt(step)
                 + offset + rng.normal(0.0, config["noise"] / 4))
        tune.report({"step": step, METRIC: float(value), **({FINAL: True} if step == steps else {})})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweeps.planted", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--optimum", type=float, help="the planted best code ratio, in [0, 1]")
    p.add_argument("--optimum-mixture", metavar="PART:SHARE,...",
                   help="instead: the planted best mixture over these parts (shares adding up to 1); the search is "
                        "a Dirichlet swarm of --trials mixtures and the answer a fitted mixture law's optimum")
    p.add_argument("--concentration", type=float, default=0.0,
                   help="the swarm's Dirichlet concentration around the even mixture (default: the number of parts)")
    p.add_argument("--region", choices=("support", "bounds"), default="support",
                   help="where the fitted law's optimum is searched: the trials' range of each share (default) or "
                        "the whole simplex")
    p.add_argument("--noise", type=float, default=0.01, help="standard deviation of a trial's offset (default 0.01)")
    p.add_argument("--curvature", type=float, default=1.0, help="depth of the bowl around the optimum (default 1)")
    p.add_argument("--search", choices=("grid", "dirichlet", "optuna"), default="grid",
                   help="grid (--optimum; for --optimum-mixture the same as dirichlet: a swarm) or optuna")
    p.add_argument("--asha", action="store_true", help="stop weak Optuna trials early (Tune's ASHA)")
    p.add_argument("--trials", type=int, default=16, help="Optuna trials (default 16)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per grid point; Optuna takes them in turn (default 1)")
    p.add_argument("--resolution", type=float, default=0.05, help="the grid's spacing (default 0.05)")
    p.add_argument("--steps", type=int, default=27, help="steps a full trial reports (default 27)")
    p.add_argument("--step-seconds", type=float, default=0.0, help="sleep per step, to pace trials like training")
    p.add_argument("--concurrency", type=int, default=1, help="trials at once (default 1, as on a 2-core laptop)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help="folder for Tune results and the sqlite MLflow store")
    p.add_argument("--experiment", default="codemix-planted", help="MLflow experiment (default codemix-planted)")
    p.add_argument("--seed", type=int, default=0, help="Optuna's sampler seed and the first trial seed")
    return p


def check(args: argparse.Namespace) -> None:
    if args.search == "dirichlet":
        if args.optimum_mixture is None:
            raise ValueError("--search dirichlet draws mixtures: it goes with --optimum-mixture")
        args.search = "grid"
    if (args.optimum is None) == (args.optimum_mixture is None):
        raise ValueError("give --optimum (a code ratio) or --optimum-mixture (PART:SHARE,...), one of them")
    if args.optimum_mixture is not None:
        parts = len(_planted_mixture(args))
        if args.asha and args.search != "optuna":
            raise ValueError("--asha stops trials early, which a swarm cannot use: add --search optuna")
        from sweeps.mixture_law import min_trials
        if args.trials < min_trials(parts):
            raise ValueError(f"--trials {args.trials} is too few to fit mixture laws over {parts} parts "
                             f"(at least {min_trials(parts)})")
        return
    if not 0.0 <= args.optimum <= 1.0:
        raise ValueError(f"--optimum {args.optimum} is outside [0, 1]")
    if args.noise < 0 or args.steps < 1 or args.seeds < 1 or not 0 < args.resolution <= 0.5:
        raise ValueError("--noise must be >= 0, --steps and --seeds >= 1, --resolution in (0, 0.5]")
    if args.asha and args.search != "optuna":
        raise ValueError("--asha stops trials early, which a grid cannot use: add --search optuna")
    if args.search == "optuna" and args.trials < max(3, args.seeds):
        raise ValueError(f"--trials {args.trials} is too few: at least 3 and at least --seeds ({args.seeds})")


def _planted_mixture(args) -> dict[str, float]:
    from sweeps.simplex import parse_parts
    from trainers.data.mixture import parse_shares
    shares = parse_shares(args.optimum_mixture, "--optimum-mixture", "PART:SHARE")
    parse_parts(",".join(shares))
    if any(not 0 <= s <= 1 for s in shares.values()) or abs(sum(shares.values()) - 1) > 1e-6:
        raise ValueError(f"--optimum-mixture shares must be in [0, 1] and add up to 1 ({args.optimum_mixture})")
    return shares


def run_mixture(args: argparse.Namespace) -> dict:
    """A planted mixture search: swarm, Tune, MLflow, then the laws on the parent run."""
    from sweeps.mixture_summary import log_mixture_summary, summarise_mixtures
    from sweeps.plan import Axis, SimplexAxis
    from sweeps.runner import run_sweep
    from sweeps.simplex import dirichlet_swarm, label, parse_label
    planted = _planted_mixture(args)
    parts = tuple(planted)
    bounds = np.array([[0.0, 1.0]] * len(parts))
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    even = label(dict(zip(parts, np.full(len(parts), 1 / len(parts)), strict=True)))
    mixtures = {}
    if args.search == "optuna":
        axis = SimplexAxis("mixture", (even,), parts=parts, bounds=tuple(map(tuple, bounds.tolist())))
    else:
        swarm = dirichlet_swarm(np.full(len(parts), 1 / len(parts)), args.trials // len(seeds), bounds,
                                args.concentration or float(len(parts)), args.seed)
        for point in swarm:
            mixtures.setdefault(label(dict(zip(parts, point, strict=True))), point.tolist())
        axis = Axis("mixture", tuple(mixtures))
    storage = Path(args.storage).expanduser().resolve()
    storage.mkdir(parents=True, exist_ok=True)
    spec = SweepSpec(experiment=args.experiment, preset="planted", seeds=seeds, search=args.search,
                     trials=args.trials, asha=args.asha, storage=storage,
                     tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{storage / 'mlflow.db'}",
                     resume=False, dry_run=False, metric=METRIC, mode="min")
    base = {"optimum_mixture": [planted[p] for p in parts], "mixtures": mixtures, "parts": list(parts),
            "noise": args.noise, "decay": 1.0, "steps": args.steps, "mixture": axis.values[0], "seed": seeds[0]}
    trials = args.trials if args.search == "optuna" else len(mixtures) * len(seeds)
    params = {"planted_mixture": args.optimum_mixture, "parts": ",".join(parts), "noise": args.noise,
              "steps": args.steps, "seeds": args.seeds, "search": "dirichlet" if args.search == "grid" else "optuna",
              "asha": args.asha, "trials": trials, "concentration": args.concentration or float(len(parts)),
              "metric": METRIC, "axis": "mixture"}
    df, _, run_id = run_sweep(spec, None, [axis], trainable=planted_mixture_trial,
                              base=base, params=params, concurrency=args.concurrency)
    shares = {m: mixtures.get(m) or [parse_label(m).get(p, 0.0) for p in parts] for m in df["mixture"].unique()}
    answer = summarise_mixtures(df, parts, shares, METRIC, "min", bounds, seed=args.seed, region=args.region)
    log_mixture_summary(answer, parts, run_id, spec.tracking_uri)
    import mlflow
    budget = mlflow.MlflowClient(spec.tracking_uri).get_run(run_id).data.metrics["budget_steps"]
    l1 = sum(abs(answer["mixture"][p] - planted[p]) for p in parts)
    return {"mixture": answer["mixture"], "low": answer["low"], "high": answer["high"], "law": answer["law"],
            "law_spearman": answer["scores"][answer["law"]]["spearman"], "budget": int(budget), "planted": planted,
            "region": args.region, "l1": l1, "finished_trials": len(df), "fitted_at_step": answer["at_step"],
            "parent_run_id": run_id,
            "sentence": f"proposed {', '.join(f'{p} {s:.2f}' for p, s in answer['mixture'].items())} "
                        f"({answer['law']} law; L1 {l1:.3f} from the planted mixture)"}


def run(args: argparse.Namespace) -> dict:
    """Run one planted sweep; return what the last line prints."""
    if args.optimum_mixture is not None:
        return run_mixture(args)
    from sweeps.plan import Axis
    from sweeps.runner import run_sweep  # Ray and MLflow load after the arguments are checked
    storage = Path(args.storage).expanduser().resolve()
    storage.mkdir(parents=True, exist_ok=True)
    grid = tuple(float(v) for v in np.round(np.linspace(0, 1, int(round(1 / args.resolution)) + 1), 6))
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    spec = SweepSpec(experiment=args.experiment, preset="planted", seeds=seeds,
                     search=args.search, trials=args.trials, asha=args.asha, storage=storage,
                     tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{storage / 'mlflow.db'}",
                     resume=False, dry_run=False, metric=METRIC, mode="min")
    base = {"optimum": args.optimum, "noise": args.noise, "curvature": args.curvature, "decay": 1.0,
            "steps": args.steps, "step_s": args.step_seconds, "code_ratio": grid[0], "seed": seeds[0]}
    params = {"planted_optimum": args.optimum, "noise": args.noise, "curvature": args.curvature,
              "steps": args.steps, "resolution": args.resolution, "seeds": args.seeds, "search": args.search,
              "asha": args.asha, "trials": args.trials if args.search == "optuna" else len(grid) * len(seeds),
              "metric": METRIC, "axis": "code_ratio"}
    df, best, run_id = run_sweep(spec, None, [Axis("code_ratio", grid, low=0.0, high=1.0)], trainable=planted_trial,
                                 base=base, params=params, concurrency=args.concurrency)
    b = best[METRIC]
    import mlflow
    budget = mlflow.MlflowClient(spec.tracking_uri).get_run(run_id).data.metrics["budget_steps"]
    return {"optimum": b["best"], "low": b["low"], "high": b["high"], "budget": int(budget),
            "grid_budget": len(grid) * len(seeds) * args.steps, "planted": args.optimum,
            "error": abs(b["best"] - args.optimum), "interior": b.get("interior"), "finished_trials": len(df),
            "sentence": b["sentence"], "parent_run_id": run_id}


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        check(args)
    except ValueError as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    result = run(args)
    print(result.pop("sentence"), file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
