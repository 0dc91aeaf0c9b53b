"""DiagnoseCallback: the diagnosis of a run while ``model.fit()`` trains it.

Each epoch's logs go to the same engine that diagnoses a finished log
(:class:`~diagnose.engine.Analyzer`), so the verdict after the last epoch is
``diagnose.diagnose(history)``. With ``action="act"`` the callback also acts
on what the rules see: it stops a run that blew up (or rewinds it to its best
weights with a lower learning rate), stops an overfitting run at its best
epoch, and lowers the learning rate on a plateau.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import NamedTuple

import keras
from absl import logging

from ..engine import Analyzer, Options
from ..fixes import BLOWUP_RULES, MIN_PATIENCE
from ..live import Notices
from ..render import verdict
from ..report import Action, Finding, Report, count
from . import optimizer as optimizers
from .batches import BatchEvent, BatchWatch
from .distribution import is_chief
from .monitor import Monitor
from .tensorboard import (
    NOTICES,
    REPORT,
    VERDICT,
    Board,
    notices_markdown,
    report_markdown,
    sibling_log_dir,
)

ACTIONS = ("warn", "act")
# Findings that mean the run blew up (NaN, divergence, a blow-up that froze
# the units or knocked the model back to chance): acted on at once. The
# engine's own list, so a blow-up the report sizes as one is acted on as one.
BLOW_UP_RULES = tuple(BLOWUP_RULES)
# Plateau reductions in a row that brought no new best before the callback
# stops the run. On 11 fixture and mild-overfitting runs (two-head model, MAE
# regression, class weights) no second or third cut ever found a new best:
# with 3 the callback ran 6-7 epochs past EarlyStopping(patience=5) +
# ReduceLROnPlateau(patience=2) for the same kept loss, with 1 at most one.
# Halving on to 1e-15 (ReduceLROnPlateau with min_lr=0 does) only slows a
# run that has converged.
MAX_FRUITLESS_REDUCTIONS = 1
# A rewind lowers the learning rate by the report's sized fix; this when it has none.
REWIND_FACTOR = 0.1


class Snapshot(NamedTuple):
    """Weights (and, for rewinds, optimizer state) kept at the end of an epoch."""

    epoch: int  # 0-based, as Keras counts; -1 for the weights fit() started from
    weights: list
    optimizer: list | None


def _guarded(hook):
    """Run a hook; any exception disables the callback with one warning, never reaches fit()."""

    @functools.wraps(hook)
    def run(self, *args, **kwargs):
        if self.disabled:
            return None
        try:
            return hook(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a diagnosis must never end a training run
            self.disabled = True
            self.error = exc
            self._close_board()
            warnings.warn(f"DiagnoseCallback disabled itself after an internal error "
                          f"({type(exc).__name__}: {exc}); training continues without it.",
                          RuntimeWarning, stacklevel=2)
            return None

    return run


class DiagnoseCallback(keras.callbacks.Callback):
    """Diagnose the run while it trains; optionally act on the diagnosis.

    Every epoch feeds the logs to the diagnosis engine; the first time a
    condition (``overfitting``, ``underfitting``, ``lr_too_high``,
    ``lr_too_low``) becomes clear, one line says which rule saw it, at which
    epoch, and the evidence. The full report is kept in :attr:`report` (and
    printed at the end with ``print_report=True``). With ``action="act"`` it
    also acts, each action logged in ``report.actions``:

    - the loss blew up (NaN/inf, divergence, a first epoch that exploded and
      froze the units, a collapse to chance): stop (like ``TerminateOnNaN``),
      or with ``repair=N`` rewind to weights from before the blow-up and
      lower the learning rate by the report's sized factor, up to N times;
    - overfitting is confirmed and ``monitor`` has not improved for
      ``patience`` epochs: stop (like ``EarlyStopping``);
    - ``monitor`` has not improved for ``patience`` epochs and the rules see
      neither overfitting nor a too-low rate: multiply the learning rate by
      ``factor`` (like ``ReduceLROnPlateau``; never a rate another callback
      or a schedule sets); when that brings no new best within another
      ``patience`` epochs, stop as converged;
    - at the end, with ``restore_best_weights``: restore the weights of the
      best epoch (as ``EarlyStopping`` does).

    Any error inside the callback becomes one warning and the callback turns
    itself off; training goes on untouched.

    Distributed training: decisions are a pure function of the epoch logs,
    which Keras has already reduced across replicas, so every replica (and,
    under ``tf.distribute.MultiWorkerMirroredStrategy``, every worker) takes
    the same action at the same epoch; only the chief prints and warns.
    Checked under ``MirroredStrategy``; ``fit()`` itself fails under
    ``MultiWorkerMirroredStrategy`` in Keras 3 (keras-team/keras#20585), so
    there the callback is worker-symmetric by construction but untested.

    Args:
        action: ``"warn"`` (default) only reports and never touches the
            model; ``"act"`` takes the actions above.
        monitor: quantity to watch for improvement. Defaults to
            ``"val_loss"``; until it is logged (no validation data), its
            training twin (``"loss"``) is watched instead.
        mode: ``"auto"``, ``"min"`` or ``"max"``: whether ``monitor`` should
            go down or up. ``"auto"`` infers it from the name.
        patience: epochs without improvement before a plateau or an
            overfitting run is acted on; with ``validation_freq`` > 1, epochs
            on which ``monitor`` was logged, as Keras' ``EarlyStopping``
            counts them. ``None`` (default) derives it from the run's own
            noise, as the report's ``EarlyStopping`` fix does (the longest
            stretch without a new best before the best, plus one; 3 to 20).
        min_delta: a change of ``monitor`` smaller than this is no improvement.
        restore_best_weights: at the end of training, restore the weights of
            the epoch with the best ``monitor`` value (only with
            ``action="act"``, where it defaults to True).
        start_from_epoch: epochs to wait before watching ``monitor`` and
            acting on it (a warm-up). A NaN/inf loss is acted on regardless.
        factor: learning rate multiplier on a plateau (0 < factor < 1).
        min_lr: the learning rate is never lowered below this.
        repair: how many times a blown-up run may be rewound to its last
            good weights (from before the blow-up began; the weights ``fit()``
            started from after a blow-up in the first epoch) with a lower
            learning rate instead of stopped. Keeps a copy of the optimizer's
            state along with the weights, and of the starting weights.
        batch_checks: also watch the training loss batch by batch: NaN/inf is
            seen (and, with ``action="act"``, stopped) within the epoch, and
            loss spikes are reported. O(1) work per batch on numbers Keras
            already passes to callbacks.
        verbose: ``"auto"`` (default) follows ``fit(verbose=...)``: silent at
            0, else as 1. 0 prints nothing; 1 (or more) prints one line per
            new condition and per action (warnings about the setup, such as a
            rate it cannot set, are Python warnings either way).
        print_report: print the full report (``str(callback.report)``) when
            training ends, whatever the verbosity.
        options: a :class:`diagnose.engine.Options` for the engine (rule
            selection and thresholds).
        log_dir: a TensorBoard log directory: each epoch's notices and
            actions (whatever the verbosity) and, at the end, the report as
            Markdown and the verdict are written as text summaries into
            ``<log_dir>/diagnose``, a run beside Keras' ``train`` and
            ``validation``, under the tags ``diagnose/notices``,
            ``diagnose/report`` and ``diagnose/verdict``, at the step Keras'
            ``TensorBoard`` callback gives the epoch (0-based). ``None``
            (default): the ``log_dir`` of a ``keras.callbacks.TensorBoard`` in
            the same ``fit()`` call, if there is one; else nothing is written.
            ``False``: never write, even beside a ``TensorBoard`` callback.
            Only the chief writes, never from a batch hook; the folder used is
            :attr:`tensorboard_dir`. Needs TensorFlow (not the ``tensorboard``
            package); a failure to write is one warning, and the diagnosis
            goes on without it.

    Example:
        >>> import numpy as np, keras
        >>> from diagnose.keras import DiagnoseCallback
        >>> x = np.random.rand(256, 8)
        >>> y = (x.sum(axis=1) > 4).astype("float32")
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
        ...                           keras.layers.Dense(1, activation="sigmoid")])
        >>> model.compile(optimizer="adam", loss="binary_crossentropy")
        >>> callback = DiagnoseCallback(action="act", verbose=0)
        >>> history = model.fit(x, y, validation_split=0.25, epochs=8, callbacks=[callback],
        ...                     verbose=0)
        >>> callback.report.summary["epochs"] == len(history.history["loss"])
        True
    """

    def __init__(self, action: str = "warn", monitor: str = "val_loss", mode: str = "auto",
                 patience: int | None = None, min_delta: float = 0.0,
                 restore_best_weights: bool | None = None, start_from_epoch: int = 0,
                 factor: float = 0.5, min_lr: float = 0.0, repair: int = 0,
                 batch_checks: bool = False, verbose: int | str = "auto",
                 print_report: bool = False, options: Options | None = None,
                 log_dir: str | os.PathLike | bool | None = None):
        super().__init__()
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be between 0 and 1 (exclusive), got {factor!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be a positive number of epochs or None, "
                             f"got {patience!r}")
        if repair < 0:
            raise ValueError(f"repair must be >= 0, got {repair!r}")
        if restore_best_weights and action != "act":
            raise ValueError("restore_best_weights=True needs action='act' "
                             "(warn never touches the model)")
        if verbose != "auto" and not (isinstance(verbose, int) and verbose >= 0):
            raise ValueError(f'verbose must be "auto", 0 or 1, got {verbose!r}')
        self.action = action
        self.monitor = monitor
        self.patience = patience
        self.restore_best_weights = (action == "act" if restore_best_weights is None
                                     else restore_best_weights)
        self.start_from_epoch = start_from_epoch
        self.factor = factor
        self.min_lr = min_lr
        self.repair = repair
        self.batch_checks = batch_checks
        self.verbose = verbose
        self.print_report = print_report
        self.log_dir = log_dir
        # The TensorBoard run written by the last fit() (<log_dir>/diagnose), or None.
        self.tensorboard_dir: str | None = None
        self._board: Board | None = None
        options = options or Options()
        # The default monitor is the engine's own default (the main loss's validation twin).
        self.options = replace(options, monitor=monitor) if monitor != "val_loss" else options
        self._monitor = Monitor(monitor, mode, min_delta, start_from_epoch)
        # Keras dispatches batch hooks to a thread pool (JAX, torch) only when
        # every callback allows it. Without batch_checks the batch hook is a
        # no-op, so it may run anywhere; with them, NaN must stop the epoch
        # at the batch it happened, which needs the logs synchronously.
        self.async_safe = not batch_checks
        self.disabled = False
        self.error: Exception | None = None
        self._start("live run")

    # --- what a user reads ------------------------------------------------
    @property
    def report(self) -> Report | None:
        """The diagnosis of the epochs so far, with the actions taken (None before the first)."""
        if self._report is None:
            return None
        return replace(self._report, actions=tuple(self.actions),
                       notes=self._report.notes + tuple(self._notes))

    # --- Keras hooks ------------------------------------------------------
    @_guarded
    def on_train_begin(self, logs=None):
        self._close_board()  # a fit() that ended in an exception never reached on_train_end
        self._start(f"{self.model.name} (live)", optimizers.class_name(self.model.optimizer))
        self._chief = is_chief(self.model)
        self._open_board()
        if self._keeps_weights:
            if self.repair:
                # Its slots must exist before the first copy of its state.
                optimizers.build(self.model)
            # The weights fit() starts from: what a blow-up in epoch 1 rewinds to,
            # kept for the whole run when it may be repaired.
            self._best = self._rewind_to = self._snapshot(-1)
            self._initial = self._best if self.repair else None

    @_guarded
    def on_epoch_begin(self, epoch, logs=None):
        if self._rate_logged is not None:
            # The last epoch's logs, after every callback had them: a rate there
            # that is not the one this callback wrote was written by a callback
            # placed after it (LearningRateScheduler, ReduceLROnPlateau), which
            # owns the rate. Seen before this callback could change it: its
            # earliest plateau action comes at the end of epoch 2.
            then, ours = self._rate_logged
            if self.action == "act" and then.get("learning_rate") is not ours:
                self._rate_managed_elsewhere = True
            self._rate_logged = None
        self._blew_up_in_batch = None
        if self._batches is not None:
            self._batches.begin_epoch(epoch)

    @_guarded
    def on_train_batch_end(self, batch, logs=None):
        if self._batches is None:
            return
        event = self._batches.update(batch, logs)
        if event is not None:
            self._batch_event(event)

    @_guarded
    def on_epoch_end(self, epoch, logs=None):
        self._epoch_end(epoch, logs)
        self._tell_board(epoch)

    def _epoch_end(self, epoch, logs) -> None:
        logs = {} if logs is None else logs
        self._watch_learning_rate(logs)
        values = _numbers(logs)
        self._analyzer.add_epoch(values, epoch + 1)
        if self._segment is not self._analyzer:
            self._segment.add_epoch(values, epoch + 1)
        report = self._report = self._analyzer.report()
        self._last_epoch = epoch
        had_best = self._monitor.best is not None
        improved = self._monitor.update(epoch, values)
        self._announce(epoch, report)
        if self.action != "act" or self._stopped:
            return
        if improved:
            self._plateau_wait = self._fruitless_reductions = 0
        elif improved is not None:
            self._plateau_wait += 1
        if improved and self._keeps_weights:
            self._best = self._snapshot(epoch)
            # A rewind target must have beaten an earlier epoch: the first value
            # after a blow-up is "best" by default, however bad it is.
            if had_best:
                self._rewind_to = self._best
        segment = report if self._segment is self._analyzer else self._segment.report()
        self._act(epoch, list(values), report, segment)

    @_guarded
    def on_train_end(self, logs=None):
        if self._first_spike is not None:
            self._notes.append(f"batch checks: {self._batches.spikes} loss spike(s) inside epochs; "
                               f"the first: {self._first_spike.message}")
        best = self._best
        # The initial weights are restored only over a blown-up run: a run whose
        # monitor was never logged keeps its weights, as with EarlyStopping.
        if (self.restore_best_weights and best is not None and self._last_epoch is not None
                and best.epoch != self._last_epoch and (best.epoch >= 0 or self._blown_up)):
            self.model.set_weights(best.weights)
            kept = best.epoch
            where = "the initial weights" if kept < 0 else f"the weights of epoch {kept + 1}"
            why = (f"{self._monitor.tracking} was best at epoch {kept + 1} "
                   f"({self._monitor.best:.4g})" if kept >= 0
                   else f"no epoch improved {self._monitor.tracking or self.monitor}")
            self._record(self._last_epoch, "restore_best_weights", {"epoch": kept + 1},
                         f"restored {where}: {why}")
        report = self.report
        if report is not None and self.print_report and self._chief:
            _print(str(report))  # the text report, as the diagnose command prints it
        if self._board is not None:
            step = self._last_epoch if self._last_epoch is not None else 0
            self._tell_board(step)
            if report is not None:
                self._board.write(REPORT, report_markdown(report), step)
                self._board.write(VERDICT, verdict(report), step)
            self._close_board()
        return report

    # --- deciding -----------------------------------------------------------
    def _act(self, epoch: int, logged: list[str], report: Report, segment: Report) -> None:
        blow_up = self._blow_up(segment)
        nan = blow_up is not None and blow_up.rule == "loss-nan"
        if blow_up is not None and (nan or epoch >= self.start_from_epoch):
            self._blown_up = True
            reason = f"lr_too_high ({blow_up.rule}): {blow_up.message}"
            if self._can_rewind():
                self._rewind(epoch, reason, _lower_factor(segment), blow_up.epochs)
            else:
                self._stop(epoch, reason)
            return
        if epoch < self.start_from_epoch:
            return
        if self._monitor.tracking is None:
            self._note_once(f"{self.monitor} is not in the logs (logged: "
                            f"{', '.join(sorted(logged))}): no plateau or overfitting action "
                            f"is taken")
            return
        noise_patience = report.summary.get("early_stopping", {}).get("patience", MIN_PATIENCE)
        patience = self.patience or noise_patience
        overfitting = _strongest(segment, "overfitting")
        if overfitting is not None and self._monitor.wait >= patience:
            self._stop(epoch, f"overfitting ({overfitting.rule}): {overfitting.message}")
        elif (self._plateau_wait >= patience
              and not {"overfitting", "lr_too_low"}.intersection(segment.conditions)):
            self._lower_learning_rate(epoch, segment)

    def _blow_up(self, segment: Report) -> Finding | None:
        if self._blew_up_in_batch is not None:
            event = self._blew_up_in_batch
            return Finding("loss-nan", "lr_too_high", (float(event.epoch),), {}, event.message,
                           0.95)
        return next((f for f in segment.findings if f.rule in BLOW_UP_RULES), None)

    def _can_rewind(self) -> bool:
        if self._repairs >= self.repair or self._rewind_to is None:
            return False
        fixed = self._rate_is_fixed()
        if fixed is None and not optimizers.fits(self.model.optimizer, self._rewind_to.optimizer):
            fixed = "the optimizer's variables changed after its state was copied"
        if fixed is None:
            return True
        self._note_once(f"{fixed}: a blown-up run was stopped instead of repaired")
        return False

    def _rate_is_fixed(self) -> str | None:
        """Why the callback must leave the learning rate alone, or None."""
        if not optimizers.settable(self.model.optimizer):
            return ("the optimizer's learning rate is a schedule (or not a single variable), so "
                    "it cannot be assigned; build the optimizer with a float learning_rate to "
                    "allow it")
        if self._rate_managed_elsewhere:
            return ("another callback sets the learning rate (LearningRateScheduler, "
                    "ReduceLROnPlateau): it is left to that callback")
        return None

    # --- acting -------------------------------------------------------------
    def _stop(self, epoch: int, reason: str) -> None:
        self.model.stop_training = True
        self._stopped = True
        restore = bool(self.restore_best_weights and self._best is not None)
        params = {"restore_best_weights": restore}
        if restore:
            params["best_epoch"] = self._best.epoch + 1
        self._record(epoch, "stop_training", params, reason)

    def _rewind(self, epoch: int, reason: str, factor: float, where: tuple[float, ...]) -> None:
        optimizer = self.model.optimizer
        old = optimizers.learning_rate(optimizer)
        new = max(old * factor, self.min_lr)
        # Back to weights from before the blow-up began (its finding's first
        # epoch): a first epoch that exploded leaves every later epoch dead,
        # however much one of them "improved" on it.
        began = where[0] if where else math.inf
        target = self._rewind_to if self._rewind_to.epoch + 1 <= began else self._initial
        self.model.set_weights(target.weights)
        optimizers.restore_state(optimizer, target.optimizer)
        self._set_rate(optimizer, new)
        self._repairs += 1
        # Judge what follows on its own: the blow-up before the rewind is dealt with.
        self._segment = Analyzer(self._engine_options, self._source)
        self._monitor.wait = self._plateau_wait = 0
        params = {"to_epoch": target.epoch + 1, "factor": factor, "from": _sig(old),
                  "to": _sig(new), "repairs_left": self.repair - self._repairs}
        self._record(epoch, "rewind", params, reason)

    def _lower_learning_rate(self, epoch: int, segment: Report) -> None:
        fixed = self._rate_is_fixed()
        if fixed is not None:
            self._note_once(f"{fixed}: it was not lowered on plateaus")
            return
        best_epoch = self._monitor.best_epoch
        stalled = (f"{self._monitor.tracking} has not improved for "
                   f"{count(epoch - best_epoch, 'epoch')} (best {self._monitor.best:.4g} at epoch "
                   f"{best_epoch + 1})")
        if self._fruitless_reductions >= MAX_FRUITLESS_REDUCTIONS:
            # Converged (or quietly overfitting): more epochs cannot beat the best
            # epoch, whose weights are restored at the end. EarlyStopping would
            # have stopped here too; the run is stopped while it no longer improves.
            self._stop(epoch, f"converged: {stalled}, nor since the learning rate was lowered "
                              f"at epoch {self._last_reduction + 1}")
            return
        optimizer = self.model.optimizer
        old = optimizers.learning_rate(optimizer)
        if old <= self.min_lr:
            return
        new = max(old * self.factor, self.min_lr)
        self._set_rate(optimizer, new)
        self._plateau_wait = 0
        self._fruitless_reductions += 1
        self._last_reduction = epoch
        # In epochs, not validations (with validation_freq=3, 3 validations are 9 epochs),
        # and "no overfitting" only where the rules could judge it.
        unjudged = next((x for x in segment.limitations if "overfitting cannot" in x), None)
        judged = f"{unjudged} yet" if unjudged else "the rules see no overfitting"
        reason = f"{stalled}; {judged}"
        self._record(epoch, "lower_learning_rate",
                     {"factor": self.factor, "from": _sig(old), "to": _sig(new)}, reason)

    def _batch_event(self, event: BatchEvent) -> None:
        if event.kind == "spike":
            if self._batches.spikes == 1:  # the rest are counted in the report's notes
                self._first_spike = event
                self._say(f"\nDiagnoseCallback: {event.message}")
            return
        self._blew_up_in_batch = event
        self._say(f"\nDiagnoseCallback: {event.message}")
        if self.action == "act" and not self._stopped and not self._can_rewind():
            self._blown_up = True  # so the weights fit() started from may be restored
            self._stop(event.epoch - 1, f"lr_too_high (loss-nan): {event.message}")

    def _snapshot(self, epoch: int) -> Snapshot:
        state = optimizers.state(self.model.optimizer) if self.repair else None
        return Snapshot(epoch, self.model.get_weights(), state)

    def _watch_learning_rate(self, logs: dict) -> None:
        """Log the rate, as ReduceLROnPlateau does, and notice when someone else sets it."""
        rate = optimizers.learning_rate(getattr(self._model, "optimizer", None))
        # In the logs already, or changed since the last epoch without us: a
        # scheduler or ReduceLROnPlateau owns the rate, and would undo our changes.
        if "learning_rate" in logs or (self._rate is not None and rate != self._rate):
            self._rate_managed_elsewhere = True
        if rate is not None and "learning_rate" not in logs:
            # The History, and so the engine, see it: fixes then give rates, not factors.
            logs["learning_rate"] = rate
            self._rate_logged = (logs, logs["learning_rate"])
        self._rate = rate

    def _set_rate(self, optimizer, rate: float) -> None:
        optimizers.set_learning_rate(optimizer, rate)
        self._rate = optimizers.learning_rate(optimizer)

    # --- saying ---------------------------------------------------------------
    def _announce(self, epoch: int, report: Report) -> None:
        # The same notices, at the same epochs, as diagnose --watch gives (diagnose.live).
        for notice in self._notices.update(epoch + 1, report):
            self._announced = notice.text
            self._say(f"\nEpoch {epoch + 1}: DiagnoseCallback: {self._announced}")

    def _record(self, epoch: int, action: str, params: dict, reason: str) -> None:
        self.actions.append(Action(float(epoch + 1), action, params, reason))
        shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
        said = "see above" if reason == self._announced else reason
        line = f"\nEpoch {epoch + 1}: DiagnoseCallback {action} ({shown}): "
        # In TensorBoard each epoch's entry stands alone: the reason in full.
        self._say(line + said, told=line + reason)

    def _note_once(self, note: str, warn: bool = True) -> None:
        """A note in the report; a warning too when the user's setup stops an action."""
        if note in self._notes:
            return
        self._notes.append(note)
        if warn and self._chief:
            warnings.warn(f"DiagnoseCallback: {note}", stacklevel=3)
        elif not warn:
            self._say(f"\nDiagnoseCallback: {note}")

    def _say(self, text: str, told: str | None = None) -> None:
        """One notice, at verbose 1 (or "auto" under fit(verbose=1 or 2)), on the chief only.

        Kept for TensorBoard too (``told``, when it should read otherwise there),
        whatever the verbosity; written at the epoch's end, never from a batch hook.
        """
        if self._chief and self._verbosity():
            _print(text)
        if self._board is not None:
            self._told.append((text if told is None else told).strip())

    # --- TensorBoard ------------------------------------------------------------
    def _open_board(self) -> None:
        """On the chief: a writer into <log_dir>/diagnose, log_dir given or a TensorBoard's."""
        self.tensorboard_dir = None
        if not self._chief:
            return
        if self.log_dir is False:
            return
        log_dir = self.log_dir if self.log_dir is not None else sibling_log_dir(self)
        if log_dir is None:
            return
        board = Board(log_dir)
        if board.open:
            self._board = board
            self.tensorboard_dir = board.path

    def _tell_board(self, epoch: int) -> None:
        """The epoch's notices, as one text entry at the step Keras' TensorBoard gives the epoch."""
        if self._board is not None and self._told:
            written_at, written = self._board_entry
            if written_at == epoch:
                # The end of training adds to the last epoch's entry: written again, whole,
                # since TensorBoard keeps one entry per step (a new one preempts the old).
                self._told = written + self._told
            self._board.write(NOTICES, notices_markdown(self._told), epoch)
            self._board_entry = (epoch, self._told)
        self._told = []

    def _close_board(self) -> None:
        board, self._board = getattr(self, "_board", None), None
        if board is not None:
            board.close()

    def _verbosity(self) -> int:
        if self.verbose != "auto":
            return min(self.verbose, 1)
        # fit() hands its own verbose to every callback's params ("auto" means 1).
        return 0 if (self.params or {}).get("verbose", "auto") == 0 else 1

    # --- state ------------------------------------------------------------------
    @property
    def _keeps_weights(self) -> bool:
        return self.action == "act" and bool(self.restore_best_weights or self.repair)

    def _start(self, source: str, optimizer: str | None = None) -> None:
        """Forget the previous fit(): every fit() is diagnosed on its own, as EarlyStopping does.

        ``optimizer``: the run's optimizer class, for the code snippets of the
        report's fixes (unless the options name one).
        """
        self._source = source
        if optimizer is not None and self.options.optimizer is None:
            self._engine_options = replace(self.options, optimizer=optimizer)
        else:
            self._engine_options = self.options
        self._analyzer = Analyzer(self._engine_options, source)
        self._segment = self._analyzer  # what decisions read: the run since the last rewind
        self._monitor.reset()
        self._report: Report | None = None
        self._batches = BatchWatch() if self.batch_checks else None
        self._blew_up_in_batch: BatchEvent | None = None
        self._first_spike: BatchEvent | None = None
        self._best: Snapshot | None = None  # restored at the end (restore_best_weights)
        self._rewind_to: Snapshot | None = None  # what a repair rewinds to
        self._initial: Snapshot | None = None  # the weights fit() started from (repair only)
        self._last_epoch: int | None = None
        self._plateau_wait = 0
        self._fruitless_reductions = 0  # plateau reductions since the last new best
        self._last_reduction = -1  # 0-based epoch of the last plateau reduction
        self._repairs = 0
        self._blown_up = False
        self._rate: float | None = None  # the learning rate at the last epoch end
        self._rate_managed_elsewhere = False
        self._rate_logged: tuple[dict, float] | None = None  # (the logs, the rate written there)
        self._stopped = False
        self._chief = True
        self._notes: list[str] = []
        self._announced = ""  # the last notice, so an action on it does not repeat it
        self._told: list[str] = []  # this epoch's notices, for TensorBoard
        self._board_entry: tuple[int | None, list[str]] = (None, [])  # the last one written
        self.actions: list[Action] = []
        self._notices = Notices()

    @property
    def first_seen(self) -> dict[str, int]:
        """Condition -> the 1-based epoch it was first reported."""
        return self._notices.first_seen


def _print(text: str) -> None:
    """Print as Keras' own callbacks do: stdout, or absl logging when interactive logging is off."""
    if keras.utils.is_interactive_logging_enabled():
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        logging.info(text)


def _numbers(logs: Mapping[str, object]) -> dict[str, float]:
    """The logged numbers; strings, None, arrays and anything else not a scalar are left out."""
    values = {}
    for name, value in logs.items():
        if value is None or isinstance(value, (str, bytes)) or getattr(value, "ndim", 0):
            continue
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            continue
    return values


def _strongest(report: Report, condition: str) -> Finding | None:
    """The report's findings are sorted strongest first."""
    return next((f for f in report.findings if f.condition == condition), None)


def _lower_factor(report: Report) -> float:
    fix = next((f for f in report.fixes if f.action == "lower_learning_rate"), None)
    return float(fix.params["factor"]) if fix is not None else REWIND_FACTOR


def _sig(rate: float) -> float:
    """A float32 learning rate as people write it (0.01, not 0.009999999776)."""
    return float(f"{rate:.6g}")


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) and math.isfinite(value) else str(value)
