"""The numerical tools behave as their textbook definitions say (synthetic curves)."""

from __future__ import annotations

import numpy as np
import pytest

from diagnose import curves


def test_theil_sen_recovers_a_line_and_ignores_outliers():
    x = np.arange(30, dtype=float)
    y = 2.0 - 0.05 * x
    y[[5, 17, 23]] += 3.0  # three wild spikes: least squares would tilt, Theil-Sen does not
    fit = curves.theil_sen(x, y)
    assert fit.slope == pytest.approx(-0.05, abs=1e-9)
    assert fit.falling and not fit.rising


def test_theil_sen_band_straddles_zero_on_pure_noise():
    rng = np.random.default_rng(3)
    fit = curves.theil_sen(np.arange(40.0), rng.normal(0, 1, 40))
    assert fit.low < 0 < fit.high


@pytest.mark.parametrize("sigma", [0.005, 0.05, 1.0])
def test_noise_scale_recovers_sigma_around_a_trend(sigma):
    rng = np.random.default_rng(0)
    x = np.arange(200.0)
    y = 0.3 + 2 * np.exp(-x / 20) + rng.normal(0, sigma, 200)
    assert curves.noise_scale(y) == pytest.approx(sigma, rel=0.25)


def test_noise_scale_never_drops_below_a_thousandth_of_the_range():
    # A perfectly smooth curve has no noise; the floor keeps ratios finite.
    y = 0.3 + 2 * np.exp(-np.arange(50.0) / 10)
    assert curves.noise_scale(y) == pytest.approx(1e-3 * np.ptp(y), rel=0.5)


def test_decay_fit_finds_asymptote_and_time_constant():
    x = np.arange(1, 101, dtype=float)
    y = 0.3 + 2 * np.exp(-(x - 1) / 15)
    fit = curves.fit_decay(x, y)
    assert fit.kind == "exp"
    assert fit.asymptote == pytest.approx(0.3, abs=0.01)
    assert fit.rate == pytest.approx(15, rel=0.05)
    assert fit.progress > 0.99
    assert float(fit.predict(200.0)) == pytest.approx(0.3, abs=0.01)


def test_decay_fit_says_a_straight_line_is_far_from_converged():
    x = np.arange(1, 31, dtype=float)
    fit = curves.fit_decay(x, 5.0 - 0.01 * x)
    assert fit is not None and fit.progress < 0.5


def test_decay_fit_refuses_a_rising_curve():
    x = np.arange(1, 20, dtype=float)
    assert curves.fit_decay(x, 0.1 * x) is None


def test_spikes_and_sign_changes():
    y = np.linspace(2, 1, 30)
    y[12] += 1.0
    sigma = curves.noise_scale(y)
    assert list(curves.spikes(y, curves.running_median(y, 5), sigma, 6.0)) == [12]
    zigzag = 1 + 0.1 * (-1) ** np.arange(20)
    assert curves.sign_changes(zigzag) == 1.0
    assert curves.sign_changes(np.linspace(1, 0, 20)) == 0.0
