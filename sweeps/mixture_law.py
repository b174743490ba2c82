"""Mixture laws: a metric as a function of every part's share, fitted on a sweep's trials,
scored on trials it did not see, and searched for the best mixture with an interval.

    laws = score_laws(X, y)                    # {law: {"spearman": .., "mae": ..}}, K-fold over trials
    best = best_law(laws)
    proposal = propose(best, X, y, bounds, mode="min")            # shares, predicted metric, among the trials
    low, high = optimum_interval(best, X, y, bounds, laws[best]["mae"], mode="min")

The laws are the ones the mixture-search literature fits, each from a kept library:
`linear` (RegMix's linear regression on the shares), `log_linear` (on the logs of the
shares), `lightgbm` (RegMix, CLIMB), `gp` (a scikit-learn Gaussian process, as the
one-axis sweeps use) and `dml` (Data Mixing Laws' `c + k exp(t . x)`, scipy's curve_fit).
Each is scored by K-fold over the trials, repeated over several shufflings of the folds
(Spearman's rho and the mean absolute error of its predictions on the held-out folds); the
best by mean rho (then MAE) is the one searched. The
search evaluates the law on many mixtures spread evenly over the bounded simplex (and an
`allowed` filter, e.g. an epoch limit) and takes the best.

The interval per part joins two sources of doubt about where the optimum is: how the
proposal moves over fits to trials resampled with replacement (the bootstrap), and how flat
the law is around it: every mixture the law predicts within `NEAR` times its own held-out
error (K-fold MAE) of the best. The bootstrap alone covered the planted share of only 49%
of parts over 20 planted mixtures (`bench.method.mixture_planted`: it sees the fit's
variance, not a law that is wrong in shape); the near-optimal set is what brings the
coverage to the nominal 95%.

By default the search stays where the trials were (`region="support"`): each part within the
range of shares the trials covered. A law fitted on a swarm that never put more than 11% on a
part says nothing about 85% of it, and a proposal there is an extrapolation (the first laptop
search's was, and lost 0.14 bits/byte to the prior when trained). `region="bounds"` searches
the whole bounded simplex, as RegMix's simulation over fresh Dirichlet draws may.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import curve_fit
from scipy.stats import spearmanr

from sweeps.simplex import from_unit, inside, uniform_in_bounds

LAWS = ("linear", "log_linear", "lightgbm", "gp", "dml")
REGIONS = ("support", "bounds")
EPS = 1e-3  # a share's floor in the log-linear law
NEAR = 0.5  # the near-optimal set: predicted within this many held-out MAEs of the best (calibrated on planted laws)


class _Sklearn:
    def __init__(self, name: str):
        self.name = name

    def _features(self, X):
        return np.log(X + EPS) if self.name == "log_linear" else X

    def fit(self, X, y):
        if self.name in ("linear", "log_linear"):
            from sklearn.linear_model import Ridge
            self.model = Ridge(alpha=1e-3)
        elif self.name == "lightgbm":
            from lightgbm import LGBMRegressor
            self.model = LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=7, min_child_samples=3,
                                       min_data_in_bin=1, verbose=-1, random_state=0)
        else:
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
            kernel = ConstantKernel() * RBF(length_scale=np.full(X.shape[1], 0.3), length_scale_bounds=(0.02, 10)) \
                + WhiteKernel(1e-3, (1e-8, 1e1))
            self.model = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(self._features(X), y)
        return self

    def predict(self, X):
        return np.asarray(self.model.predict(self._features(X)), dtype=float)


class _DataMixingLaw:
    """Data Mixing Laws (Ye et al., 2024): metric = c + k * exp(sum_i t_i * share_i)."""
    name = "dml"

    @staticmethod
    def _f(X, c, k, *t):
        return c + k * np.exp(X @ np.asarray(t))

    def fit(self, X, y):
        spread = float(np.std(y)) or 1.0
        p0 = [float(np.min(y)) - spread, spread, *np.zeros(X.shape[1])]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.params, _ = curve_fit(self._f, X, y, p0=p0, maxfev=20_000)
        except (RuntimeError, ValueError):  # no convergence: the mean, which scores as it deserves
            self.params = [float(np.mean(y)), 0.0, *np.zeros(X.shape[1])]
        return self

    def predict(self, X):
        return self._f(X, *self.params)


def make_law(name: str):
    if name not in LAWS:
        raise ValueError(f"unknown mixture law {name!r}; laws: {', '.join(LAWS)}")
    return _DataMixingLaw() if name == "dml" else _Sklearn(name)


def min_trials(parts: int) -> int:
    """Fewest trials the laws are fitted and scored on: two per part and at least 8 (five folds
    of at least one trial, each fit on more trials than the linear law has parameters)."""
    return max(8, 2 * parts)


def score_laws(X: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0, laws: tuple[str, ...] = LAWS,
               repeats: int = 10) -> dict[str, dict]:
    """Each law's K-fold score: Spearman's rho and MAE of its held-out predictions, averaged
    over `repeats` shufflings of the folds (`spearman_sd`: their spread). With a few dozen
    trials one shuffling is not enough to choose a law: on the first laptop search (24
    trials) the rho of one shuffling moved by up to 0.2 with the trials' order alone, and the
    chosen law with it. The trials are put in one order first (by their shares), so the score
    does not depend on the order a tracking store returns them in."""
    from sklearn.model_selection import RepeatedKFold
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if len(y) < min_trials(X.shape[1]):
        raise ValueError(f"{len(y)} trials are too few to fit and score mixture laws over {X.shape[1]} parts "
                         f"(at least {min_trials(X.shape[1])})")
    order = np.lexsort(np.column_stack([X, y]).T[::-1])
    X, y = X[order], y[order]
    k = min(folds, len(y))
    splits = list(RepeatedKFold(n_splits=k, n_repeats=repeats, random_state=seed).split(X))
    out = {}
    for name in laws:
        rhos, maes = [], []
        for r in range(repeats):
            predicted = np.empty_like(y)
            for train, test in splits[r * k:(r + 1) * k]:
                predicted[test] = make_law(name).fit(X[train], y[train]).predict(X[test])
            rho = spearmanr(predicted, y).statistic if np.std(predicted) > 0 else 0.0
            rhos.append(float(np.nan_to_num(rho)))
            maes.append(float(np.mean(np.abs(predicted - y))))
        out[name] = {"spearman": float(np.mean(rhos)), "spearman_sd": float(np.std(rhos)), "mae": float(np.mean(maes))}
    return out


def best_law(scores: dict[str, dict]) -> str:
    return max(scores, key=lambda n: (round(scores[n]["spearman"], 6), -scores[n]["mae"]))


def support_bounds(X: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The bounds narrowed to the range of each part's share over the trials: where a law
    fitted on them has seen data."""
    X = np.asarray(X, dtype=float)
    out = np.asarray(bounds, dtype=float).copy()
    out[:, 0] = np.maximum(out[:, 0], X.min(axis=0))
    out[:, 1] = np.minimum(out[:, 1], X.max(axis=0))
    return out


def search_bounds(X: np.ndarray, bounds: np.ndarray, region: str) -> np.ndarray:
    if region not in REGIONS:
        raise ValueError(f"unknown search region {region!r}; regions: {', '.join(REGIONS)}")
    return support_bounds(X, bounds) if region == "support" else np.asarray(bounds, dtype=float)


def _spread_in(bounds: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """About `samples` mixtures spread over the bounded simplex: even Dirichlet(1) draws, and
    when the bounds are narrow (few of those land inside), even points of the unit cube
    mapped into them as Optuna's are (`from_unit`)."""
    points = uniform_in_bounds(samples, bounds, seed)
    if len(points) >= samples // 20:
        return points
    mapped = from_unit(np.random.default_rng(seed).random((samples, len(bounds))), bounds)
    return np.concatenate([points, mapped[inside(mapped, bounds)]])


def propose(law: str, X: np.ndarray, y: np.ndarray, bounds: np.ndarray, mode: str = "min", samples: int = 20_000,
            seed: int = 0, allowed=None, region: str = "support") -> tuple[np.ndarray, float]:
    """The law fitted on every trial, searched over mixtures spread over the region (the
    trials' range of each share within the bounds, or the bounds) and those `allowed` keeps,
    then over Dirichlet draws ever closer around the best so far; the best mixture and the
    law's prediction there."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    fitted = make_law(law).fit(X, y)
    bounds = search_bounds(X, bounds, region)
    candidates = _spread_in(bounds, samples, seed)
    if allowed is not None:
        candidates = candidates[allowed(candidates)]
    if not len(candidates):
        raise ValueError("no mixture within the bounds meets the constraints to search over")
    sign = 1.0 if mode == "min" else -1.0
    predicted = sign * fitted.predict(candidates)
    best, value = candidates[int(np.argmin(predicted))], float(np.min(predicted))
    rng = np.random.default_rng(seed)
    for concentration in (100.0, 400.0, 1600.0):  # then closer around the best so far: a few rounds
        near = rng.dirichlet(concentration * best + 0.01, size=max(1000, samples // 4))
        near = near[inside(near, bounds)]
        if allowed is not None and len(near):
            near = near[allowed(near)]
        if len(near):
            values = sign * fitted.predict(near)
            if values.min() < value:
                best, value = near[int(np.argmin(values))], float(values.min())
    return best, sign * value


def bootstrap_interval(law: str, X: np.ndarray, y: np.ndarray, bounds: np.ndarray, mode: str = "min",
                       resamples: int = 30, seed: int = 0, samples: int = 5_000,
                       allowed=None, region: str = "support") -> tuple[np.ndarray, np.ndarray]:
    """A 95% interval per part: the proposal's 2.5th and 97.5th percentiles over fits to trials
    resampled with replacement (each searched over the region of all the trials, so the
    interval says how the fit moves, not how the region does)."""
    bounds = search_bounds(X, bounds, region)
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    proposals = []
    for b in range(resamples):
        pick = rng.integers(0, len(y), size=len(y))
        proposals.append(propose(law, X[pick], y[pick], bounds, mode, samples, seed + 1 + b, allowed, "bounds")[0])
    proposals = np.array(proposals)
    return np.percentile(proposals, 2.5, axis=0), np.percentile(proposals, 97.5, axis=0)


def near_optimal_interval(law: str, X: np.ndarray, y: np.ndarray, bounds: np.ndarray, tolerance: float,
                          mode: str = "min", samples: int = 20_000, seed: int = 0, allowed=None,
                          region: str = "support") -> tuple[np.ndarray, np.ndarray]:
    """Each part's lowest and highest share over the mixtures of the region the law, fitted on
    every trial, predicts within `tolerance` of its best: those it cannot tell from the best."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    fitted = make_law(law).fit(X, y)
    candidates = _spread_in(search_bounds(X, bounds, region), samples, seed)
    if allowed is not None:
        candidates = candidates[allowed(candidates)]
    if not len(candidates):
        raise ValueError("no mixture within the bounds meets the constraints to search over")
    predicted = (1.0 if mode == "min" else -1.0) * fitted.predict(candidates)
    near = candidates[predicted <= predicted.min() + tolerance]
    return near.min(axis=0), near.max(axis=0)


def optimum_interval(law: str, X: np.ndarray, y: np.ndarray, bounds: np.ndarray, mae: float, mode: str = "min",
                     resamples: int = 30, seed: int = 0, allowed=None, region: str = "support",
                     near: float = NEAR) -> tuple[np.ndarray, np.ndarray]:
    """The 95% interval per part: the bootstrap interval joined with the near-optimal set of
    mixtures within `near` held-out MAEs (`mae`, the law's K-fold score) of the best."""
    low, high = bootstrap_interval(law, X, y, bounds, mode, resamples, seed, allowed=allowed, region=region)
    n_low, n_high = near_optimal_interval(law, X, y, bounds, near * mae, mode, seed=seed, allowed=allowed,
                                          region=region)
    return np.minimum(low, n_low), np.maximum(high, n_high)
