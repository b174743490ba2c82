"""Where a swept metric is best, and how sure we are.

    opt = locate(df["code_ratio"], df["nl_reasoning_bpb"], mode="min")
    opt.best, opt.low, opt.high      # the fit's best point and its 95% bootstrap interval
    opt.p_best                       # tried point -> probability that it is the best of them
    describe("nl_reasoning_bpb", "code_ratio", opt)   # the sentence the summary prints

The fit is scikit-learn's Gaussian process over the axis with a noise term (constant x RBF
+ white noise, targets normalised), so seed-to-seed scatter is noise, not signal. The
interval comes from a bootstrap: each replicate resamples the trials of every swept point
(its seeds) with replacement, refits the process with the full fit's kernel, draws a few
functions from its posterior over a fine grid and takes each function's best; the 2.5% and
97.5% quantiles of those bests are the interval, and how often each tried point beats the
others is its `p_best`. An interior optimum is claimed only when the interval stops short of
both ends of the swept range (by a quarter of the smallest gap between tried points); otherwise the summary says where the interval reaches. A curve that
explains the trials no better than a flat line plus noise (a likelihood-ratio test, 5%)
locates nothing: its interval is the whole range. The same
fit is the sweep's surrogate: it predicts the metric between the tried points, and its
leave-one-trial-out error (MAE, Spearman's rho) says how far to trust that.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

REPLICATES = 200  # resamples of the trials
DRAWS = 5          # posterior functions drawn per resample
GRID = 101  # points of the fine grid the fit is read on
ALPHA = 0.05  # a curve that a flat line explains at this level locates no optimum
SEED = 0
# An interval excludes an end of the range only when it stops this share of the smallest gap
# between tried points inside it: an interval ending at 0.99 of [0, 1] reaches the end.
MARGIN = 0.25


@dataclass
class Optimum:
    best: float            # the fit's best point
    low: float             # 95% bootstrap interval of the best point
    high: float
    value: float           # the fit's mean at the best point
    mode: str              # "min" or "max"
    interior: bool         # the interval excludes both ends of the swept range
    p_best: dict = field(default_factory=dict)   # tried point -> share of replicates where it is the best
    seeds: int = 1         # trials per point (fewest)
    curve: dict = field(default_factory=dict)    # x, mean, sd of the fit on the fine grid
    loo_mae: float = float("nan")       # the fit as a surrogate: leave-one-trial-out absolute error
    loo_spearman: float = float("nan")  # and the rank correlation of those predictions with the truth
    p_flat: float = 0.0    # p-value that the metric is flat across the range (curve vs flat line + noise)
    margin: float = 0.0    # how far inside each end the interval must stop to count as excluding it


def _fit(x: np.ndarray, y: np.ndarray, span: float, kernel=None, gap: float = 0.0) -> GaussianProcessRegressor:
    """The curve: constant x RBF + white noise; the length scale no shorter than the gap
    between tried points (shorter would only interpolate the noise). With `kernel`: that
    kernel, not optimised again."""
    if kernel is not None:
        return refit(x[:, None], y, kernel)
    shortest = max(gap, 0.05 * span)
    gp = GaussianProcessRegressor(
        ConstantKernel(1.0, (1e-3, 1e3)) * RBF(max(0.3 * span, shortest), (shortest, 10 * span))
        + WhiteKernel(0.1, (1e-6, 10.0)), normalize_y=True, n_restarts_optimizer=2, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(x[:, None], y)


def refit(X: np.ndarray, y: np.ndarray, kernel) -> GaussianProcessRegressor:
    """A process with a fitted kernel, kept fixed, conditioned on other points (rows of X)."""
    gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=None, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(X, y)


def locate(x, y, mode: str, replicates: int = REPLICATES) -> Optimum:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    points = np.unique(x)
    if len(points) == 0:
        raise ValueError("no finite values to locate an optimum in")
    sign = 1.0 if mode == "max" else -1.0
    seeds = int(min((x == p).sum() for p in points))
    if len(points) == 1:
        return Optimum(float(points[0]), float(points[0]), float(points[0]), float(y.mean()), mode, False,
                       {float(points[0]): 1.0}, seeds)
    lo, hi = points[0], points[-1]
    grid = np.linspace(lo, hi, GRID)
    gp = _fit(x, y, hi - lo, gap=float(np.diff(points).min()))
    p_signal = _no_signal_p(x, y, gp)
    mean, sd = gp.predict(grid[:, None], return_std=True)
    best_i = int(np.argmax(sign * mean))

    rng = np.random.default_rng(SEED)
    groups = [np.flatnonzero(x == p) for p in points]
    at_points = np.array([int(np.argmin(abs(grid - p))) for p in points])
    bests, wins = [], np.zeros(len(points))
    for _ in range(replicates):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        draws = _fit(x[idx], y[idx], hi - lo, kernel=gp.kernel_).sample_y(
            grid[:, None], n_samples=DRAWS, random_state=int(rng.integers(2**31)))
        for f in (sign * draws).T:
            bests.append(grid[int(np.argmax(f))])
            wins[int(np.argmax(f[at_points]))] += 1
    low, high = (float(v) for v in np.percentile(bests, [2.5, 97.5]))
    if p_signal >= ALPHA:  # the curve explains no more than a flat line plus noise: no optimum to locate
        low, high = float(lo), float(hi)
    mae, rho = leave_one_out(x, y, gp.kernel_)
    margin = MARGIN * float(np.diff(points).min())
    interior = bool(low > lo + margin and high < hi - margin)
    return Optimum(float(grid[best_i]), low, high, float(mean[best_i]), mode, interior,
                   {float(p): float(w / wins.sum()) for p, w in zip(points, wins)}, seeds,
                   {"x": grid.tolist(), "mean": mean.tolist(), "sd": sd.tolist()}, mae, rho, p_signal, margin)


def _no_signal_p(x: np.ndarray, y: np.ndarray, gp: GaussianProcessRegressor) -> float:
    """p-value of a likelihood-ratio test of the curve against a flat line plus noise (two more
    parameters: the curve's amplitude and length scale)."""
    from scipy.stats import chi2
    flat = GaussianProcessRegressor(WhiteKernel(1.0, (1e-6, 10.0)), normalize_y=True, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        flat.fit(x[:, None], y)
    ratio = 2 * (gp.log_marginal_likelihood_value_ - flat.log_marginal_likelihood_value_)
    return float(chi2.sf(max(ratio, 0.0), df=2))


def leave_one_out(x: np.ndarray, y: np.ndarray, kernel) -> tuple[float, float]:
    """How well the fit predicts a trial it has not seen: each trial left out in turn, the
    process (kernel fixed) refitted on the rest and asked for it. (MAE, Spearman's rho).
    `x`: one value per trial, or a row of values per trial (a fit over several axes)."""
    from scipy.stats import spearmanr
    X = np.asarray(x, dtype=float)
    X = X[:, None] if X.ndim == 1 else X
    if len(X) < 3:
        return float("nan"), float("nan")
    pred = np.array([refit(np.delete(X, i, axis=0), np.delete(y, i), kernel).predict(X[i:i + 1])[0]
                     for i in range(len(X))])
    rho = spearmanr(pred, y).statistic if np.ptp(y) > 0 and np.ptp(pred) > 0 else float("nan")
    return float(np.abs(pred - y).mean()), float(rho)


def describe(metric: str, axis: str, opt: Optimum) -> str:
    """One sentence: the optimum and its interval, and whether it is an interior one."""
    name = axis.replace("_", " ")
    likely = max(opt.p_best, key=opt.p_best.get)
    span = f"{opt.low:.2f}-{opt.high:.2f}"
    if opt.p_flat >= ALPHA:
        text = (f"{metric} does not vary across the swept {name} by more than its noise (a flat line fits as "
                f"well, p = {opt.p_flat:.2f}): no optimum can be located")
    elif opt.interior:
        text = (f"{metric} is best at {name} {opt.best:.2f} (95% interval {span}, inside the swept range; "
                f"tried point most often best: {likely:g}, p = {opt.p_best[likely]:.2f})")
    else:
        lo, hi = min(opt.p_best), max(opt.p_best)
        ends = [p for p, reached in ((lo, opt.low <= lo + opt.margin), (hi, opt.high >= hi - opt.margin)) if reached]
        text = (f"no interior optimum of {metric} can be claimed: the fit's best {name} is {opt.best:.2f} but its "
                f"95% interval {span} reaches the end of the swept range ({', '.join(f'{e:g}' for e in ends)}); "
                f"tried point most often best: {likely:g}, p = {opt.p_best[likely]:.2f}")
    if opt.seeds < 2:
        text += "; one seed per point, so seed noise is only what the fit's noise term infers"
    return text
