"""What every training sweep script does, once: flags, checks, dry run, data, sweep, summary.

    def axes(args, spec): return [Axis("code_ratio", parse_values(args.ratios, "--ratios"), low=0.0, high=1.0)]
    sys.exit(run_script(__doc__, "codemix-ratio", add_flags, axes, argv))

`add_flags(parser)` adds the script's own flags; `axes(args, spec)` turns them into the
sweep's axes (the first is where the optimum is located) or raises ValueError with one line;
`finish(args, spec, df, run_id)`, if given, adds to the parent run after the summary.
Every check, including each trial's config against the prepared data, runs before Ray starts,
and before Ray, Tune and MLflow are even imported (sweeps/plan.py): bad input costs about a second.
"""

from __future__ import annotations

import argparse
import json

from sweeps.plan import Axis, gpu_plans, plan_table, prepare_sweep, train_configs, trial_configs
from sweeps.spec import SweepSpec, add_shared_flags, resolve


def run_script(doc: str, experiment: str, add_flags, axes_of, argv: list[str] | None = None, finish=None) -> int:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_flags(parser, experiment=experiment)
    add_flags(parser)
    args = parser.parse_args(argv)
    try:
        spec = resolve(args)
        axes: list[Axis] = axes_of(args, spec)
        configs = trial_configs(spec, axes)
        data = prepare_sweep(spec, train_configs(configs), dry_run=spec.dry_run)  # the pre-flight, dry or not
        if spec.dry_run:
            if spec.search == "grid":
                for c in configs:
                    print(json.dumps({**c, "manifest": data.location}, sort_keys=True))
            else:
                print(json.dumps({a.name: [a.low, a.high] if a.low is not None else list(a.values) for a in axes}))
            if plans := gpu_plans(train_configs(configs)):
                print(plan_table(plans, len(configs) if spec.search == "grid" else spec.trials))
            print(f"{len(configs) if spec.search == 'grid' else spec.trials} trials ({spec.search}"
                  f"{' + ASHA' if spec.asha else ''}); every check a run makes passed; nothing was trained (--dry-run)")
            return 0
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    from sweeps.runner import print_summary, run_sweep  # Ray, Tune and MLflow: only once there is a sweep to run
    try:
        df, best, run_id = run_sweep(spec, data, axes)
    except ValueError as e:  # found once Ray is up (a cluster without a dashboard for --asha)
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    print_summary(df, best, axes[0].name, run_id, spec.tracking_uri)
    if finish is not None:
        finish(args, spec, df, run_id)
    return 0


def parse_values(text: str, flag: str, low: float = 0.0, high: float = 1.0) -> tuple[float, ...]:
    """'0,0.25,1' -> (0.0, 0.25, 1.0), each in [low, high]; one-line errors naming the flag."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{flag} {text!r} is empty; give a comma list such as 0,0.25,0.5")
    values = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise ValueError(f"{flag}: {p!r} is not a number") from None
        if not low <= v <= high:
            raise ValueError(f"{flag}: {p} is outside [{low:g}, {high:g}]")
        values.append(v)
    return tuple(sorted(set(values)))


def parse_names(text: str, flag: str, known, kind: str = "") -> tuple[str, ...]:
    """'a,b' -> ('a', 'b'), each one of `known` (`kind` names what they are in the error)."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ValueError(f"{flag} is empty; choose from {', '.join(known)}")
    for n in names:
        if n not in known:
            said = f"{n!r} is not one of {kind}" if kind else f"unknown {n!r}"
            raise ValueError(f"{flag}: {said}; choose from {', '.join(known)}")
    return names


__all__ = ["Axis", "SweepSpec", "parse_names", "parse_values", "run_script"]
