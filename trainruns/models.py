"""Small Keras models and optimizers for a spec.

Models are kept small so one run takes a few seconds on one CPU core. Every
architecture ends in the same task head (sigmoid / softmax / linear), so the loss
is comparable with the family's chance level.
"""

from __future__ import annotations

import math

from .datasets import FAMILIES, VOCAB


def _trunk(spec, inp):
    """The architecture-specific feature extractor, before the dense layers."""
    from keras import layers
    a, w = spec.architecture, spec.width
    if a in ("mlp", "linear"):  # digits come as 8x8x1 images: flatten for a dense model
        return layers.Flatten()(inp) if len(inp.shape) > 2 else inp
    if a == "conv2d":
        h = layers.Conv2D(w, 3, padding="same", activation="relu")(inp)
        h = layers.MaxPooling2D(2)(h)
        return layers.Flatten()(h)
    if a == "conv1d":
        h = layers.Conv1D(w, 5, activation="relu")(inp)
        h = layers.MaxPooling1D(2)(h)
        h = layers.Conv1D(w, 3, activation="relu")(h)
        return layers.GlobalAveragePooling1D()(h)
    if a == "lstm":
        return layers.LSTM(w)(inp)
    if a == "gru":
        return layers.GRU(w)(inp)
    if a == "embedding":
        h = layers.Embedding(VOCAB, w)(inp)
        return layers.GlobalAveragePooling1D()(h)
    raise ValueError(f"unknown architecture {a!r}")


def learning_rate(spec, n_fit: int):
    """A float, or a CosineDecay schedule over the whole run (steps = epochs x batches)."""
    import keras
    if spec.schedule == "cosine":
        steps = spec.epochs * math.ceil(n_fit / spec.batch_size)
        return keras.optimizers.schedules.CosineDecay(spec.learning_rate, steps, alpha=0.05)
    return spec.learning_rate


def optimizer(spec, n_fit: int):
    import keras
    lr = learning_rate(spec, n_fit)
    o = spec.optimizer
    if o == "sgd":
        return keras.optimizers.SGD(lr, momentum=spec.momentum)
    cls = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
           "rmsprop": keras.optimizers.RMSprop, "adagrad": keras.optimizers.Adagrad,
           "nadam": keras.optimizers.Nadam}[o]
    return cls(lr)


def build_model(spec, input_shape: tuple, n_fit: int):
    """Compiled model: trunk, ``hidden`` ReLU Dense layers (+L2, dropout), task head."""
    import keras
    from keras import layers
    fam = FAMILIES[spec.family]
    reg = keras.regularizers.L2(spec.l2) if spec.l2 else None
    inp = keras.Input(input_shape, dtype="int32" if fam.kind == "tokens" else "float32")
    h = _trunk(spec, inp)
    hidden = () if spec.architecture == "linear" else spec.hidden
    for units in hidden:
        h = layers.Dense(units, activation="relu", kernel_regularizer=reg)(h)
        if spec.dropout:
            h = layers.Dropout(spec.dropout)(h)
    if fam.task == "regression":
        out, loss, metric = layers.Dense(1, kernel_regularizer=reg)(h), "mse", "mae"
    elif fam.n_classes == 2:
        out = layers.Dense(1, activation="sigmoid", kernel_regularizer=reg)(h)
        loss, metric = "binary_crossentropy", "accuracy"
    else:
        out = layers.Dense(fam.n_classes, activation="softmax", kernel_regularizer=reg)(h)
        loss, metric = "sparse_categorical_crossentropy", "accuracy"
    model = keras.Model(inp, out)
    model.compile(optimizer=optimizer(spec, n_fit), loss=loss, metrics=[metric])
    return model
