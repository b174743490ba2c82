"""A metric over the plane of two numeric axes (code ratio x synthetic share): the surrogate.

    s = fit_surface(df["code_ratio"], df["synthetic_share"], df["val_bpb_text"], "min")
    s.best, s.value          # the fit's best point on the plane and its predicted metric there
    s.loo_mae, s.loo_spearman  # leave-one-trial-out: how well it predicts a trial it has not seen

One Gaussian process over both axes (scikit-learn: constant x anisotropic RBF + white noise,
each axis scaled to [0, 1], a length scale per axis no shorter than its grid spacing), read
on a 41 x 41 lattice. It predicts the metric at mixtures that were never trained; its
leave-one-out error says how far to trust that. The one-axis fits of sweeps/optimum.py give
each slice's optimum with an interval; this gives the plane.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from sweeps.optimum import leave_one_out

LATTICE = 41
SEED = 0


@dataclass
class Surface:
    best: tuple[float, float]   # the fit's best point (first axis, second axis)
    value: float                # the fit's mean there
    mode: str
    loo_mae: float
    loo_spearman: float
    lattice: dict = field(default_factory=dict)  # x, y (axis values) and mean (len(y) x len(x))


def _scaled(a: np.ndarray) -> tuple[np.ndarray, float, float]:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo), lo, hi


def _fit(X: np.ndarray, y: np.ndarray, shortest=(0.05, 0.05)) -> GaussianProcessRegressor:
    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * RBF([max(0.3, s) for s in shortest], [(s, 10.0) for s in shortest])
              + WhiteKernel(0.1, (1e-6, 10.0)))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(X, y)


def fit_surface(a, b, y, mode: str) -> Surface:
    a, b, y = (np.asarray(v, dtype=float) for v in (a, b, y))
    keep = np.isfinite(a) & np.isfinite(b) & np.isfinite(y)
    a, b, y = a[keep], b[keep], y[keep]
    if len(np.unique(a)) < 2 or len(np.unique(b)) < 2:
        raise ValueError("a surface needs at least two values of each axis")
    (sa, alo, ahi), (sb, blo, bhi) = _scaled(a), _scaled(b)
    X = np.column_stack([sa, sb])
    gaps = tuple(max(0.05, float(np.diff(np.unique(s)).min())) for s in (sa, sb))
    gp = _fit(X, y, shortest=gaps)
    u = np.linspace(0, 1, LATTICE)
    uu, vv = np.meshgrid(u, u)  # rows: second axis, columns: first
    mean = gp.predict(np.column_stack([uu.ravel(), vv.ravel()])).reshape(uu.shape)
    sign = 1.0 if mode == "max" else -1.0
    i, j = np.unravel_index(int(np.argmax(sign * mean)), mean.shape)
    best = (float(alo + u[j] * (ahi - alo)), float(blo + u[i] * (bhi - blo)))
    mae, rho = leave_one_out(X, y, gp.kernel_)  # the same check as the one-axis fit's
    return Surface(best, float(mean[i, j]), mode, mae, rho,
                   {"x": (alo + u * (ahi - alo)).tolist(), "y": (blo + u * (bhi - blo)).tolist(), "mean": mean.tolist()})


def plot_surface(a, b, y, surface: Surface, names: tuple[str, str], metric: str, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lat = surface.lattice
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    filled = ax.contourf(lat["x"], lat["y"], np.asarray(lat["mean"]), levels=20,
                         cmap="viridis_r" if surface.mode == "min" else "viridis")
    fig.colorbar(filled, ax=ax, label=f"{metric} (fit; {'lower' if surface.mode == 'min' else 'higher'} is better)")
    ax.scatter(a, b, c="white", edgecolors="black", s=24, label="trials")
    ax.scatter(*surface.best, marker="*", s=180, c="tab:red", edgecolors="black",
               label=f"fit's best ({surface.best[0]:.2f}, {surface.best[1]:.2f})")
    ax.set_xlabel(names[0].replace("_", " "))
    ax.set_ylabel(names[1].replace("_", " "))
    ax.set_title(f"surrogate over the plane: LOO MAE {surface.loo_mae:.3g}, rho {surface.loo_spearman:.2f}", fontsize=8)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
