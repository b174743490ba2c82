"""Code-ratio sweep (§3.3 of the study): pre-train from scratch at each share of code.

    python sweeps/ratio.py                                 # demo preset, the paper's six ratios
    python sweeps/ratio.py --preset smoke --ratios 0,0.5,1
    python sweeps/ratio.py --search optuna --trials 12     # TPE over code_ratio in [0, 1]
    ray job submit --working-dir . -- python sweeps/ratio.py --preset smoke

Each trial is a Ray Train job (2 DDP workers by default) whose mixture holds `code_ratio`
of its tokens as code; it reports validation bits-per-byte on held-out text and code.
MLflow gets a parent run for the sweep with the results table, the plots and the best ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Import the checkout this script sits in (the uploaded --working-dir under `ray job submit`),
# not whichever copy of codemix happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps.presets import PAPER_RATIOS  # noqa: E402
from sweeps.runner import prepare_sweep, print_summary, run_sweep, train_configs, trial_configs  # noqa: E402
from sweeps.spec import add_shared_flags, parse_ratios, resolve  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_flags(parser, experiment="codemix-ratio")
    parser.add_argument("--ratios", default=",".join(map(str, PAPER_RATIOS)),
                        help="comma list of code ratios in [0, 1] for the grid (default: the paper's 0,0.25,0.5,0.75,0.9,1)")
    args = parser.parse_args(argv)
    try:
        spec = resolve(args)
        ratios = parse_ratios(args.ratios)
        configs = trial_configs(spec, "code_ratio", ratios)
        if spec.dry_run:
            for c in configs:
                print(json.dumps(c, sort_keys=True))
            print(f"{len(configs)} trials ({spec.search}); nothing was trained (--dry-run)")
            return 0
        data = prepare_sweep(spec, train_configs(configs))
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    df, best, run_id = run_sweep(spec, data, "code_ratio", ratios, low=0.0, high=1.0)
    print_summary(df, best, "code_ratio", run_id, spec.tracking_uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
