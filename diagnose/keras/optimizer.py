"""The few things the callback does to a Keras optimizer, the Keras 3 way.

Reading and setting the learning rate follows ``ReduceLROnPlateau``: read
``optimizer.learning_rate``, assign a float to it. An optimizer built with a
``LearningRateSchedule`` (or a callable) has no rate to assign; Keras raises
``TypeError`` there, so :func:`settable` asks first. A rewind also restores
the optimizer's own state (Adam's moments, the iteration count): moments left
NaN by a blown-up step would poison the restored weights at the next step.
"""

from __future__ import annotations

import keras
import numpy as np


def learning_rate(optimizer) -> float | None:
    """The current learning rate as a float (a schedule evaluated now), or None."""
    if optimizer is None or hasattr(optimizer, "optimizers"):
        return None
    rate = optimizer.learning_rate
    if isinstance(rate, keras.Variable):
        rate = rate.numpy()  # float() fails on a MirroredVariable's value; numpy() reads replica 0
    return float(rate)


def class_name(optimizer) -> str | None:
    """The optimizer's class name in ``keras.optimizers`` ("SGD"), for code snippets.

    Under mixed precision, the class of the optimizer the ``LossScaleOptimizer``
    wraps. None for a class that ``keras.optimizers`` does not hold (a custom
    one, a multi-optimizer): a snippet cannot name it as ``keras.optimizers.X``.
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    name = type(inner).__name__
    known = inner is not None and getattr(keras.optimizers, name, None) is type(inner)
    return name if known else None


def settable(optimizer) -> bool:
    """True when the learning rate is a variable that can be assigned.

    False for a ``LearningRateSchedule`` or a callable, and for a
    multi-optimizer (one rate per part of the model: which one to lower is
    not the callback's guess to make).
    """
    if optimizer is None or hasattr(optimizer, "optimizers"):
        return False
    return isinstance(optimizer.learning_rate, keras.Variable)


def set_learning_rate(optimizer, value: float) -> None:
    optimizer.learning_rate = float(value)


def build(model) -> None:
    """Create the optimizer's slots now, as ``fit()`` does under a distribution strategy.

    On TensorFlow without a strategy Keras builds the optimizer at the first
    training step, so a copy of its state taken at ``on_train_begin`` would
    hold only the iteration count and the rate (2 variables, where Adam has
    6 on a one-layer model), and could not be restored over the built one.
    ``Trainer._symbolic_build`` makes this very call before training.
    """
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)


def state(optimizer) -> list[np.ndarray]:
    """A copy of the optimizer's variables (iterations, learning rate, slots)."""
    return [np.array(v.numpy()) for v in optimizer.variables]  # as save_own_variables reads them


def fits(optimizer, values: list[np.ndarray]) -> bool:
    """True when a copy from :func:`state` can be restored over the optimizer as it is now."""
    return len(optimizer.variables) == len(values)


def restore_state(optimizer, values: list[np.ndarray]) -> None:
    if not fits(optimizer, values):
        raise ValueError(f"optimizer has {len(optimizer.variables)} variables, the copy "
                         f"{len(values)}")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
