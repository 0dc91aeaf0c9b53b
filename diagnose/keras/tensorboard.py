"""The diagnosis in TensorBoard: the callback's notices and its final report as text summaries.

``DiagnoseCallback(log_dir=...)``, or a ``keras.callbacks.TensorBoard`` in
the same ``fit()`` call, makes the callback write into ``<log_dir>/diagnose``:
a run of its own beside Keras' ``train`` and ``validation``. Under the tags
below, in TensorBoard's Text dashboard:

- ``diagnose/notices``: the lines the callback prints (a condition becomes
  clear, an action taken), one entry per epoch that had any (TensorBoard
  keeps one entry per step, so the weights restored at the end are added to
  the last epoch's entry by writing it again, whole);
- ``diagnose/report``: the final report as Markdown (tables render), at the
  last epoch;
- ``diagnose/verdict``: the verdict alone (``overfitting``), at the last
  epoch, so the Text dashboard lines up the verdicts of several runs.

The step is the epoch as Keras' TensorBoard callback counts it for its
``epoch_*`` scalars (0-based: epoch 7's notice is at step 6, beside epoch 7's
``epoch_loss``). TensorFlow is imported here only, and only when there is a
directory to write to; the text is written with ``tf.summary.write`` and the
text plugin's metadata, as ``tf.summary.text`` writes it, because
``tf.summary.text`` needs the ``tensorboard`` package, which TensorFlow 2.21
no longer installs (the machine that trains need not be the one that views).
"""

from __future__ import annotations

import html
import inspect
import os
import re
import warnings

import keras

from ..render import render_markdown
from ..report import Report

RUN = "diagnose"
NOTICES = "diagnose/notices"
REPORT = "diagnose/report"
VERDICT = "diagnose/verdict"
# Frames between CallbackList.on_train_begin and the callback's own hook (its guard).
_MAX_FRAMES = 8


def sibling_log_dir(callback: keras.callbacks.Callback) -> str | None:
    """The ``log_dir`` of a ``keras.callbacks.TensorBoard`` in the same ``fit()`` call, or None.

    Keras 3 gives a callback no reference to its siblings: ``fit()`` wraps
    its ``callbacks`` in a ``keras.callbacks.CallbackList``, which calls each
    one's hooks in a loop. Called from a hook, this looks a few frames up for
    that list (the one that holds ``callback``) and takes the first
    TensorBoard callback in it. Hooks called by hand, with no list, find none.
    """
    frame = inspect.currentframe()
    try:
        for _ in range(_MAX_FRAMES):
            frame = frame.f_back if frame is not None else None
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            if (isinstance(owner, keras.callbacks.CallbackList)
                    and any(c is callback for c in owner.callbacks)):
                board = next((c for c in owner.callbacks
                              if isinstance(c, keras.callbacks.TensorBoard)), None)
                return None if board is None else str(board.log_dir)
        return None
    finally:
        del frame


def report_markdown(report: Report) -> str:
    """The report as Markdown (``render_markdown``, what the callback did included), laid out
    for TensorBoard's renderer."""
    return _for_tensorboard(render_markdown([report])).rstrip("\n") + "\n"


def _for_tensorboard(markdown: str) -> str:
    """Markdown as TensorBoard's (Python-Markdown, with tables and fenced code) renders it.

    A fence there must start at the margin: one indented under a numbered fix
    shows as a line of inline code, so fences and their code are moved out
    to the margin. A list that follows a code block would then restart at 1
    (Python-Markdown ignores the number a list starts with), so a fix's
    number is written as text (``2\\.``), not as a list.
    """
    out, fence = [], None  # fence: the open fence's indentation
    for line in markdown.splitlines():
        stripped = line.lstrip(" ")
        if stripped.startswith("```"):
            fence = len(line) - len(stripped) if fence is None else None
            out.append(stripped)
        elif fence is not None:
            out.append(line[fence:] if line[:fence].strip() == "" else line)
        else:
            out.append(re.sub(r"^(\d+)\. ", r"\1\\. ", line))
    return "\n".join(out) + "\n"


def notices_markdown(lines: list[str]) -> str:
    """One epoch's notices: each line a paragraph (Markdown joins lines that are not)."""
    return "\n\n".join(_md(line) for line in lines)


def _md(text: str) -> str:
    # TensorBoard sanitizes the HTML it renders; escaped, a "<" in a column name shows as typed.
    return html.escape(text, quote=False)


class Board:
    """One ``fit()``'s writer into ``<log_dir>/diagnose``; a failure turns it off with one warning.

    Opened (and TensorFlow imported) in ``on_train_begin``, written to at
    epoch ends and at the end of training, closed then. Any error (no
    TensorFlow under another backend, a directory that cannot be written)
    becomes one ``UserWarning`` and the board writes nothing more; the
    diagnosis and training go on.
    """

    def __init__(self, log_dir: str | os.PathLike):
        self.path = os.path.join(os.fspath(log_dir), RUN)
        self._writer = None
        self._tf = None
        self._metadata = None
        self._guard(self._open)

    @property
    def open(self) -> bool:
        return self._writer is not None

    def write(self, tag: str, text: str, step: int) -> None:
        """One text summary at ``step``, flushed so a running TensorBoard shows it at once."""
        if self._writer is not None:
            self._guard(self._write, tag, text, step)

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 - closing must not end a run either
                self._warn(exc)

    def _open(self) -> None:
        import tensorflow as tf

        self._tf = tf
        # What tf.summary.text writes: the text plugin, an all-default TextPluginData
        # (version 0, serialized as no bytes).
        self._metadata = tf.compat.v1.SummaryMetadata(
            plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="text", content=b""))
        self._writer = tf.summary.create_file_writer(self.path)

    def _write(self, tag: str, text: str, step: int) -> None:
        tf = self._tf
        # record_if(True): Keras' TensorBoard(update_freq=N) installs its own condition.
        with self._writer.as_default(), tf.summary.record_if(True):
            tf.summary.write(tag, tf.constant(text, dtype=tf.string), step=int(step),
                             metadata=self._metadata)
        self._writer.flush()

    def _guard(self, method, *args) -> None:
        try:
            method(*args)
        except Exception as exc:  # noqa: BLE001 - TensorBoard output must never end a run
            self._writer = None
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        warnings.warn(f"DiagnoseCallback: cannot write to TensorBoard at {self.path} "
                      f"({type(exc).__name__}: {exc}); the diagnosis goes on without it.",
                      UserWarning, stacklevel=4)
