"""Code ratio x model size (§3.2 of the study): do the trends hold, and does the trade-off grow?

    python sweeps/size.py                                  # demo preset: 1m and 4m, the six ratios
    python sweeps/size.py --preset smoke --sizes smoke,1m --ratios 0,0.5,1
    python sweeps/size.py --preset paper-470m --sizes 470m,2.8b     # the study's two sizes

Every ratio is trained at every size with the preset's budget and seeds; the optimum's code
ratio and its interval are located per size (MLflow: `best_code_ratio_<metric>/model_size_<s>`),
one plot panel per metric and size. Whether the smaller size ranks the ratios as the larger
one does is on the parent too (sweeps/mixture_checks.py, as a mixture search's
`--transfer-size`): for each size and the next, `transfer_decision_accuracy/<a>_to_<b>`
(pairs of ratios ordered alike, pairs within twice the seed noise counted as ties),
`transfer_spearman/<a>_to_<b>`, their 95% bootstrap intervals, and a plot.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.presets import PAPER_RATIOS  # noqa: E402
from sweeps.script import Axis, parse_names, parse_values, run_script  # noqa: E402
from trainers.sizes import SIZES, get_size  # noqa: E402


def add_flags(parser):
    parser.add_argument("--ratios", default=",".join(map(str, PAPER_RATIOS)),
                        help="comma list of code ratios in [0, 1] (default: the paper's six)")
    parser.add_argument("--sizes", default="",
                        help=f"comma list of model sizes: {', '.join(SIZES)} (default: the preset's size and the "
                             "next one up)")


def axes(args, spec):
    ladder = list(SIZES)
    own = spec.base.model_size
    sizes = parse_names(args.sizes or ",".join(ladder[ladder.index(own):ladder.index(own) + 2]), "--sizes", SIZES)
    if len({get_size(s).vocab_size for s in sizes}) > 1:
        raise ValueError(f"--sizes {','.join(sizes)} need different tokenizers (vocabularies "
                         f"{', '.join(str(get_size(s).vocab_size) for s in sizes)}): sweep them separately")
    return [Axis("code_ratio", parse_values(args.ratios, "--ratios"), low=0.0, high=1.0),
            Axis("model_size", sizes)]


def finish(args, spec, df, run_id) -> None:
    from sweeps.mixture_checks import ranking_across_sizes
    for sentence in ranking_across_sizes(df, "code_ratio", spec.metric, run_id, spec.tracking_uri, spec.seeds[0]):
        print(f"Ranking across sizes ({spec.metric}): {sentence}")


def main(argv: list[str] | None = None) -> int:
    return run_script(__doc__, "codemix-size", add_flags, axes, argv, finish=finish)


if __name__ == "__main__":
    sys.exit(main())
