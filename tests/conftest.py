"""Shared test helpers."""

from __future__ import annotations

import numpy as np

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
