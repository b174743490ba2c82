"""Mixture laws: a metric as a function of every part's share, fitted on a sweep's trials,
scored on trials it did not see, and searched for the best mixture with an interval.

    laws = score_laws(X, y)                    # {law: {"spearman": .., "mae": ..}}, K-fold over trials
    best = best_law(laws)
    proposal = propose(best, X, y, bounds, mode="min")            # shares, predicted metric
    low, high = bootstrap_interval(best, X, y, bounds, mode="min")

The laws are the ones the mixture-search literature fits, each from a kept library:
`linear` (RegMix's linear regression on the shares), `log_linear` (on the logs of the
shares), `lightgbm` (RegMix, CLIMB), `gp` (a scikit-learn Gaussian process, as the
one-axis sweeps use) and `dml` (Data Mixing Laws' `c + k exp(t . x)`, scipy's curve_fit).
Each is scored by K-fold over the trials (Spearman's rho and the mean absolute error of its
predictions on the held-out fold); the best by rho (then MAE) is the one searched. The
search evaluates the law on many mixtures spread evenly over the bounded simplex (and an
`allowed` filter, e.g. an epoch limit) and takes the best; the interval is the spread of
that proposal over fits to trials resampled with replacement.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import curve_fit
from scipy.stats import spearmanr

from sweeps.simplex import inside, uniform_in_bounds

LAWS = ("linear", "log_linear", "lightgbm", "gp", "dml")
EPS = 1e-3  # a share's floor in the log-linear law


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


def score_laws(X: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0,
               laws: tuple[str, ...] = LAWS) -> dict[str, dict]:
    """Each law's K-fold score: Spearman's rho and MAE of its held-out predictions."""
    from sklearn.model_selection import KFold
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if len(y) < min_trials(X.shape[1]):
        raise ValueError(f"{len(y)} trials are too few to fit and score mixture laws over {X.shape[1]} parts "
                         f"(at least {min_trials(X.shape[1])})")
    splits = list(KFold(n_splits=min(folds, len(y)), shuffle=True, random_state=seed).split(X))
    out = {}
    for name in laws:
        predicted = np.empty_like(y)
        for train, test in splits:
            predicted[test] = make_law(name).fit(X[train], y[train]).predict(X[test])
        rho = spearmanr(predicted, y).statistic if np.std(predicted) > 0 else 0.0
        out[name] = {"spearman": float(np.nan_to_num(rho)), "mae": float(np.mean(np.abs(predicted - y)))}
    return out


def best_law(scores: dict[str, dict]) -> str:
    return max(scores, key=lambda n: (round(scores[n]["spearman"], 6), -scores[n]["mae"]))


def propose(law: str, X: np.ndarray, y: np.ndarray, bounds: np.ndarray, mode: str = "min", samples: int = 20_000,
            seed: int = 0, allowed=None) -> tuple[np.ndarray, float]:
    """The law fitted on every trial, searched over mixtures spread over the bounded simplex
    (those `allowed` keeps), then over Dirichlet draws ever closer around the best so far;
    the best mixture and the law's prediction there."""
    fitted = make_law(law).fit(np.asarray(X, dtype=float), np.asarray(y, dtype=float))
    candidates = uniform_in_bounds(samples, bounds, seed)
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
                       allowed=None) -> tuple[np.ndarray, np.ndarray]:
    """A 95% interval per part: the proposal's 2.5th and 97.5th percentiles over fits to trials
    resampled with replacement."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    proposals = []
    for b in range(resamples):
        pick = rng.integers(0, len(y), size=len(y))
        proposals.append(propose(law, X[pick], y[pick], bounds, mode, samples, seed + 1 + b, allowed)[0])
    proposals = np.array(proposals)
    return np.percentile(proposals, 2.5, axis=0), np.percentile(proposals, 97.5, axis=0)
