"""Recipe sweep (§3.1, §3.5, §3.6 of the study): when code enters, and whether a cooldown helps.

    python sweeps/recipe.py --preset smoke                      # the four recipes, no cooldown
    python sweeps/recipe.py --recipes balanced_to_text,code_to_text --cooldowns none,text,code

Each trial runs one recipe (trainers/recipes.py) as a chain of stages in one Ray Train run,
each stage starting from the previous stage's checkpoint. Stages are artefacts keyed by their
config (trainers/stages.py): Balanced→Text with a text cooldown and with a code cooldown share
their init and continue stages, which are trained once, by whichever trial asks first.
The total budget per trial is the preset's `--tokens`.

`--winrate-baseline NAME --judge URL_OR_FOLDER` then judges every variant against the
baseline variant of the same seed (sweeps/judged.py): `win_rate` on each child run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

# Import the checkout this script sits in (the uploaded --working-dir under `ray job submit`),
# not whichever copy of codemix happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps import store  # noqa: E402
from sweeps.judged import add_winrate_flags, judge_variants, resolve_winrate, summary_lines  # noqa: E402
from sweeps.plan import Axis, gpu_plans, plan_table, prepare_sweep, train_configs, trial_configs  # noqa: E402
from trainers.presets import get_preset  # noqa: E402
from sweeps.spec import add_shared_flags, resolve  # noqa: E402
from trainers.recipes import COOLDOWNS, RECIPES, get_recipe  # noqa: E402
from trainers.stages import stage_configs  # noqa: E402


def main(argv: list[str] | None = None, doc: str = __doc__, experiment: str = "codemix-recipe",
         recipes: str = ",".join(RECIPES), cooldowns: str = "none") -> int:
    """The recipe sweep; sweeps/init.py and sweeps/cooldown.py are this with their own defaults."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_flags(parser, experiment=experiment)
    parser.add_argument("--recipes", default=recipes, help=f"comma list of: {', '.join(RECIPES)} (default {recipes})")
    parser.add_argument("--cooldowns", default=cooldowns,
                        help=f"comma list of: {', '.join(COOLDOWNS)} (default {cooldowns})")
    add_winrate_flags(parser)
    args = parser.parse_args(argv)
    try:
        if args.search != "grid":
            raise ValueError("recipes are named variants: use --search grid")
        spec = resolve(args)
        if store.is_uri(spec.storage):
            raise ValueError(f"--storage {spec.storage}: a recipe sweep shares trained stages between trials in a "
                             "folder (with file locks): give a local or mounted folder (NFS, EFS)")
        recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
        cooldowns = [c.strip() for c in args.cooldowns.split(",") if c.strip()]
        if not recipes or not cooldowns:
            raise ValueError("--recipes and --cooldowns need at least one name each")
        variants = [f"{r}/{c}" for r, c in itertools.product(recipes, cooldowns)]
        stages = {v: get_recipe(*v.split("/")) for v in variants}
        judged = resolve_winrate(args, variants, get_preset(spec.preset).winrate_limit)
        axes = [Axis("variant", tuple(variants))]
        params = trial_configs(spec, axes)
        runs = [cfg for p, base in zip(params, train_configs(params), strict=True)
                for cfg in stage_configs(stages[p["variant"]], base)]  # every stage of every trial
        # The pre-flight, dry or not (a stage's init checkpoint is the stage before's, made by the run).
        data = prepare_sweep(spec, [replace(r, init_checkpoint="") for r in runs], dry_run=spec.dry_run)
        if spec.dry_run:
            for p in params:
                print(json.dumps({**p, "manifest": data.location, "stages": [s.name for s in stages[p["variant"]]]},
                                 sort_keys=True))
            if plans := gpu_plans(runs):
                print(plan_table(plans, len(runs)))
            print(f"{len(params)} trials, {len(runs)} stages before reuse; every check a run makes passed; "
                  "nothing was trained (--dry-run)")
            return 0
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    from sweeps.runner import print_summary, run_sweep  # Ray, Tune and MLflow: only once there is a sweep to run
    from sweeps.trial import run_recipe_trial
    after = (lambda df, parent: judge_variants(df, "variant", judged, parent)) if judged else None
    df, best, run_id = run_sweep(spec, data, axes, trainable=run_recipe_trial, after_trials=after)
    print_summary(df, best, "variant", run_id, spec.tracking_uri)
    if judged:
        print("\n".join(summary_lines(df, "variant", judged)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
