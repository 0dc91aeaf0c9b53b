"""Keras integration: :class:`DiagnoseCallback` diagnoses a run while ``fit()`` trains it.

This is the only part of ``diagnose`` that imports Keras (``import diagnose``
stays light so the command line starts fast)::

    from diagnose.keras import DiagnoseCallback

    model.fit(x, y, validation_split=0.2, epochs=100,
              callbacks=[DiagnoseCallback(action="act")])
"""

from .apply import Applied, ScaledSchedule, apply_fixes
from .callback import DiagnoseCallback

__all__ = ["Applied", "DiagnoseCallback", "ScaledSchedule", "apply_fixes"]
