"""Code quality and properties (§3.4 of the study): synthetic code, and each kind of code alone.

    python sweeps/synthetic.py                             # synthetic share 0..0.5 at 25% code
    python sweeps/synthetic.py --shares 0,0.25 --ratios 0.25,0.5   # share x ratio
    python sweeps/synthetic.py --sources web_code,markup,code_adjacent,synthetic   # the ablations
    python sweeps/synthetic.py --search optuna --trials 16 # TPE over ratio and share (a share only with code)

Share sweep: the code budget's `synthetic_share` is verified synthetic Python, the rest the
`--code-mix`; the optimum is located over the share (per code ratio when several are given).
Ablation (`--sources`): at each code ratio the whole code budget is one family (web code,
markup-style, code-adjacent, or synthetic), compared as named variants against the first.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps.script import Axis, parse_names, parse_values, run_script  # noqa: E402
from sweeps.plan import CODE_SOURCES  # noqa: E402


def add_flags(parser):
    parser.add_argument("--shares", default="0,0.1,0.25,0.5",
                        help="comma list of synthetic shares of the code budget, in [0, 1] (default 0,0.1,0.25,0.5)")
    parser.add_argument("--ratios", default="0.25", help="comma list of code ratios (default 0.25, the study's best)")
    parser.add_argument("--sources", default="",
                        help=f"the ablation instead: comma list of {', '.join(CODE_SOURCES)}, each alone as the code")


def axes(args, spec):
    values = parse_values(args.ratios, "--ratios")
    # One ratio stays fixed under Optuna too; several are searched over [0, 1].
    ratios = Axis("code_ratio", values, low=0.0, high=1.0) if len(values) > 1 else Axis("code_ratio", values)
    if 0.0 in ratios.values and spec.search == "grid":
        raise ValueError("--ratios 0 trains no code, so no kind of code can be compared there: drop 0")
    if args.sources:
        if spec.search != "grid":
            raise ValueError("--sources are named variants: use --search grid")
        return [Axis("code_source", parse_names(args.sources, "--sources", CODE_SOURCES)), ratios]
    return [Axis("synthetic_share", parse_values(args.shares, "--shares"), low=0.0, high=1.0, only_if="code_ratio"),
            ratios]


def main(argv: list[str] | None = None) -> int:
    return run_script(__doc__, "codemix-synthetic", add_flags, axes, argv)


if __name__ == "__main__":
    sys.exit(main())
