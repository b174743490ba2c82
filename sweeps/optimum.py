"""Where a swept metric is best, and how sure we are.

    opt = locate(df["code_ratio"], df["nl_reasoning_bpb"], mode="min", se=df["nl_reasoning_bpb_stderr"])
    opt.best, opt.low, opt.high      # the fit's best point and its 95% interval
    opt.p_best                       # tried point -> probability that it is the best of them
    opt.noise                        # "seeds", "measurement" or "fitted": where the noise came from
    describe("nl_reasoning_bpb", "code_ratio", opt)   # the sentence the summary prints

The fit is scikit-learn's Gaussian process over the axis (a quadratic trend, so a bowl or a
slope needs no more than a few points, plus constant x RBF for any other smooth shape;
targets normalised) with the trials' noise given, not guessed: where seeds repeat at a point, the noise is the
seeds' pooled scatter (at least each trial's own standard error); where every point has one
seed, it is each trial's own standard error (held-out bits-per-byte over its windows, a
benchmark score over its items), and seed noise is reported as not measured. Only with
neither does the fit infer a white-noise term, and then one value per point can always be
called noise. Whether the metric varies at all is the textbook test for that noise: one-way
ANOVA across points when seeds repeat, a chi-squared test of a constant when the noise is
known, a likelihood-ratio test of the curve against a flat line plus fitted noise otherwise;
a metric that does not vary at 5% locates nothing (its interval is the whole range).

The interval comes from a bootstrap: each replicate resamples the trials of every swept point
(its seeds) with replacement, refits the process with the full fit's kernel, draws a few
functions from its posterior over a fine grid and takes each function's best; the 2.5% and
97.5% quantiles of those bests are the interval, and how often each tried point beats the
others is its `p_best`. An interior optimum is claimed only when the interval stops short of
both ends of the swept range (by a quarter of the smallest gap between tried points);
otherwise the summary says where the interval reaches. The same fit is the sweep's
surrogate: it predicts the metric between the tried points, and its leave-one-trial-out
error (MAE, Spearman's rho) says how far to trust that.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel

REPLICATES = 200  # resamples of the trials
DRAWS = 5          # posterior functions drawn per resample
GRID = 101  # points of the fine grid the fit is read on
ALPHA = 0.05  # a metric that a constant explains at this level locates no optimum
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
    p_flat: float = 0.0    # p-value that the metric is the same at every point, given its noise
    margin: float = 0.0    # how far inside each end the interval must stop to count as excluding it
    noise: str = "fitted"  # where the trials' noise came from: "seeds", "measurement" or "fitted"


def noise_of(x: np.ndarray, y: np.ndarray, se: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """Each trial's noise variance and where it came from: the seeds' pooled scatter where any
    point repeats ("seeds"), else the trials' own standard errors ("measurement"), else None
    ("fitted": the process infers a white-noise term)."""
    own = se ** 2 if se is not None and np.all(np.isfinite(se)) and np.all(se > 0) else None
    groups = [y[x == p] for p in np.unique(x)]
    dof = sum(len(g) - 1 for g in groups)
    if dof > 0:
        pooled = sum(((g - g.mean()) ** 2).sum() for g in groups) / dof
        return np.maximum(np.full(len(y), pooled), own if own is not None else 0.0), "seeds"
    if own is not None:
        return own, "measurement"
    return None, "fitted"


def _fit(u: np.ndarray, y: np.ndarray, noise: np.ndarray | None, kernel=None, gap: float = 0.0) -> GaussianProcessRegressor:
    """The curve over the axis scaled to [-0.5, 0.5] (`u`): a quadratic trend (a bowl or a
    slope, the shapes a mixture's metric takes) plus constant x RBF for what a quadratic
    misses, the trials' noise given (or, unknown, a white-noise term fitted); the length scale
    no shorter than the gap between tried points (shorter would only interpolate the noise).
    With `kernel`: that kernel, not optimised again."""
    if kernel is not None:
        return refit(u[:, None], y, kernel, noise)
    shortest = max(gap, 0.05)
    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * RBF(max(0.3, shortest), (shortest, 10.0))
              + ConstantKernel(1.0, (1e-3, 1e3)) * DotProduct(1.0, (1e-2, 1e2)) ** 2)
    if noise is None:
        kernel = kernel + WhiteKernel(0.1, (1e-6, 10.0))
    gp = GaussianProcessRegressor(kernel, alpha=_normalised(noise, y), normalize_y=True, n_restarts_optimizer=2,
                                  random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(u[:, None], y)


def _normalised(noise: np.ndarray | None, y: np.ndarray):
    """Noise variances in the units of normalised targets (what `alpha` is added to), or a jitter."""
    sd = float(np.std(y))
    return 1e-10 if noise is None or sd == 0 else noise / sd ** 2


def refit(X: np.ndarray, y: np.ndarray, kernel, noise: np.ndarray | None = None) -> GaussianProcessRegressor:
    """A process with a fitted kernel, kept fixed, conditioned on other points (rows of X)."""
    gp = GaussianProcessRegressor(kernel, alpha=_normalised(noise, y), normalize_y=True, optimizer=None,
                                  random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(X, y)


def locate(x, y, mode: str, se=None, replicates: int = REPLICATES) -> Optimum:
    """The optimum of y over x (`mode` "min" or "max"); `se`: each trial's standard error."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    se = None if se is None else np.asarray(se, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, se = x[keep], y[keep], None if se is None else se[keep]
    points = np.unique(x)
    if len(points) == 0:
        raise ValueError("no finite values to locate an optimum in")
    sign = 1.0 if mode == "max" else -1.0
    seeds = int(min((x == p).sum() for p in points))
    noise, source = noise_of(x, y, se)
    if len(points) == 1 or np.ptp(y) == 0:
        return Optimum(float(points[0]), float(points[0]), float(points[-1]), float(y.mean()), mode, False,
                       {float(p): 1.0 / len(points) for p in points}, seeds, noise=source, p_flat=1.0)
    lo, hi = points[0], points[-1]
    grid = np.linspace(lo, hi, GRID)
    u, ugrid = (x - (lo + hi) / 2) / (hi - lo), (grid - (lo + hi) / 2) / (hi - lo)
    gp = _fit(u, y, noise, gap=float(np.diff(points).min()) / (hi - lo))
    p_flat = flat_p(u, y, noise, source, gp)
    mean, sd = gp.predict(ugrid[:, None], return_std=True)
    best_i = int(np.argmax(sign * mean))

    rng = np.random.default_rng(SEED)
    groups = [np.flatnonzero(x == p) for p in points]
    at_points = np.array([int(np.argmin(abs(grid - p))) for p in points])
    bests, wins = [], np.zeros(len(points))
    for _ in range(replicates):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        draws = _fit(u[idx], y[idx], None if noise is None else noise[idx], kernel=gp.kernel_).sample_y(
            ugrid[:, None], n_samples=DRAWS, random_state=int(rng.integers(2**31)))
        for f in (sign * draws).T:
            bests.append(grid[int(np.argmax(f))])
            wins[int(np.argmax(f[at_points]))] += 1
    low, high = (float(v) for v in np.percentile(bests, [2.5, 97.5]))
    if p_flat >= ALPHA:  # the metric does not vary by more than its noise: no optimum to locate
        low, high = float(lo), float(hi)
    mae, rho = leave_one_out(u, y, gp.kernel_, noise)
    margin = MARGIN * float(np.diff(points).min())
    interior = bool(low > lo + margin and high < hi - margin)
    return Optimum(float(grid[best_i]), low, high, float(mean[best_i]), mode, interior,
                   {float(p): float(w / wins.sum()) for p, w in zip(points, wins, strict=True)}, seeds,
                   {"x": grid.tolist(), "mean": mean.tolist(), "sd": sd.tolist()}, mae, rho, p_flat, margin, source)


def flat_p(x: np.ndarray, y: np.ndarray, noise: np.ndarray | None, source: str, gp) -> float:
    """p-value that the metric is the same at every point, given its noise: one-way ANOVA
    across points ("seeds"), a chi-squared test of the weighted mean ("measurement"), or a
    likelihood-ratio test of the fitted curve against a flat line plus noise ("fitted")."""
    from scipy.stats import chi2, f_oneway
    if source == "seeds":
        groups = [y[x == p] for p in np.unique(x)]
        return float(f_oneway(*groups).pvalue)
    if source == "measurement":
        w = 1.0 / noise
        q = float((w * (y - (w * y).sum() / w.sum()) ** 2).sum())
        return float(chi2.sf(q, df=len(y) - 1))
    flat = GaussianProcessRegressor(WhiteKernel(1.0, (1e-6, 10.0)), normalize_y=True, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        flat.fit(x[:, None], y)
    ratio = 2 * (gp.log_marginal_likelihood_value_ - flat.log_marginal_likelihood_value_)
    return float(chi2.sf(max(ratio, 0.0), df=4))  # four more parameters: two amplitudes, length scale, offset


def leave_one_out(x: np.ndarray, y: np.ndarray, kernel, noise: np.ndarray | None = None) -> tuple[float, float]:
    """How well the fit predicts a trial it has not seen: each trial left out in turn, the
    process (kernel fixed) refitted on the rest and asked for it. (MAE, Spearman's rho).
    `x`: one value per trial, or a row of values per trial (a fit over several axes)."""
    from scipy.stats import spearmanr
    X = np.asarray(x, dtype=float)
    X = X[:, None] if X.ndim == 1 else X
    if len(X) < 3:
        return float("nan"), float("nan")
    pred = np.array([refit(np.delete(X, i, axis=0), np.delete(y, i), kernel,
                           None if noise is None else np.delete(noise, i)).predict(X[i:i + 1])[0]
                     for i in range(len(X))])
    rho = spearmanr(pred, y).statistic if np.ptp(y) > 0 and np.ptp(pred) > 0 else float("nan")
    return float(np.abs(pred - y).mean()), float(rho)


NOISE_SAID = {
    "seeds": "noise from the scatter of {seeds}+ seeds per point",
    "measurement": "seed noise not measured: one seed per point; the interval allows for each trial's "
                   "measurement error only",
    "fitted": "seed noise not measured and no standard errors: one seed per point, and the fit's noise term "
              "can call any curve noise"}


def describe(metric: str, axis: str, opt: Optimum) -> str:
    """One sentence: the optimum and its interval, and whether it is an interior one; then
    where the noise came from."""
    name = axis.replace("_", " ")
    likely = max(opt.p_best, key=opt.p_best.get)
    span = f"{opt.low:.2f}-{opt.high:.2f}"
    if opt.p_flat >= ALPHA:
        text = (f"{metric} does not vary across the swept {name} by more than its noise (p = {opt.p_flat:.2f}): "
                f"no optimum can be located")
    elif opt.interior:
        text = (f"{metric} is best at {name} {opt.best:.2f} (95% interval {span}, inside the swept range; "
                f"tried point most often best: {likely:g}, p = {opt.p_best[likely]:.2f})")
    else:
        lo, hi = min(opt.p_best), max(opt.p_best)
        ends = [p for p, reached in ((lo, opt.low <= lo + opt.margin), (hi, opt.high >= hi - opt.margin)) if reached]
        text = (f"no interior optimum of {metric} can be claimed: the fit's best {name} is {opt.best:.2f} but its "
                f"95% interval {span} reaches the end of the swept range ({', '.join(f'{e:g}' for e in ends)}); "
                f"tried point most often best: {likely:g}, p = {opt.p_best[likely]:.2f}")
    return f"{text}; {NOISE_SAID[opt.noise].format(seeds=opt.seeds)}"
