"""Shared test helpers."""

from __future__ import annotations

import numpy as np
import pytest

from diagnose.run import Run


def assert_same_run(actual: Run, expected: Run) -> None:
    """Two runs hold the same data: names (in order), epochs, values, logged and inf masks.

    NaN equals NaN; ``source``, ``format`` and ``notes`` are not compared.
    """
    assert actual.names == expected.names
    np.testing.assert_array_equal(actual.epochs, expected.epochs)
    for name in expected.names:
        np.testing.assert_array_equal(actual.series[name], expected.series[name], err_msg=name)
        np.testing.assert_array_equal(actual.logged[name], expected.logged[name], err_msg=name)
    assert set(actual.infinite) == set(expected.infinite)
    for name, signs in expected.infinite.items():
        np.testing.assert_array_equal(actual.infinite[name], signs, err_msg=name)


# --- data for the real Keras fits of the callback tests (scikit-learn, fixed seeds) ---

@pytest.fixture(scope="module")
def digits():
    """8x8 digit images, standardized: 1,200 rows, 10 classes."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    return x[:1200].astype("float32"), y[:1200]


@pytest.fixture(scope="module")
def moons():
    """Two interleaved half circles with noise: 1,000 rows, binary."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, noise=0.3, random_state=0)
    return x.astype("float32"), y.astype("float32")
