"""Search the whole mixture: every family and text tier at once, a fitted mixture law, a proposal.

    python sweeps/mixture.py --preset demo --trials 24     # the four text tiers and four code families
    python sweeps/mixture.py --parts text,web_code,markup --bounds web_code:0-0.5 --trials 16
    python sweeps/mixture.py --max-epochs 4 --concentration 2 --trials 32 --seeds 2
    python sweeps/mixture.py --search optuna --asha --trials 48 --validate 3 --transfer-size 4m

The trials are a Dirichlet swarm (RegMix, Olmix) of `--trials` mixtures over `--parts`
around a prior mixture (`--prior`, default the parts' natural shares: their training tokens),
`--concentration` times the prior as its parameters, inside `--bounds` and, with
`--max-epochs E`, only mixtures that repeat no part more than E times at this budget. Each
mixture trains with every seed; its child run is named by the mixture (`enc40-news10-web30-
mark20 seed=0`) and logs every part's requested share (`share_<part>`) and the realized ones.
`--search optuna` instead lets Optuna's TPE choose `--trials` mixtures, one number in [0, 1]
a part mapped evenly onto the simplex inside the bounds (and the epoch limit), the seeds in
turn; `--asha` stops weak ones early (their partial results are not fitted).

After the trials, mixture laws (linear, log-linear, LightGBM, a Gaussian process, Data Mixing
Laws) are fitted to the metric, each scored on held-out trials (5-fold Spearman and MAE); the
best one's optimum within the bounds and the epoch limit is the proposal, with a 95%
interval per part: the spread of the proposal over fits to resampled trials, joined with
every mixture the law cannot tell from the best (within half its held-out MAE). The optimum is searched where the trials
were (`--region support`, the default: each part within the range of shares the trials
covered), since a law says little about mixtures unlike any it was fitted on; `--region
bounds` searches the whole bounded simplex. The parent run gets `best_share_<part>`
(`_low`, `_high`), `predicted_<metric>`, every law's scores, `best_mixture.json` and a plot
of the metric against each part's share (trials as points, the law's partial dependence as
a line).

`--validate K` then trains the proposal and the prior mixture with K paired seeds (a sweep
`<experiment>-validate`): the parent gets the predicted and measured metric and the gain over
the prior with a paired 95% interval. `--transfer-size 4m` trains `--transfer-mixtures`
of the searched mixtures (the best, the worst and a spread between) at that size too (a sweep
`<experiment>-transfer-4m`): the parent gets the pairwise decision accuracy (pairs ordered
alike at both sizes, pairs closer than twice the seed noise counted as ties and apart) and
Spearman's rho across sizes, each with a bootstrap interval, and a plot of one size against
the other.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from sweeps.plan import SimplexAxis  # noqa: E402
from sweeps.script import Axis, run_script  # noqa: E402
from sweeps.simplex import (PARTS, dirichlet_swarm, epoch_bounds, inside, label, parse_bounds,  # noqa: E402
                            parse_parts)

DEFAULT_PARTS = "text/encyclopedic,text/news,text/speeches,text/literature,web_code,markup,code_adjacent,synthetic"


def add_flags(parser):
    parser.add_argument("--parts", default=DEFAULT_PARTS,
                        help=f"comma list of the parts mixed (default: the four text tiers and four code families); "
                             f"parts: {', '.join(PARTS)}")
    parser.add_argument("--bounds", default="", metavar="PART:LOW-HIGH,...",
                        help="each part's lowest and highest share (default 0-1)")
    parser.add_argument("--prior", default="", metavar="PART:SHARE,...",
                        help="the mixture the swarm is drawn around (default: the parts' natural shares, by tokens)")
    parser.add_argument("--concentration", type=float, default=0.0,
                        help="the Dirichlet's concentration around the prior (default: the number of parts)")
    parser.add_argument("--max-epochs", type=float, default=0.0, metavar="E",
                        help="no part repeated more than E times at this budget (default: no limit)")
    parser.add_argument("--region", choices=("support", "bounds"), default="support",
                        help="where the fitted law's optimum is searched: support (default), each part within the "
                             "range of shares the trials covered, where the law has data; bounds, the whole bounded "
                             "simplex, which lets a law extrapolate")
    parser.add_argument("--validate", type=int, default=0, metavar="K",
                        help="after the search, train the proposal and the prior mixture with K paired seeds and "
                             "report the measured gain (default 0: no)")
    parser.add_argument("--transfer-size", default="", metavar="SIZE",
                        help="also train some searched mixtures at this larger size and report whether it ranks "
                             "them alike (decision accuracy, Spearman)")
    parser.add_argument("--transfer-mixtures", type=int, default=6, metavar="N",
                        help="mixtures trained at --transfer-size: the best, the worst and a spread (default 6)")


def natural_shares(parts: tuple[str, ...], spec) -> np.ndarray:
    """The parts' training tokens, as shares (the data is prepared here if it is not yet)."""
    data = spec.prepared()
    sizes = np.array([data.family_size(p, "train") for p in parts], dtype=float)
    if (sizes == 0).any():
        raise ValueError(f"--parts: {', '.join(p for p, n in zip(parts, sizes, strict=True) if n == 0)} "
                         "has no prepared tokens")
    return sizes


def _prior(args, parts, sizes) -> np.ndarray:
    if not args.prior:
        return sizes / sizes.sum()
    from trainers.data.mixture import parse_shares
    given = parse_shares(args.prior, "--prior", "PART:SHARE")
    if set(given) != set(parts) or abs(sum(given.values()) - 1) > 1e-6:
        raise ValueError(f"--prior must give every part of --parts a share, adding up to 1 ({args.prior})")
    return np.array([given[p] for p in parts])


def epoch_filter(args, spec, sizes):
    """Mixtures that repeat no part more than --max-epochs times at this budget (None: no limit)."""
    if not args.max_epochs:
        return None
    return lambda X: np.all(np.asarray(X) * spec.base.tokens / sizes <= args.max_epochs, axis=-1)


def axes(args, spec):
    from sweeps.mixture_law import min_trials
    from sweeps.mixture_checks import check_transfer
    parts = parse_parts(args.parts)
    bounds = parse_bounds(args.bounds, parts)
    if args.validate < 0 or args.validate == 1:
        raise ValueError(f"--validate {args.validate}: give at least 2 seeds (a paired interval needs them), or 0")
    if args.transfer_size:
        check_transfer(args.transfer_size, args.transfer_mixtures, spec)
    if args.trials < min_trials(len(parts)):
        raise ValueError(f"--trials {args.trials} is too few for the mixture laws over {len(parts)} parts "
                         f"(at least {min_trials(len(parts))})")
    if args.max_epochs < 0 or args.concentration < 0:
        raise ValueError("--max-epochs and --concentration must be positive")
    sizes = natural_shares(parts, spec)
    prior = _prior(args, parts, sizes)
    allowed = epoch_filter(args, spec, sizes)
    if allowed is not None and not allowed(sizes / sizes.sum()):
        least = spec.base.tokens / sizes.sum()
        raise ValueError(f"--max-epochs {args.max_epochs:g}: every mixture repeats some part at least {least:.2f} "
                         f"times at {spec.base.tokens:,} tokens")
    if spec.search == "optuna":
        if not inside(prior, bounds):
            raise ValueError("the prior mixture (" + ", ".join(f"{p:.3f}" for p in prior) + ") is outside --bounds")
        tight = epoch_bounds(bounds, spec.base.tokens, sizes, args.max_epochs) if args.max_epochs else bounds
        if (tight[:, 0] > tight[:, 1]).any() or tight[:, 1].sum() < 1:
            raise ValueError(f"--bounds and --max-epochs {args.max_epochs:g} leave no feasible mixture at "
                             f"{spec.base.tokens:,} tokens")
        return [SimplexAxis("mixture", (label(dict(zip(parts, prior, strict=True))),), parts=parts,
                            bounds=tuple(map(tuple, tight.tolist())))]
    swarm = dirichlet_swarm(prior, args.trials, bounds, args.concentration or float(len(parts)), spec.seeds[0],
                            allowed=allowed)
    labels = tuple(dict.fromkeys(label(dict(zip(parts, p, strict=True))) for p in swarm))
    return [Axis("mixture", labels)]


def finish(args, spec, df, run_id) -> None:
    """The laws, the proposal and its interval, on the parent run; printed too."""
    from sweeps.mixture_summary import log_mixture_summary, summarise_mixtures
    from sweeps.simplex import parse_label
    parts = parse_parts(args.parts)
    sizes = natural_shares(parts, spec)
    shares = {m: [parse_label(m).get(p, 0.0) for p in parts] for m in df["mixture"].unique()}
    answer = summarise_mixtures(df, parts, shares, spec.metric, spec.mode, parse_bounds(args.bounds, parts),
                                seed=spec.seeds[0], allowed=epoch_filter(args, spec, sizes), region=args.region)
    log_mixture_summary(answer, parts, run_id, spec.tracking_uri)
    s = answer["scores"][answer["law"]]
    where = "within the trials' range of each share" if args.region == "support" else "anywhere within --bounds"
    print(f"\nThe proposed mixture ({answer['law']} law, held-out Spearman {s['spearman']:.2f}, MAE {s['mae']:.4f}; "
          f"searched {where}; predicted {spec.metric} {answer['predicted']:.4f}):")
    for p in parts:
        print(f"  {p:<20} {answer['mixture'][p]:.3f}  (95% interval {answer['low'][p]:.3f} to {answer['high'][p]:.3f})")
    from sweeps.mixture_checks import transfer, validate
    if args.validate:
        prior = _prior(args, parts, sizes)
        print(validate(spec, parts, answer, dict(zip(parts, prior, strict=True)), args.validate, run_id)["sentence"])
    if args.transfer_size:
        print(transfer(spec, df, args.transfer_size, args.transfer_mixtures, run_id)["sentence"])


def main(argv: list[str] | None = None) -> int:
    return run_script(__doc__, "codemix-mixture", add_flags, axes, argv, finish=finish)


if __name__ == "__main__":
    sys.exit(main())
