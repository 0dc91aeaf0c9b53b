"""The one error type that bad input raises.

Loaders refuse malformed input at the boundary (scikit-learn style): the
message names the source, where in it (line, column or key) and what is
wrong, so nothing past the loader ever sees a malformed run and a user never
sees a traceback from deep inside the engine.
"""

from __future__ import annotations


class LogError(ValueError):
    """A training log that cannot be read as a run.

    Attributes:
        source: the file path or object description the log came from.
        where: the line, column or key at fault (``"line 7"``, ``"key 'val_loss'"``),
            or ``None`` when the problem concerns the whole source.
        problem: what is wrong, in words.
    """

    def __init__(self, source: str, problem: str, where: str | None = None):
        self.source = source
        self.where = where
        self.problem = problem
        location = f"{source}: {where}" if where else source
        super().__init__(f"{location}: {problem}")


class InternalError(LogError):
    """A failure of ours while reading or judging one source: a bug to report.

    A LogError, so that a caller who skips unreadable logs skips this one too;
    the original exception is chained as ``__cause__`` (``--debug`` prints it).
    """


class MissingExtra(ImportError):
    """A feature needs an optional dependency that is not installed.

    The message is the one line a user needs: what is missing and the pip
    command that installs it (``pip install 'keras-diagnose[plot]'``).
    """

    def __init__(self, extra: str, what: str):
        self.extra = extra
        super().__init__(f"{what}: install it with pip install 'keras-diagnose[{extra}]'")
