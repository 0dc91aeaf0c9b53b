"""Invariants of the engine, stated as hypothesis properties over synthetic curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnose import diagnose
from diagnose.run import Run

from .synthetic import decaying

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def loss_runs(draw, allow_nan: bool = False):
    """Train/val loss curves of many shapes: converging, overfitting, spiking, flat, diverging."""
    n = draw(st.integers(4, 80))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    tau = draw(st.floats(0.5, 200.0))
    noise = draw(st.floats(0.0, 0.2))
    train = decaying(n, start=2.0, floor=0.1, tau=tau, noise=noise, seed=seed)
    x = np.arange(n, dtype=float)
    turn = draw(st.integers(0, n))
    rise = draw(st.floats(0.0, 0.05))
    val = train + draw(st.floats(0.0, 0.5)) + rise * np.maximum(x - turn, 0.0)
    val = val + rng.normal(0.0, noise, n)
    if draw(st.booleans()):
        for i in draw(st.lists(st.integers(0, n - 1), max_size=3)):
            train[i] += draw(st.floats(0.0, 3.0))
    if draw(st.booleans()):  # climbing at the end (divergence)
        train = train + draw(st.floats(0.0, 0.1)) * np.maximum(x - draw(st.integers(0, n)), 0.0)
    if allow_nan:
        onset = draw(st.integers(0, n - 1))
        train[onset:] = math.nan
    return {"loss": train.tolist(), "val_loss": val.tolist()}


def conditions(history: dict) -> tuple[str, ...]:
    return diagnose(Run.from_columns("synthetic", history)).conditions


@SETTINGS
@given(loss_runs(), st.floats(1e-2, 1e2))
def test_scaling_every_loss_keeps_the_verdict(history, factor):
    scaled = {k: [v * factor for v in vs] for k, vs in history.items()}
    assert conditions(scaled) == conditions(history)


@SETTINGS
@given(loss_runs(), st.floats(-1.0, 10.0))
def test_adding_a_constant_to_every_loss_keeps_the_verdict(history, constant):
    # A weight penalty adds a roughly constant term to the reported loss; the
    # diagnosis must not depend on it. (Chance-level checks are absolute by
    # definition and need an accuracy series, which these runs do not log.)
    shifted = {k: [v + constant for v in vs] for k, vs in history.items()}
    assert conditions(shifted) == conditions(history)


@SETTINGS
@given(st.integers(5, 80), st.integers(0, 2**31 - 1), st.floats(1e-4, 1.0), st.floats(1e-4, 1.0))
def test_strictly_falling_train_and_val_is_never_overfitting(n, seed, step_t, step_v):
    rng = np.random.default_rng(seed)
    train = 3.0 - np.cumsum(rng.uniform(step_t * 0.1, step_t, n))
    val = 3.5 - np.cumsum(rng.uniform(step_v * 0.1, step_v, n))
    assert "overfitting" not in conditions({"loss": train.tolist(), "val_loss": val.tolist()})


@SETTINGS
@given(loss_runs(allow_nan=True))
def test_nan_in_the_loss_is_always_reported(history):
    report = diagnose(Run.from_columns("synthetic", history))
    assert "lr_too_high" in report.conditions or any(f.rule == "loss-nan" for f in report.findings)


@SETTINGS
@given(loss_runs(), st.randoms(use_true_random=False))
def test_column_order_never_matters(history, random):
    history = dict(history, accuracy=list(np.linspace(0.3, 0.9, len(history["loss"]))))
    keys = list(history)
    random.shuffle(keys)
    shuffled = {k: history[k] for k in keys}
    a = diagnose(Run.from_columns("synthetic", history)).to_dict()
    b = diagnose(Run.from_columns("synthetic", shuffled)).to_dict()
    assert a == b


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.none(),
    st.floats(-1e6, 1e6),
)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@settings(max_examples=150, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["loss", "val_loss", "accuracy", "val_accuracy", "lr", "mae", "val_mae",
                     "out1_loss", "val_out1_loss", "weird_thing"]),
    st.lists(finite_or_not, min_size=0, max_size=40),
    min_size=1,
))
def test_no_generated_input_crashes_the_engine(columns):
    n = max(len(v) for v in columns.values())
    columns = {k: v + [None] * (n - len(v)) for k, v in columns.items()}
    columns = {("learning_rate" if k == "lr" else k): v for k, v in columns.items()}
    report = diagnose(Run.from_columns("synthetic", columns))
    report.to_json()  # serialisable: no NaN leaks into the JSON
    assert set(report.conditions) <= {"overfitting", "underfitting", "lr_too_high", "lr_too_low",
                                      "healthy"}
