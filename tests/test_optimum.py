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
    opt = locate(*planted(0.96, noise=0.01, seeds=3), mode="min")
    assert 1.0 - opt.margin < opt.high < 1.0 and opt.low > 0.5
    assert not opt.interior
    assert "reaches the end of the swept range (1)" in describe("m", "code_ratio", opt)


def test_higher_is_better_metrics_are_maximised():
    x, y = planted(0.3, noise=0.01, seeds=2)
    up, down = locate(x, -y, mode="max"), locate(x, y, mode="min")
    assert (up.best, up.low, up.high) == pytest.approx((down.best, down.low, down.high), abs=0.03)
    assert abs(up.best - 0.3) <= 0.05 + 1e-9  # a grid point 0.05 away is within


@pytest.mark.parametrize("se", [None, 0.05])
def test_pure_noise_locates_nothing(se):
    x = np.repeat(RATIOS, 2)
    y = np.random.default_rng(3).normal(3.0, 0.05, len(x))
    opt = locate(x, y, mode="min", se=None if se is None else np.full(len(x), se))
    assert (opt.low, opt.high) == (0.0, 1.0) and not opt.interior and opt.p_flat >= 0.05
    assert "no optimum can be located" in describe("m", "code_ratio", opt)
    assert opt.noise == "seeds" and "noise from the scatter of 2+ seeds" in describe("m", "code_ratio", opt)


@pytest.mark.parametrize("grid", [RATIOS, np.linspace(0, 1, 5)])
@pytest.mark.parametrize("optimum", [0.3, 0.6])
def test_one_seed_with_its_standard_errors_locates_a_bowl_and_says_seed_noise_is_unmeasured(grid, optimum):
    """One value per point: the trials' own standard errors are the noise, so a bowl ~25 times
    deeper than its noise is found (with a fitted noise term it could be called flat)."""
    x = grid
    y = 3.0 + (x - optimum) ** 2 + np.random.default_rng(1).normal(0, 0.01, len(x))
    opt = locate(x, y, mode="min", se=np.full(len(x), 0.01))
    assert opt.p_flat < 0.05 and abs(opt.best - optimum) <= 0.1 and opt.low <= optimum <= opt.high
    said = describe("m", "code_ratio", opt)
    assert opt.noise == "measurement" and "seed noise not measured: one seed per point" in said
    assert "does not vary" not in said


def test_one_seed_slope_reaches_the_end_and_one_seed_flat_line_locates_nothing():
    se = np.full(len(RATIOS), 0.02)
    noise = np.random.default_rng(2).normal(0, 0.02, len(RATIOS))
    slope = locate(RATIOS, 5.6 - 3.8 * RATIOS + noise, mode="min", se=se)  # val_bpb_markup of the demo, roughly
    assert slope.p_flat < 0.05 and slope.best == 1.0 and not slope.interior
    assert "reaches the end of the swept range (1)" in describe("m", "code_ratio", slope)
    flat = locate(RATIOS, 3.0 + noise, mode="min", se=se)
    assert flat.p_flat >= 0.05 and (flat.low, flat.high) == (0.0, 1.0)


def test_planted_one_seed_curves_are_located_and_flat_ones_are_not():
    """20 bowls (optimum uniform in [0.1, 0.9], depth 10-50 times the noise) and 20 flat lines,
    one seed on the paper's six ratios: at least 18 bowls within 0.1, at most one flat line
    located (the bootstrap is not needed for either)."""
    rng = np.random.default_rng(7)
    found = wrongly = 0
    for _ in range(20):
        optimum, noise = rng.uniform(0.1, 0.9), rng.choice([0.005, 0.01, 0.02])
        depth = rng.uniform(10, 50) * noise / max(optimum, 1 - optimum) ** 2
        se = np.full(len(RATIOS), noise)
        bowl = locate(RATIOS, 3 + depth * (RATIOS - optimum) ** 2 + rng.normal(0, noise, len(RATIOS)), "min", se,
                      replicates=1)
        found += bowl.p_flat < 0.05 and abs(bowl.best - optimum) <= 0.1
        wrongly += locate(RATIOS, 3 + rng.normal(0, noise, len(RATIOS)), "min", se, replicates=1).p_flat < 0.05
    assert found >= 18 and wrongly <= 1, (found, wrongly)


def test_seed_noise_widens_the_interval():
    narrow = locate(*planted(0.5, noise=0.005, seeds=3), mode="min")
    wide = locate(*planted(0.5, noise=0.03, seeds=3), mode="min")
    assert wide.high - wide.low > narrow.high - narrow.low
