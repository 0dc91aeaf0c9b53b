"""The rule catalogue.

Importing this package registers every rule (one module per family of
conditions); :data:`RULES` maps rule names to :class:`~diagnose.rules.base.Rule`.
"""

from . import instability, overfitting, progress, signals  # noqa: F401  (registers the rules)
from .base import RULES, Option, Rule, rule
from .catalogue import catalogue_markdown, catalogue_text

__all__ = ["RULES", "Option", "Rule", "catalogue_markdown", "catalogue_text", "rule"]
