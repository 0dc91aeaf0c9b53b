"""Which process speaks in a distributed run.

The callback's decisions are a pure function of the epoch logs, which Keras
has already reduced across replicas (and, under a multi-worker strategy,
across workers) before ``on_epoch_end``: every replica and every worker
reaches the same verdict and takes the same action (``stop_training``, a
rewind, a learning-rate change) at the same epoch, so collective operations
stay in step. Only printing and warnings are kept to the chief, so a run on
eight workers prints its notices once.
"""

from __future__ import annotations

import keras


def is_chief(model) -> bool:
    """True on the process that should print: the chief worker, or the only one.

    TensorFlow: ``strategy.extended.should_checkpoint`` (True under the
    default strategy and ``MirroredStrategy``, True only on the chief under
    ``MultiWorkerMirroredStrategy``). JAX: process 0. PyTorch: rank 0 when
    ``torch.distributed`` is initialized. Anything unexpected counts as chief:
    a notice printed twice is better than none.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        return bool(getattr(getattr(strategy, "extended", None), "should_checkpoint", True))
    if backend == "jax":
        import jax

        return jax.process_index() == 0
    if backend == "torch":
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    return True
