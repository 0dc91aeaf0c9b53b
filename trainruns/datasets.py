"""Dataset families: loaders with a FIXED random_state, and ``build_data``.

A family is one data-generating process. Its data never changes between runs:
only the spec's seed (initialisation, shuffling), the ``train_size`` subset and
the induced label noise vary. Nothing is downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

# The family split, fixed once: criteria are tuned on "calibration" and checked on
# "heldout". Each half covers classification and regression, binary and multi-class,
# and at least one conv or sequence architecture.
SPLIT = {
    "calibration": ("digits", "breast_cancer", "moons", "blobs5", "regression_unscaled",
                    "friedman1", "sequences", "noisy_labels"),
    "heldout": ("wine", "iris", "circles", "imbalanced", "hastie", "diabetes",
                "friedman3", "signals", "tokens"),
}
SPLIT_OF = {f: half for half, fams in SPLIT.items() for f in fams}

VOCAB = 50      # token ids 0..49 in the "tokens" family; 1 is the marker
MARKER = 1


def _digits():
    from sklearn.datasets import load_digits
    return load_digits(return_X_y=True)


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer
    return load_breast_cancer(return_X_y=True)


def _wine():
    from sklearn.datasets import load_wine
    return load_wine(return_X_y=True)


def _iris():
    from sklearn.datasets import load_iris
    return load_iris(return_X_y=True)


def _diabetes():
    from sklearn.datasets import load_diabetes
    return load_diabetes(return_X_y=True)


def _moons():
    from sklearn.datasets import make_moons
    return make_moons(n_samples=1000, noise=0.25, random_state=0)


def _circles():
    from sklearn.datasets import make_circles
    return make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=0)


def _blobs5():
    from sklearn.datasets import make_classification
    return make_classification(n_samples=1500, n_features=20, n_informative=10,
                               n_redundant=4, n_classes=5, n_clusters_per_class=1,
                               class_sep=1.5, random_state=0)


def _imbalanced():
    from sklearn.datasets import make_classification
    return make_classification(n_samples=1500, n_features=20, n_informative=6,
                               weights=[0.85, 0.15], class_sep=1.0, flip_y=0.01,
                               random_state=0)


def _hastie():
    from sklearn.datasets import make_hastie_10_2
    X, y = make_hastie_10_2(n_samples=2000, random_state=0)
    return X, (y > 0).astype(int)


def _noisy_labels():
    from sklearn.datasets import make_classification
    return make_classification(n_samples=1500, n_features=20, n_informative=8,
                               n_classes=3, n_clusters_per_class=1, flip_y=0.2,
                               random_state=0)


def _regression_unscaled():
    from sklearn.datasets import make_regression
    return make_regression(n_samples=1000, n_features=20, n_informative=10,
                           noise=10.0, random_state=0)


def _friedman1():
    from sklearn.datasets import make_friedman1
    return make_friedman1(n_samples=1000, n_features=10, noise=1.0, random_state=0)


def _friedman3():
    from sklearn.datasets import make_friedman3
    return make_friedman3(n_samples=1000, noise=0.1, random_state=0)


def _signals():
    """Noisy sine / square / sawtooth waves (64 steps), random frequency and phase."""
    rng = np.random.default_rng(0)
    n, t = 1200, np.arange(64)
    y = rng.integers(0, 3, n)
    freq = rng.uniform(1.5, 5.0, n)[:, None] / 64
    phase = rng.uniform(0, 1, n)[:, None]
    cyc = (t[None, :] * freq + phase) % 1.0
    waves = np.stack([np.sin(2 * np.pi * cyc), np.where(cyc < 0.5, 1.0, -1.0),
                      2 * cyc - 1])
    X = waves[y, np.arange(n)] + rng.normal(0, 0.6, (n, 64))
    return X[..., None], y


def _sequences():
    """Random walks of 20 steps; class 1 when the running sum ever exceeds 2."""
    rng = np.random.default_rng(0)
    X = rng.normal(0, 0.6, (1000, 20))
    y = (np.cumsum(X, axis=1).max(axis=1) > 2.0).astype(int)
    return X[..., None], y


def _tokens():
    """Token-id sequences (30 ids); class 1 when the marker token appears at least twice."""
    rng = np.random.default_rng(0)
    n = 1200
    X = rng.integers(2, VOCAB, (n, 30))
    y = rng.integers(0, 2, n)
    for i in range(n):  # class 0 still holds the marker once in half the rows
        k = 2 + rng.integers(0, 2) if y[i] else rng.integers(0, 2)
        X[i, rng.choice(30, size=k, replace=False)] = MARKER
    return X, y


@dataclass(frozen=True)
class Family:
    """How to load a family and what kind of input it gives the model."""

    loader: Callable
    task: str                  # "classification" | "regression"
    n_classes: int | None
    kind: str = "tabular"      # tabular | image | signal | sequence | tokens
    scale_y: bool = True       # standardize regression targets (fit on training rows)


FAMILIES = {
    "digits": Family(_digits, "classification", 10, "image"),
    "breast_cancer": Family(_breast_cancer, "classification", 2),
    "wine": Family(_wine, "classification", 3),
    "iris": Family(_iris, "classification", 3),
    "moons": Family(_moons, "classification", 2),
    "circles": Family(_circles, "classification", 2),
    "blobs5": Family(_blobs5, "classification", 5),
    "imbalanced": Family(_imbalanced, "classification", 2),
    "hastie": Family(_hastie, "classification", 2),
    "noisy_labels": Family(_noisy_labels, "classification", 3),
    "signals": Family(_signals, "classification", 3, "signal"),
    "sequences": Family(_sequences, "classification", 2, "sequence"),
    "tokens": Family(_tokens, "classification", 2, "tokens"),
    "diabetes": Family(_diabetes, "regression", None),
    "regression_unscaled": Family(_regression_unscaled, "regression", None, scale_y=False),
    "friedman1": Family(_friedman1, "regression", None),
    "friedman3": Family(_friedman3, "regression", None),
}
assert set(FAMILIES) == set(SPLIT_OF), "every family belongs to exactly one split half"


def build_data(family: str, train_size: int | None, validation: float | None,
               label_noise: float = 0.0, noise_seed: int = 0):
    """Return (X, y, n_fit): the exact arrays handed to fit().

    Rows get a fixed per-family permutation (some datasets are sorted by class and
    Keras' validation_split takes the LAST rows), then are cut to ``train_size``.
    ``n_fit`` is the number of rows Keras trains on (it splits at
    floor(n * (1 - validation))). Scalers are fit, and label noise is applied, on
    those training rows only, so the validation rows stay clean.
    """
    fam = FAMILIES[family]
    X, y = fam.loader()
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    perm = np.random.default_rng(12345).permutation(len(X))
    X, y = X[perm], y[perm]
    if train_size is not None:
        X, y = X[:train_size], y[:train_size]
    n = len(X)
    n_fit = math.floor(n * (1.0 - validation)) if validation else n
    if fam.kind in ("tabular", "image"):  # waves, walks and token ids are used as-is
        mu, sd = X[:n_fit].mean(0), X[:n_fit].std(0)
        X = (X - mu) / np.where(sd > 0, sd, 1.0)
    if fam.kind == "image":
        X = X.reshape(-1, 8, 8, 1)
    rng = np.random.default_rng(noise_seed + 777)
    idx = rng.choice(n_fit, size=round(label_noise * n_fit), replace=False)
    if fam.task == "classification":
        y = y.astype(np.int64)
        y[idx] = (y[idx] + rng.integers(1, fam.n_classes, size=len(idx))) % fam.n_classes
        y = y.astype(np.float32) if fam.n_classes == 2 else y
    else:
        y = y.astype(np.float64)
        # regression "label noise": the chosen training targets get noise of one target sd
        y[idx] += rng.normal(0, y[:n_fit].std(), size=len(idx))
        if fam.scale_y:
            y = (y - y[:n_fit].mean()) / y[:n_fit].std()
        y = y.astype(np.float32)
    X = X.astype(np.int32) if fam.kind == "tokens" else X.astype(np.float32)
    return X, y, n_fit


def chance_loss(family: str, y_fit) -> float:
    """Loss of the best CONSTANT predictor on the training rows ``y_fit``.

    Classification: entropy of the class prior (ln K when balanced). Regression
    (MSE): variance of the training targets.
    """
    fam = FAMILIES[family]
    if fam.task == "classification":
        p = np.bincount(np.asarray(y_fit).astype(int), minlength=fam.n_classes) / len(y_fit)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())
    return float(np.var(y_fit))
