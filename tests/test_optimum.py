"""The optimum of a swept metric: planted curves are found, noise is not mistaken for one."""

import numpy as np
import pytest

from sweeps.optimum import describe, locate

RATIOS = np.array([0.0, 0.25, 0.5, 0.75, 0.9, 1.0])


def planted(optimum: float, noise: float, seeds: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.repeat(RATIOS, seeds)
    return x, 3.0 + (x - optimum) ** 2 + rng.normal(0, noise, len(x))


@pytest.mark.parametrize("optimum", [0.3, 0.6])
def test_a_planted_interior_optimum_is_found_inside_a_narrow_interval(optimum):
    opt = locate(*planted(optimum, noise=0.01, seeds=3), mode="min")
    assert abs(opt.best - optimum) <= 0.05
    assert opt.low <= optimum <= opt.high and opt.high - opt.low < 0.3
    assert opt.interior and "is best at code ratio" in describe("m", "code_ratio", opt)
    assert opt.loo_spearman > 0.8 and opt.loo_mae < 0.05  # the fit predicts trials it has not seen


def test_an_optimum_at_the_end_of_the_range_is_not_called_interior():
    opt = locate(*planted(0.0, noise=0.01, seeds=2), mode="min")
    assert opt.low == 0.0 and not opt.interior
    assert "no interior optimum" in describe("m", "code_ratio", opt)


def test_an_interval_stopping_just_short_of_the_end_still_reaches_it():
    """0.99 of [0, 1] is the end for a grid whose points are 0.1 apart: the interval must stop
    a quarter of that gap inside (the laptop study's code metrics ended at 0.98-0.99)."""
    opt = locate(*planted(0.93, noise=0.01, seeds=3), mode="min")
    assert 1.0 - opt.margin < opt.high < 1.0 and opt.low > 0.5
    assert not opt.interior
    assert "reaches the end of the swept range (1)" in describe("m", "code_ratio", opt)


def test_higher_is_better_metrics_are_maximised():
    x, y = planted(0.3, noise=0.01, seeds=2)
    up, down = locate(x, -y, mode="max"), locate(x, y, mode="min")
    assert (up.best, up.low, up.high) == pytest.approx((down.best, down.low, down.high), abs=0.03)
    assert abs(up.best - 0.3) <= 0.05


def test_pure_noise_locates_nothing():
    x = np.repeat(RATIOS, 2)
    y = np.random.default_rng(3).normal(3.0, 0.05, len(x))
    opt = locate(x, y, mode="min")
    assert (opt.low, opt.high) == (0.0, 1.0) and not opt.interior and opt.p_flat >= 0.05
    assert "no optimum can be located" in describe("m", "code_ratio", opt)


def test_seed_noise_widens_the_interval():
    narrow = locate(*planted(0.5, noise=0.005, seeds=3), mode="min")
    wide = locate(*planted(0.5, noise=0.03, seeds=3), mode="min")
    assert wide.high - wide.low > narrow.high - narrow.low
