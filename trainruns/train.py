"""Train one spec: the history and the exact text Keras' CSVLogger wrote."""

from __future__ import annotations

import os
import tempfile

from .datasets import build_data
from .models import build_model


def configure_tf(threads: int | None = None) -> None:
    """Deterministic ops; optionally pin TF's thread pools (only before TF starts)."""
    import tensorflow as tf
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # TF already initialized in this process: keep its pools
    tf.config.experimental.enable_op_determinism()


def _lr_logger():
    """Write the optimizer's current rate into the epoch logs, so CSVLogger records a
    ``learning_rate`` column on runs without an LR callback (for CosineDecay this is
    the schedule's value at the current step)."""
    import keras

    class LearningRateLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                lr = self.model.optimizer.learning_rate
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))

    return LearningRateLogger()


def schedule_callbacks(spec) -> list:
    """ReduceLROnPlateau / step decay; both make Keras log ``learning_rate``."""
    import keras
    if spec.schedule == "plateau":
        monitor = "val_loss" if spec.validation else "loss"
        return [keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=3,
                                                  min_lr=1e-7)]
    if spec.schedule == "step":
        lr0, every = spec.learning_rate, max(1, spec.epochs // 3)
        return [keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: lr0 * 0.3 ** (epoch // every))]
    return []


def train(spec, adjust=None) -> tuple[dict, str]:
    """Fit ``spec``; return (history as plain floats, CSVLogger file text).

    ``adjust(model, fit_kwargs) -> fit_kwargs``, when given, may change the compiled
    model's optimizer and the ``fit()`` arguments before training (the fix benchmark
    applies a diagnosis's fixes this way); it runs after the seed is set, so the
    initial weights are the ones the spec alone would get.
    """
    import keras
    configure_tf()
    X, y, n_fit = build_data(spec.family, spec.train_size, spec.validation,
                             spec.label_noise, spec.seed)
    keras.utils.set_random_seed(spec.seed)
    model = build_model(spec, X.shape[1:], n_fit)
    callbacks = schedule_callbacks(spec)
    if spec.lr_logged and not callbacks:
        callbacks.append(_lr_logger())
    kwargs = dict(epochs=spec.epochs, batch_size=spec.batch_size,
                  validation_split=spec.validation or 0.0,
                  validation_freq=spec.validation_freq, shuffle=True, callbacks=callbacks,
                  verbose=0)
    if adjust is not None:
        kwargs = adjust(model, kwargs)
    fd, path = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    try:
        # CSVLogger last: it sees the keys the LR callbacks put into the logs
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [keras.callbacks.CSVLogger(path)]
        hist = model.fit(X, y, **kwargs)
        with open(path) as fh:
            text = fh.read()
    finally:
        os.unlink(path)
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    return history, text
