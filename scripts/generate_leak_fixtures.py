#!/usr/bin/env python3
"""Regenerate fixtures/leakage/: real Keras runs whose validation set leaks or is easier.

The leakage warning (diagnose/warnings.py) fires when the validation loss
stays below the training loss beyond what Keras' own bookkeeping explains.
Its thresholds are set on the calibration corpus, where no run leaks; these
runs are the positive examples it is checked against, and each comes with an
honest twin (the same data, model and seed, validated on held-out rows) that
must stay silent.

Every run is a REAL ``model.fit()`` of a small Keras MLP on scikit-learn data
(bundled or generated, nothing downloaded), logged by
``keras.callbacks.CSVLogger``; nothing is drawn or edited. The ways a
validation set goes wrong, each one met in practice:

- ``overlap``: the validation rows are a sample of the training rows
  (``validation_data=(x_train[:n], ...)``, or one array passed twice);
- ``half_overlap``: half of the validation rows are training rows;
- ``oversampled``: every row copied three times (oversampling, or
  augmentation) BEFORE the split, so almost every validation row has a copy
  in training;
- ``overlap_dropout``: ``overlap`` with ``Dropout(0.5)``, where dropout alone
  would already put the validation loss below the training loss;
- ``clean_val``: 30% of the training labels are wrong, the validation
  labels are clean: a validation set easier than training;
- ``clean_val_dropout``: the same with ``Dropout(0.5)``, which keeps the
  model from memorizing the wrong labels;
- ``easy_val``: the validation rows are drawn from the 40% of rows a linear
  model gets most right (a curated or filtered validation set), training
  keeps every hard row;
- ``honest`` and ``honest_dropout`` (``Dropout(0.5)``): the twins, validated
  on held-out rows (not positives).

    python scripts/generate_leak_fixtures.py            # all runs, about 15 minutes on 2 cores
    python scripts/generate_leak_fixtures.py --only digits_overlap

This script does not import ``diagnose``: what each run is comes from how it
was made, never from the tool that judges it. ``labels.tsv`` lists every run
with its kind and whether it leaks (``leak`` 1/0).
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "leakage"
KINDS = ("honest", "honest_dropout", "overlap", "half_overlap", "oversampled", "overlap_dropout",
         "clean_val", "clean_val_dropout", "easy_val")
LEAKS = {"honest": 0, "honest_dropout": 0}  # every other kind is a positive example
DROPOUT = {"honest_dropout": 0.5, "overlap_dropout": 0.5, "clean_val_dropout": 0.5}


def _data(name: str):
    """(X, y, task, classes) with a fixed random_state: the data never changes."""
    from sklearn import datasets

    if name == "digits":
        x, y = datasets.load_digits(return_X_y=True)
        return x, y, "classification", 10
    if name == "cancer":
        x, y = datasets.load_breast_cancer(return_X_y=True)
        return x, y, "classification", 2
    if name == "wine":
        x, y = datasets.load_wine(return_X_y=True)
        return x, y, "classification", 3
    if name == "moons":
        x, y = datasets.make_moons(n_samples=1000, noise=0.3, random_state=0)
        return x, y, "classification", 2
    if name == "cls5":
        x, y = datasets.make_classification(n_samples=1200, n_features=20, n_informative=8,
                                            n_classes=5, flip_y=0.05, random_state=0)
        return x, y, "classification", 5
    if name == "friedman":
        x, y = datasets.make_friedman1(n_samples=1000, noise=1.0, random_state=0)
        return x, y, "regression", 0
    if name == "diabetes":
        x, y = datasets.load_diabetes(return_X_y=True)
        return x, (y - y.mean()) / y.std(), "regression", 0
    raise KeyError(name)


DATASETS = ("digits", "cancer", "wine", "moons", "cls5", "friedman", "diabetes")


def _easy_rows(x, y, classes: int) -> np.ndarray:
    """Row indices, easiest first: how well a linear model fitted on all rows does on each."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if classes:
        model = LogisticRegression(max_iter=2000).fit(x, y)
        score = -model.predict_proba(x)[np.arange(len(y)), np.searchsorted(model.classes_, y)]
    else:
        score = np.abs(Ridge().fit(x, y).predict(x) - y)
    return np.argsort(score, kind="stable")


def _split(x, y, kind: str, classes: int, rng: np.random.Generator):
    """(x_train, y_train, x_val, y_val) for one kind of validation set."""
    n = len(x)
    if kind == "oversampled":
        # Copies made before the split (oversampling or augmentation): most validation
        # rows have a copy, slightly jittered, in training.
        x = np.concatenate([x, x, x]) + rng.normal(0, 0.01, (3 * n, x.shape[1])) * x.std(0)
        y = np.concatenate([y, y, y])
        n = len(x)
    order = rng.permutation(n)
    n_val = n // 5
    if kind == "easy_val":
        easy = _easy_rows(x, y, classes)[: 2 * n // 5]
        val = rng.choice(easy, n_val, replace=False)
        order = np.concatenate([val, np.setdiff1d(order, val)])
    val, train = order[:n_val], order[n_val:]
    x_train, y_train = x[train], y[train].copy()
    if kind in ("overlap", "overlap_dropout"):
        val = rng.choice(train, n_val, replace=False)
    elif kind == "half_overlap":
        val = np.concatenate([val[: n_val // 2], rng.choice(train, n_val - n_val // 2,
                                                           replace=False)])
    x_val, y_val = x[val], y[val]
    if kind.startswith("clean_val"):
        # Wrong labels in training only; the validation labels were checked by hand.
        flip = rng.random(len(y_train)) < 0.3
        if classes:
            y_train[flip] = (y_train[flip] + rng.integers(1, classes, flip.sum())) % classes
        else:
            y_train[flip] = rng.permutation(y_train[flip])
    return x_train, y_train, x_val, y_val


def train(dataset: str, kind: str, epochs: int = 60, seed: int = 0) -> str:
    """Fit one run; returns the text CSVLogger wrote."""
    import keras
    import tensorflow as tf
    from sklearn.preprocessing import StandardScaler

    tf.config.experimental.enable_op_determinism()
    x, y, task, classes = _data(dataset)
    x = StandardScaler().fit_transform(x)
    rng = np.random.default_rng(seed)
    x_train, y_train, x_val, y_val = _split(x, y, kind, classes, rng)
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((x.shape[1],))]
    for _ in range(2):
        layers.append(keras.layers.Dense(64, activation="relu"))
        if kind in DROPOUT:
            layers.append(keras.layers.Dropout(DROPOUT[kind]))
    if task == "regression":
        layers.append(keras.layers.Dense(1))
        loss, metrics = "mse", ["mae"]
    else:
        layers.append(keras.layers.Dense(classes, activation="softmax"))
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=metrics)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs,
                  batch_size=32, verbose=0, callbacks=[keras.callbacks.CSVLogger(str(path))])
        return path.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", help="run names (<dataset>_<kind>)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = [(d, k) for d in DATASETS for k in KINDS]
    if args.only:
        names = [(d, k) for d, k in names if f"{d}_{k}" in args.only]
    for dataset, kind in names:
        name = f"{dataset}_{kind}"
        (args.out / f"{name}.csv").write_text(train(dataset, kind))
        print(name, flush=True)
    rows = [{"run": f"{d}_{k}", "dataset": d, "kind": k, "leak": LEAKS.get(k, 1)}
            for d in DATASETS for k in KINDS if (args.out / f"{d}_{k}.csv").exists()]
    with (args.out / "labels.tsv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["run", "dataset", "kind", "leak"], delimiter="\t",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
