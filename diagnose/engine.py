"""The engine: one normalized run in, one report out.

    run -> curve features (diagnose.features) -> rules (diagnose.rules)
        -> findings + fixes (diagnose.fixes) -> Report

The same path serves a finished log and a live training run: the callback
feeds an :class:`Analyzer` one epoch at a time and asks it for a report
whenever it likes; ``diagnose(history)`` is that Analyzer fed every epoch at
once. Nothing below knows which of the two it serves.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .report import Report
from .run import Run, RunBuilder


@dataclass(frozen=True)
class Options:
    """What a user may choose about a diagnosis.

    Attributes:
        monitor: the series judged for overfitting and early stopping
            (default ``val_loss``, else ``loss``).
        loss: the main training loss when the log has several or a
            non-standard name (GAN ``loss_gen``); default ``loss``.
        metric: the main quality metric (default: the first accuracy-like or
            other known-direction metric).
        learning_rate: the learning rate used, when the log does not record
            it; fixes then give absolute values instead of factors. A
            positive finite number.
        select: run only these rules: a list of names, or one string of
            comma-separated names (``"val-loss-rising,loss-nan"``), like
            ruff's ``select``.
        ignore: skip these rules (a list, or a comma-separated string).
        rules: per-rule threshold overrides, ``{"val-loss-rising": {"min_rise": 1.2}}``;
            each value a finite number, not negative.
        optimizer: the class name of the run's optimizer in ``keras.optimizers``
            (``"SGD"``), when known (the live callback knows it); code snippets
            then build that optimizer. Without it they show ``Adam``.

    Every field is checked when the Options are made (scikit-learn style):
    a wrong value raises ``ValueError`` or ``TypeError`` naming the argument,
    what was expected and what was given.
    """

    monitor: str | None = None
    loss: str | None = None
    metric: str | None = None
    learning_rate: float | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    optimizer: str | None = None

    def __post_init__(self) -> None:
        for name in ("monitor", "loss", "metric"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(_expected(name, "a series name (str) or None", value))
        if self.optimizer is not None:
            # It is pasted into code: a class name and nothing else.
            what = 'a class name such as "SGD", or None'
            if not isinstance(self.optimizer, str):
                raise TypeError(_expected("optimizer", what, self.optimizer))
            if not self.optimizer.isidentifier():
                raise ValueError(_expected("optimizer", what, self.optimizer))
        object.__setattr__(self, "learning_rate", _learning_rate(self.learning_rate))
        object.__setattr__(self, "select", None if self.select is None
                           else _rule_names("select", self.select))
        object.__setattr__(self, "ignore", _rule_names("ignore", self.ignore))
        object.__setattr__(self, "rules", _rule_options(self.rules))

    @classmethod
    def from_kwargs(cls, caller: str = "Options", **kwargs: Any) -> Options:
        """Options from keywords, an unknown keyword named with the ones that exist."""
        _check_keywords(caller, kwargs)
        return cls(**kwargs)


def _check_keywords(caller: str, kwargs: Mapping[str, Any]) -> None:
    known = [f.name for f in fields(Options)]
    unknown = [k for k in kwargs if k not in known]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"{caller}() got an unknown option {unknown[0]!r}{hint}; "
                        f"expected one of: {', '.join(known)}")


_dataclass_init = Options.__init__


def _init(self, *args: Any, **kwargs: Any) -> None:
    # Options(selct=...) names the keyword and the ones that exist, like the
    # API does, instead of Python's bare "unexpected keyword argument".
    _check_keywords("Options", kwargs)
    _dataclass_init(self, *args, **kwargs)


Options.__init__ = _init  # type: ignore[method-assign]


def _expected(name: str, what: str, value: Any) -> str:
    """The scikit-learn wording: the argument, what it must be, and what it got."""
    return f"{name} must be {what}, got {value!r:.80} ({type(value).__name__})"


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _learning_rate(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_real(value):
        raise TypeError(_expected("learning_rate", "a positive finite number or None", value))
    if not (math.isfinite(value) and value > 0):
        raise ValueError(_expected("learning_rate", "a positive finite number or None", value))
    return float(value)


def _rule_names(name: str, value: Any) -> tuple[str, ...]:
    """Rule names given as a list, or as one comma-separated string (never its characters)."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
        return _known_rules(name, tuple(part for part in names if part))
    if not isinstance(value, Iterable) or isinstance(value, (bytes, Mapping)):
        raise TypeError(_expected(name, "a rule name, a comma-separated string of them or a "
                                  "list of them", value))
    names = tuple(value)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise TypeError(_expected(f"each name in {name}", "a rule name (str)", bad[0]))
    return _known_rules(name, names)


def _known_rules(name: str, names: tuple[str, ...]) -> tuple[str, ...]:
    from .rules import RULES

    unknown = [n for n in names if n not in RULES]
    if unknown:
        raise ValueError(f"{name} names unknown rule(s): {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(RULES)})")
    return names


def _rule_options(value: Any) -> Mapping[str, Mapping[str, Any]]:
    """``{rule: {option: number}}``, each value a finite number that is not negative."""
    if not isinstance(value, Mapping):
        raise TypeError(_expected("rules", 'a dict such as {"val-loss-rising": '
                                  '{"min_rise": 1.2}}', value))
    from .rules import RULES

    _known_rules("rules", tuple(value))
    checked: dict[str, dict[str, Any]] = {}
    for rule_name, overrides in value.items():
        if not isinstance(overrides, Mapping):
            raise TypeError(_expected(f"rules[{rule_name!r}]", "a dict of option values",
                                      overrides))
        options = RULES[rule_name].options
        checked[rule_name] = {}
        for key, number in overrides.items():
            where = f"rules[{rule_name!r}][{key!r}]"
            if key not in options:
                known = ", ".join(sorted(options)) or "none"
                raise ValueError(f"rule {rule_name!r} has no option {key!r} (options: {known})")
            if not _is_real(number):
                raise TypeError(_expected(where, "a number", number))
            # Every threshold is a count, a fraction or a ratio: none is negative.
            if not (math.isfinite(number) and number >= 0):
                raise ValueError(_expected(where, "a finite number >= 0", number))
            checked[rule_name][key] = number  # as given: some thresholds are counts
    return checked


def diagnose_run(run: Run, options: Options | None = None) -> Report:
    """Diagnose a normalized run."""
    from .verdict import judge

    return judge(run, options or Options())


class Analyzer:
    """The streaming entry point: add epochs as they finish, ask for a report any time.

    Example:
        >>> analyzer = Analyzer()
        >>> for logs in [{"loss": 1.0, "val_loss": 1.1}, {"loss": 0.8, "val_loss": 0.9}]:
        ...     analyzer.add_epoch(logs)
        >>> analyzer.report().conditions
        ()
    """

    def __init__(self, options: Options | None = None, source: str = "live run"):
        self.options = options or Options()
        self._builder = RunBuilder(source)

    def __len__(self) -> int:
        return len(self._builder)

    def add_epoch(self, logs: Mapping[str, Any], epoch: float | None = None) -> None:
        """Record one finished epoch's logs (``epoch`` is 1-based; default: the next)."""
        self._builder.append(logs, epoch)

    @property
    def run(self) -> Run:
        return self._builder.run()

    def report(self) -> Report:
        """The diagnosis of every epoch seen so far."""
        return diagnose_run(self.run, self.options)
