"""Regenerate fixtures/kerastuner/: real KerasTuner project directories.

Each directory is what ``keras_tuner`` itself writes (``oracle.json``,
``tuner0.json``, ``trial_*/trial.json``, ``trial_*/build_config.json``) for a
real search over small Keras models on scikit-learn's bundled digits (nothing
downloaded), with a learning-rate range wide enough (1e-4 .. 1.0) that some
trials blow up. Only the checkpoint weights are left out of the committed copy.

KerasTuner's built-in tuners record one observation per metric in
``trial.json``: the metrics of the trial's best epoch, at ``step`` = that
epoch's index within the trial's ``fit()``. The per-epoch curve is recorded
only when the tuner reports every epoch to the oracle, which is the override
KerasTuner's maintainers point users to for per-epoch history (and what
KerasTuner 1.0's plain ``Tuner`` did itself): ``on_epoch_end`` calling
``oracle.update_trial(trial_id, logs, step=epoch)``, with ``step`` the Keras
epoch (0-based, counted from ``initial_epoch``). Both layouts are kept:

    random_search/            RandomSearch, every epoch reported (10 trials x 10 epochs)
    hyperband/                Hyperband, every epoch reported (brackets, continued trials)
    random_search_default/    RandomSearch as it runs out of the box: best epoch only (6 trials)
    hyperband_default/        Hyperband as it runs out of the box: best epoch only

    python scripts/generate_tuner_fixtures.py     # needs the test extra (keras-tuner, scikit-learn)

About 5 minutes on 2 CPU cores (KerasTuner spends seconds on each trial). The
two layouts of each tuner run the same search with the same seeds, so the
``*_default`` trials are the best epochs of their per-epoch twins: the tests
check the step numbering against them. Seeds are fixed and TensorFlow's ops made
deterministic, so a rerun on the same machine writes the same numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras
import keras_tuner as kt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from trainruns.train import configure_tf

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "kerastuner"
SEED = 7
EPOCHS = 10  # for RandomSearch; Hyperband decides each trial's epochs (max_epochs=9)
# What the committed copy keeps of a project: the JSON files KerasTuner writes.
KEEP_SUFFIXES = (".json",)


def digits():
    """Digits, standardized, split once: 1,437 training and 360 validation images."""
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=0,
                                                      stratify=y)
    scaler = StandardScaler().fit(x_train)
    return (scaler.transform(x_train).astype("float32"), y_train,
            scaler.transform(x_val).astype("float32"), y_val)


def build_model(hp: kt.HyperParameters) -> keras.Model:
    """A one- or two-layer MLP; every setting a hyperparameter."""
    keras.utils.set_random_seed(SEED)  # each trial's initialization independent of the order
    units = hp.Int("units", 16, 128, step=16)
    layers = hp.Int("layers", 1, 2)
    dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
    l2 = hp.Float("l2", 1e-6, 1e-2, sampling="log")
    rate = hp.Float("learning_rate", 1e-4, 1.0, sampling="log")
    optimizer = hp.Choice("optimizer", ["adam", "sgd"])
    model = keras.Sequential([keras.Input((64,))])
    for _ in range(layers):
        model.add(keras.layers.Dense(units, activation="relu",
                                     kernel_regularizer=keras.regularizers.L2(l2)))
        if dropout:
            model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(10, activation="softmax"))
    opt = (keras.optimizers.Adam(rate) if optimizer == "adam"
           else keras.optimizers.SGD(rate, momentum=0.9))
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class EpochReporting:
    """Report every epoch's logs to the oracle, so ``trial.json`` keeps the whole curve.

    Mixed into a built-in tuner. ``step`` is the Keras epoch (0-based; a Hyperband
    trial that continues another starts at its ``tuner/initial_epoch``).
    """

    def on_epoch_end(self, trial, model, epoch, logs=None):
        self.oracle.update_trial(trial.trial_id, dict(logs or {}), step=epoch)


class EpochRandomSearch(EpochReporting, kt.RandomSearch):
    pass


class EpochHyperband(EpochReporting, kt.Hyperband):
    pass


def search(name: str, tuner_class, work: Path, data, **kwargs) -> Path:
    x_train, y_train, x_val, y_val = data
    tuner = tuner_class(build_model, objective="val_loss", directory=str(work),
                        project_name=name, overwrite=True, seed=SEED, **kwargs)
    fit = {"batch_size": 64, "verbose": 0, "validation_data": (x_val, y_val)}
    if not issubclass(tuner_class, kt.Hyperband):
        fit["epochs"] = EPOCHS
    start = time.time()
    with warnings.catch_warnings():
        # The per-epoch reporters call oracle.update_trial themselves, which
        # KerasTuner marks as the older way: the files it writes are the same.
        warnings.simplefilter("ignore", DeprecationWarning)
        tuner.search(x_train, y_train, **fit)
    trials = len(tuner.oracle.trials)
    print(f"{name}: {trials} trials in {time.time() - start:.0f} s", flush=True)
    return work / name


def keep(project: Path, out: Path) -> int:
    """Copy a project's JSON files (no checkpoint weights) to ``out``; returns the bytes kept."""
    if out.exists():
        shutil.rmtree(out)
    total = 0
    for path in sorted(project.rglob("*")):
        if path.is_file() and path.name.endswith(KEEP_SUFFIXES):
            target = out / path.relative_to(project)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            total += path.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args()
    configure_tf(threads=2)
    data = digits()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        projects = {
            "random_search": search("random_search", EpochRandomSearch, work, data,
                                    max_trials=10),
            "hyperband": search("hyperband", EpochHyperband, work, data,
                                max_epochs=9, factor=3),
            "random_search_default": search("random_search_default", kt.RandomSearch, work,
                                            data, max_trials=6),
            "hyperband_default": search("hyperband_default", kt.Hyperband, work, data,
                                        max_epochs=9, factor=3),
        }
        for name, project in projects.items():
            size = keep(project, args.out / name)
            print(f"  {args.out / name}: {size:,} bytes kept")


if __name__ == "__main__":
    main()
