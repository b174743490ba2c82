"""The statistics of a mixture search's checks (sweeps/mixture_checks.py), without training:
the paired gain over the prior, and how alike two sizes rank the same mixtures."""

import numpy as np
import pandas as pd
import pytest

from sweeps.mixture_checks import decisions, paired_gain, spread


def test_the_gain_is_paired_by_seed_and_signed_so_positive_is_better():
    prior = np.array([1.00, 1.10, 0.95])
    proposal = prior - 0.02 + np.array([0.001, -0.001, 0.0])  # a lower loss on every seed
    g = paired_gain(proposal, prior, "min")
    assert g["gain"] == pytest.approx(0.02) and 0 < g["low"] < g["gain"] < g["high"] and g["seeds"] == 3
    assert paired_gain(proposal, prior, "max")["gain"] == pytest.approx(-0.02)


def test_rankings_alike_disagreeing_and_within_noise():
    small = np.array([1.0, 1.1, 1.2, 1.3, 1.4, 1.5])
    same = decisions(small, small * 2 + 3, 0.0, 0.0, resamples=200)
    assert same["decision_accuracy"] == 1 and same["spearman"] == pytest.approx(1) and same["pairs"] == 15
    flipped = decisions(small, -small, 0.0, 0.0, resamples=200)
    assert flipped["decision_accuracy"] == 0 and flipped["spearman"] == pytest.approx(-1)
    noisy = decisions(small, small, 0.03, 0.0, resamples=200)  # neighbours 0.1 apart: more than twice 0.03
    assert noisy["ties"] == 0
    tied = decisions(small, small, 0.06, 0.0, resamples=200)    # neighbours within twice the noise: ties
    assert tied["ties"] == 5 and tied["pairs"] == 10 and tied["decision_accuracy"] == 1
    assert tied["decision_accuracy_low"] <= tied["decision_accuracy"] <= tied["decision_accuracy_high"]


def test_the_transferred_mixtures_run_from_best_to_worst():
    means = pd.Series([3.0, 1.0, 2.0, 5.0, 4.0], index=list("abcde"))
    assert spread(means, 3) == ["b", "a", "d"]  # the best, the middle and the worst (lowest first)
    assert spread(means, 10) == ["b", "c", "a", "e", "d"]
