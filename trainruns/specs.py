"""The spec grid: which fault is induced, how, on which data.

Runs come in GROUPS: one family, architecture and ``train_size``. Each group has a
healthy twin (a sensible configuration on exactly that data) whose outcome is
"what the task allows", and many variants with one fault induced in a recorded way
(``fault`` = "<condition>/<how>"). Rates are multiples of the family's healthy Adam
and SGD rates, so "10x too high" means the same thing on every family.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

from .datasets import FAMILIES, SPLIT_OF

H, HI, LO, OV, UN = "healthy", "lr_too_high", "lr_too_low", "overfitting", "underfitting"


@dataclass(frozen=True)
class Spec:
    """One training run. ``schedule``: "none" | "plateau" | "cosine" | "step";
    ``lr_logged``: add a callback that writes the current rate into the logs when no
    LR callback does (plateau and step make Keras log ``learning_rate`` themselves)."""

    run: str
    family: str
    group: str                 # twin's group: family/architecture/train_size
    architecture: str          # mlp | linear | conv1d | conv2d | lstm | gru | embedding
    fault: str
    intended: tuple
    hidden: tuple = (64,)
    width: int = 16            # conv filters, recurrent units or embedding size
    l2: float = 0.0
    dropout: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    schedule: str = "none"
    lr_logged: bool = False
    epochs: int = 40
    batch_size: int = 32
    validation: float | None = 0.2
    validation_freq: int = 1
    train_size: int | None = None
    label_noise: float = 0.0
    seed: int = 0

    @property
    def split(self) -> str:
        return SPLIT_OF[self.family]

    @property
    def task(self) -> str:
        return FAMILIES[self.family].task

    @property
    def n_classes(self):
        return FAMILIES[self.family].n_classes

    @property
    def is_twin(self) -> bool:
        return self.fault == "healthy/twin"


# Per family: architectures, (small, large) train sizes, healthy Adam and SGD-momentum
# rates, epochs, twin hidden layers; whether a linear model underfits it (nonlinear task).
@dataclass(frozen=True)
class Base:
    archs: tuple
    sizes: tuple
    lr: float = 1e-3
    sgd: float = 0.02
    epochs: int = 40
    hidden: tuple = (64,)
    nonlinear: bool = False


BASES = {
    "digits": Base(("mlp", "conv2d"), (400, None), epochs=30),
    "breast_cancer": Base(("mlp",), (250, None), hidden=(32,)),
    "wine": Base(("mlp",), (100, None), lr=3e-3, epochs=60, hidden=(32,)),
    "iris": Base(("mlp",), (90, None), lr=3e-3, epochs=80, hidden=(16,)),
    "moons": Base(("mlp",), (300, None), lr=3e-3, hidden=(32, 32), nonlinear=True),
    "circles": Base(("mlp",), (300, None), lr=3e-3, hidden=(32, 32), nonlinear=True),
    "blobs5": Base(("mlp",), (400, None), epochs=30),
    "imbalanced": Base(("mlp",), (400, None), epochs=30, hidden=(32,)),
    "hastie": Base(("mlp",), (500, None), epochs=30, hidden=(64, 32), nonlinear=True),
    "noisy_labels": Base(("mlp",), (400, None), epochs=30, hidden=(32,)),
    "signals": Base(("conv1d",), (400, None), lr=3e-3, epochs=30, hidden=(32,)),
    "sequences": Base(("lstm", "gru"), (400, None), lr=3e-3, epochs=20, hidden=()),
    "tokens": Base(("embedding",), (400, None), lr=3e-3, epochs=30, hidden=(16,)),
    "diabetes": Base(("mlp",), (200, None), lr=3e-3, epochs=60, hidden=(32,)),
    "regression_unscaled": Base(("mlp",), (300, None), lr=1e-2, sgd=1e-4, epochs=50),
    "friedman1": Base(("mlp",), (300, None), epochs=50, hidden=(64, 64), nonlinear=True),
    "friedman3": Base(("mlp",), (300, None), epochs=50, hidden=(64, 64), nonlinear=True),
}


def _variants(b: Base, arch: str, small: bool) -> list[tuple[str, tuple, dict]]:
    """(fault, intended, overrides) for one group; rates relative to the family's."""
    lr, sgd, E = b.lr, b.sgd, b.epochs
    dense = arch in ("mlp", "linear")
    big = {"hidden": (256, 256)} if dense else {"hidden": (256,), "width": 64}
    tiny = {"hidden": (1,)} if dense else {"hidden": (1,), "width": 1}
    ov_val = 0.5 if small else 0.3
    E2 = min(2 * E, 80)  # long enough to overfit, short enough for a few seconds a run
    v = [
        # healthy: usual rates for each optimizer, schedules, no validation, batch sizes
        ("healthy/sgd_momentum", (H,), dict(optimizer="sgd", learning_rate=sgd, momentum=0.9)),
        ("healthy/rmsprop", (H,), dict(optimizer="rmsprop", learning_rate=lr)),
        ("healthy/adamw_cosine", (H,), dict(optimizer="adamw", learning_rate=2 * lr,
                                            schedule="cosine", lr_logged=True)),
        ("healthy/nadam_plateau", (H,), dict(optimizer="nadam", learning_rate=lr,
                                             schedule="plateau")),
        ("healthy/step_noval", (H,), dict(learning_rate=2 * lr, schedule="step",
                                          validation=None)),
        ("healthy/adagrad", (H,), dict(optimizer="adagrad", learning_rate=30 * lr,
                                       lr_logged=True)),
        ("healthy/valfreq2_bs64", (H,), dict(validation_freq=2, batch_size=64,
                                             epochs=E + 10, lr_logged=True)),
        ("healthy/bs16_noval", (H,), dict(batch_size=16, validation=None)),
        # lr_too_high
        ("lr_too_high/nan", (HI,), dict(optimizer="sgd", learning_rate=1000 * sgd, epochs=15)),
        ("lr_too_high/nan_momentum", (HI,), dict(optimizer="sgd", learning_rate=300 * sgd,
                                                 momentum=0.9, epochs=20, validation=None)),
        ("lr_too_high/collapse", (HI,), dict(optimizer="sgd", learning_rate=500 * sgd,
                                             epochs=30)),
        ("lr_too_high/diverge", (HI,), dict(optimizer="sgd", learning_rate=100 * sgd,
                                            momentum=0.9, epochs=30)),
        ("lr_too_high/oscillate_adam", (HI,), dict(learning_rate=100 * lr)),
        ("lr_too_high/spikes_adam", (HI,), dict(learning_rate=300 * lr, epochs=30)),
        ("lr_too_high/oscillate_rmsprop", (HI,), dict(optimizer="rmsprop",
                                                      learning_rate=100 * lr)),
        ("lr_too_high/noisy_plateau_noval", (HI,), dict(optimizer="rmsprop",
                                                        learning_rate=300 * lr,
                                                        validation=None, lr_logged=True)),
        ("lr_too_high/nadam_spikes", (HI,), dict(optimizer="nadam", learning_rate=500 * lr,
                                                 epochs=30)),
        ("lr_too_high/adam_plateau", (HI,), dict(learning_rate=200 * lr, schedule="plateau",
                                                 epochs=30)),
        ("lr_too_high/sgd_cosine", (HI,), dict(optimizer="sgd", learning_rate=200 * sgd,
                                               momentum=0.9, schedule="cosine",
                                               lr_logged=True, epochs=30)),
        # lr_too_low: flat from the first epoch, or a slow straight creep
        ("lr_too_low/flat_adam_1e-4x", (LO,), dict(learning_rate=1e-4 * lr)),
        ("lr_too_low/flat_adam_1e-3x", (LO,), dict(learning_rate=1e-3 * lr, lr_logged=True)),
        ("lr_too_low/flat_sgd", (LO,), dict(optimizer="sgd", learning_rate=5e-4 * sgd)),
        ("lr_too_low/flat_rmsprop_valfreq2", (LO,), dict(optimizer="rmsprop",
                                                         learning_rate=1e-3 * lr,
                                                         validation_freq=2)),
        ("lr_too_low/creep_adam", (LO,), dict(learning_rate=1e-2 * lr)),
        ("lr_too_low/creep_sgd", (LO,), dict(optimizer="sgd", learning_rate=5e-3 * sgd)),
        ("lr_too_low/creep_sgd_noval", (LO,), dict(optimizer="sgd", learning_rate=5e-2 * sgd,
                                                   validation=None)),
        ("lr_too_low/creep_adagrad", (LO,), dict(optimizer="adagrad", learning_rate=lr,
                                                 batch_size=64)),
        # underfitting: too little capacity, heavy L2 / dropout, too few epochs
        ("underfitting/one_unit", (UN,), dict(tiny)),
        ("underfitting/two_units_noval", (UN,), dict({**tiny, "hidden": (2,)},
                                                     validation=None)),
        ("underfitting/l2", (UN,), dict(l2=1.0)),
        ("underfitting/l2_plateau", (UN,), dict(l2=3.0, schedule="plateau")),
        ("underfitting/dropout_0.9", (UN,), dict(dropout=0.9)),
        ("underfitting/dropout_0.7_bs128", (UN,), dict(dropout=0.7, hidden=(8,),
                                                       batch_size=128)),
        ("underfitting/few_epochs", (UN,), dict(epochs=6 if small else 3)),
        ("underfitting/few_epochs_sgd", (UN,), dict(optimizer="sgd", learning_rate=sgd,
                                                    momentum=0.9, epochs=4, batch_size=64)),
        # overfitting: big model, label noise on training rows, long runs
        ("overfitting/big_model", (OV,), dict(big, validation=ov_val, epochs=E2)),
        ("overfitting/label_noise", (OV,), dict(big, label_noise=0.3, validation=ov_val,
                                                epochs=E2)),
        ("overfitting/long_rmsprop", (OV,), dict(big, optimizer="rmsprop", validation=ov_val,
                                                 epochs=E2)),
        ("overfitting/gap_widens", (OV,), dict(big, dropout=0.2, validation=ov_val,
                                               epochs=min(3 * E, 100), batch_size=64)),
        ("overfitting/valfreq2", (OV,), dict(big, validation=ov_val, validation_freq=2,
                                             epochs=E2, lr_logged=True)),
    ]
    if dense and b.nonlinear:
        v.append(("underfitting/linear_model", (UN,), dict(hidden=(), learning_rate=3 * lr)))
    return v


def _seed(name: str) -> int:
    return zlib.crc32(name.encode()) % 100_000


def grid() -> list[Spec]:
    """Every spec of the corpus: per group, its twin first, then the variants."""
    specs = []
    for family, b in BASES.items():
        full = len(FAMILIES[family].loader()[0])
        for arch in b.archs:
            for small in (True, False):
                size = b.sizes[0] if small else b.sizes[1]
                n = size or full
                group = f"{family}.{arch}.n{n}"
                twin = Spec(run=f"{group}.twin", family=family, group=group,
                            architecture=arch, fault="healthy/twin", intended=(H,),
                            hidden=b.hidden, learning_rate=b.lr, epochs=b.epochs,
                            validation=0.3 if small else 0.2, train_size=size,
                            seed=_seed(group))
                specs.append(twin)
                for fault, intended, kw in _variants(b, arch, small):
                    kw = dict(kw)
                    name = f"{group}.{fault.replace('/', '.')}"
                    if fault == "underfitting/linear_model":
                        kw["architecture"] = "linear"
                    specs.append(replace(twin, run=name, fault=fault, intended=intended,
                                         seed=_seed(name), **kw))
    names = [s.run for s in specs]
    assert len(names) == len(set(names)), "duplicate run names"
    return specs
