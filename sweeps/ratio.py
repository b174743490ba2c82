"""Code-ratio sweep (§3.3 of the study): pre-train from scratch at each share of code.

    python sweeps/ratio.py                                 # demo preset, the paper's six ratios
    python sweeps/ratio.py --preset smoke --ratios 0,0.5,1
    python sweeps/ratio.py --seeds 3                       # the same three seeds at every ratio
    python sweeps/ratio.py --search optuna --trials 12     # TPE over code_ratio in [0, 1]
    python sweeps/ratio.py --search optuna --asha --trials 24   # ... stopping weak trials early
    ray job submit --working-dir . -- python sweeps/ratio.py --preset smoke

Each trial is a Ray Train job (the preset's workers; `--workers 2` for DDP) whose mixture holds `code_ratio`
of its tokens as code; it reports validation bits-per-byte on held-out text and code and
the study's benchmark categories. MLflow gets a parent run for the sweep with the results
table, the plots and the best ratio with its 95% interval (a Gaussian-process fit over the
ratios, bootstrapped over trials; sweeps/optimum.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import the checkout this script sits in (the uploaded --working-dir under `ray job submit`),
# not whichever copy of codemix happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.presets import PAPER_RATIOS  # noqa: E402
from sweeps.script import Axis, parse_values, run_script  # noqa: E402


def add_flags(parser):
    parser.add_argument("--ratios", default=",".join(map(str, PAPER_RATIOS)),
                        help="comma list of code ratios in [0, 1] for the grid (default: the paper's 0,0.25,0.5,0.75,0.9,1)")


def axes(args, spec):
    return [Axis("code_ratio", parse_values(args.ratios, "--ratios"), low=0.0, high=1.0)]


def main(argv: list[str] | None = None) -> int:
    return run_script(__doc__, "codemix-ratio", add_flags, axes, argv)


if __name__ == "__main__":
    sys.exit(main())
