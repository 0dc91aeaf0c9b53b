"""What a logged name means: which split, which output, which direction.

Keras names series ``[val_][<output>_]<metric>[_<n>]``: ``val_out1_accuracy``,
``auc_1``. The direction (is lower better?) is inferred from the metric part;
a name it cannot place gets ``direction=None`` and is reported, not guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .run import LEARNING_RATE, VAL_PREFIX

# Metric names (as Keras, torchmetrics and common user code spell them) whose
# smaller values are better, and those whose larger values are better.
LOWER_IS_BETTER = frozenset(
    """loss mae mse rmse msle mape mean_absolute_error mean_squared_error
    root_mean_squared_error mean_squared_logarithmic_error
    mean_absolute_percentage_error crossentropy binary_crossentropy
    categorical_crossentropy sparse_categorical_crossentropy
    categorical_focal_crossentropy binary_focal_crossentropy kld kl_divergence
    kullback_leibler_divergence hinge squared_hinge categorical_hinge logcosh
    log_cosh huber poisson error err wer cer perplexity ppl nll bce ce
    mean_error abs_error""".split()
)
HIGHER_IS_BETTER = frozenset(
    """accuracy acc binary_accuracy categorical_accuracy
    sparse_categorical_accuracy top_k_categorical_accuracy
    sparse_top_k_categorical_accuracy top5 top_5 top1 top_1 top5_acc top_5_accuracy
    auc pr_auc roc_auc precision recall f1 f1_score fbeta_score f_score iou
    mean_io_u mean_iou miou iou_score io_u dice dice_coef dice_coefficient
    dice_score jaccard jaccard_index r2 r2_score bleu rouge rouge1 rouge2 rougel
    rougelsum map psnr ssim specificity sensitivity cosine_similarity
    matthews_correlation mcc kappa cohen_kappa""".split()
)

_NUMBERED = re.compile(r"^(.*?)(?:_\d+)$")  # auc_1, precision_2: Keras' duplicate-name suffix


@dataclass(frozen=True)
class Metric:
    """A parsed series name.

    Attributes:
        name: the name as logged.
        split: ``"train"`` or ``"val"``.
        output: the output prefix of a multi-output model (``"out1"``), or None.
        base: the metric part (``"loss"``, ``"accuracy"``, ``"mae"``).
        direction: ``"min"`` (lower is better), ``"max"``, or None when unknown.
    """

    name: str
    split: str
    output: str | None
    base: str
    direction: str | None

    @property
    def is_loss(self) -> bool:
        return "loss" in self.base

    @property
    def key(self) -> tuple[str | None, str]:
        """(output, metric): what a training series and its validation twin share."""
        return (self.output, self.base)


@lru_cache(maxsize=4096)
def parse_metric(name: str) -> Metric:
    """Parse a Keras-style series name.

    >>> parse_metric("val_out1_accuracy")
    Metric(name='val_out1_accuracy', split='val', output='out1', base='accuracy', direction='max')
    """
    split, rest = ("val", name[len(VAL_PREFIX):]) if name.startswith(VAL_PREFIX) else ("train", name)
    if split == "train" and "_val_" in name:
        # Some multi-head models log "<output>_val_<metric>" (cls_val_loss)
        # instead of Keras' "val_<output>_<metric>": same meaning.
        output, _, metric = name.partition("_val_")
        inner = parse_metric(f"val_{output}_{metric}")
        if inner.direction is not None:
            return Metric(name, "val", inner.output, inner.base, inner.direction)
    key = rest.lower()
    numbered = _NUMBERED.match(key)
    if numbered and _direction(numbered.group(1)) is not None:
        key = numbered.group(1)
    direction = _direction(key)
    if direction is not None and key in LOWER_IS_BETTER | HIGHER_IS_BETTER:
        return Metric(name, split, None, key, direction)
    # Multi-output: the longest known metric that ends the name is the metric;
    # what stands before it is the output name.
    parts = key.split("_")
    for i in range(1, len(parts)):
        tail = "_".join(parts[i:])
        if tail in LOWER_IS_BETTER or tail in HIGHER_IS_BETTER:
            return Metric(name, split, "_".join(rest.split("_")[:i]), tail, _direction(tail))
    return Metric(name, split, None, key, direction)


def _direction(key: str) -> str | None:
    if key in LOWER_IS_BETTER:
        return "min"
    if key in HIGHER_IS_BETTER:
        return "max"
    # Free-form names: "dice_loss", "loss_gen", "recon_error" are losses;
    # "val_acc_top3", "mean_accuracy" are scores. Anything else stays unknown.
    if "loss" in key or key.endswith(("error", "_mse", "_mae")):
        return "min"
    if "acc" in key or key.endswith(("_auc", "_iou", "_f1", "_dice")):
        return "max"
    return None


def is_accuracy(base: str) -> bool:
    """True for accuracy-like metrics whose chance level can be known."""
    return "acc" in base and "top" not in base


# The global gradient norm (the Hugging Face Trainer's ``grad_norm``; a Keras log
# has it only when a callback writes it, as trainruns/signals.py does), and its
# largest value per epoch. Like the learning rate, signals from the optimizer,
# not metrics with a better direction: :class:`~diagnose.features.Features`
# reads them for the rules in diagnose/rules/signals.py.
GRAD_NORM = "grad_norm"
GRAD_NORM_MAX = "grad_norm_max"
SIGNALS = frozenset({LEARNING_RATE, GRAD_NORM, GRAD_NORM_MAX})


def metric_names(names) -> list[Metric]:
    """Parse every series name except the optimizer's signals (learning rate, gradient norm)."""
    return [parse_metric(n) for n in names if n not in SIGNALS]
