"""Retrain corpus runs with a change and judge the outcome against the healthy twin.

The machinery behind ``benchmarks/fixes.py`` (the cure-rate benchmark) and
``scripts/size_lr.py`` (the learning-rate sizing study):

- :func:`corpus_rows` reads the calibration corpus (each run's spec name, label,
  CSV log and chance level; the healthy twin of every group);
- :func:`retrain` runs :class:`Job` s over a spawn pool, one TensorFlow thread per
  process, each from the spec's own seed, so the initial weights and the batches
  are the faulty run's own: only the change differs;
- :func:`judge` decides whether a retrained run is cured, by its outcome against
  the twin (``trainruns.labels``, the criteria that labelled the corpus), never by
  ``diagnose``. With ``EarlyStopping(restore_best_weights=True)`` the model the
  user keeps is the best epoch's, so the run is judged up to that epoch.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fixtures" / "corpus" / "runs.jsonl.gz"


def corpus_rows(path: Path = CORPUS) -> dict[str, dict]:
    """Every corpus row by run name, with its history parsed from its CSV log."""
    rows = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            row["history"] = history_of(row["csv"])
            rows[row["run"]] = row
    return rows


@functools.lru_cache(maxsize=None)
def chance_of(spec) -> float:
    """The chance-level loss of a spec's training rows (as the corpus labels used); once
    per spec, as every run of a group is judged against the same twin."""
    from trainruns.datasets import build_data, chance_loss

    _, y, n_fit = build_data(spec.family, spec.train_size, spec.validation,
                             spec.label_noise, spec.seed)
    return chance_loss(spec.family, y[:n_fit])


def history_of(csv_text: str) -> dict[str, list[float]]:
    """A CSVLogger file as Keras' ``History.history`` (empty cells: epochs without validation)."""
    reader = csv.DictReader(io.StringIO(csv_text))
    history: dict[str, list[float]] = {}
    for record in reader:
        for key, value in record.items():
            if key != "epoch" and value not in ("", "NA", None):
                history.setdefault(key, []).append(float(value))
    return history


@dataclass(frozen=True)
class Outcome:
    """What a retrained run met, judged on the epochs whose weights the user keeps."""

    conditions: frozenset[str]
    kept_epochs: int            # epochs judged (all, or up to the restored best epoch)
    epochs_run: int
    kept_loss: float            # the monitored loss of the kept model (inf when NaN)
    best_loss: float            # its best value over the run (inf when never finite)

    @property
    def cured(self) -> bool:
        return self.conditions == frozenset({"healthy"})


def monitored(history: dict) -> str:
    return "val_loss" if history.get("val_loss") else "loss"


def kept_and_best(history: dict, kept_epochs: int, validation_freq: int) -> tuple[float, float]:
    """The monitored loss at the kept epoch and its best, non-finite counted as inf."""
    key = monitored(history)
    values = history[key]
    if key == "val_loss":  # one point per validated epoch
        values = values[: max(1, kept_epochs // validation_freq)]
    else:
        values = values[:kept_epochs]
    finite = [v for v in values if math.isfinite(v)]
    last = values[-1] if values else math.inf
    return (last if math.isfinite(last) else math.inf), (min(finite) if finite else math.inf)


def judge(history: dict, chance: float, validation_freq: int, twin: dict,
          kept_epochs: int | None = None) -> Outcome:
    """The outcome criteria of ``trainruns.labels`` on the kept epochs, against ``twin``
    (the twin's ``measure()``)."""
    from trainruns.labels import measure, predicates

    n = len(history.get("loss", []))
    kept = n if kept_epochs is None else max(1, min(kept_epochs, n))
    if kept < 3:
        # EarlyStopping restored epoch 1 or 2: a model that never trained is not cured,
        # and the criteria need a curve to judge.
        kept_loss, best = kept_and_best(history, kept, validation_freq)
        return Outcome(frozenset({"kept_an_early_epoch"}), kept, n, kept_loss, best)
    h = {"loss": history["loss"][:kept]}
    if history.get("val_loss"):
        h["val_loss"] = history["val_loss"][: max(1, kept // validation_freq)]
    met = frozenset(c for c, v in predicates(measure(h, chance, validation_freq, twin)).items() if v)
    kept_loss, best = kept_and_best(history, kept, validation_freq)
    return Outcome(met, kept, n, kept_loss, best)


def twin_measure(twin_row: dict, twin_spec) -> dict:
    from trainruns.labels import measure

    return measure(twin_row["history"], chance_of(twin_spec), twin_row["validation_freq"], None)


# --- retraining --------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One retraining: ``spec`` (a ``trainruns.specs.Spec``), and the rounds of automatic
    fixes to apply, one :func:`diagnose.keras.apply_fixes` call per round, in order
    (each round a tuple of fixes in ``Fix.to_dict()`` form)."""

    key: Any
    spec: Any
    rounds: tuple[tuple[dict, ...], ...] = ()


@dataclass
class Result:
    key: Any
    history: dict
    csv: str
    kept_epochs: int | None       # the restored best epoch's count, when EarlyStopping restored
    changes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def _init() -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    from trainruns.train import configure_tf

    configure_tf(threads=1)


def _one(job: Job) -> Result:
    import keras

    from trainruns.train import train

    t = time.time()
    state: dict = {}

    def adjust(model, kwargs):
        from diagnose.keras import apply_fixes

        changes = []
        for fixes in job.rounds:
            kwargs, applied, _ = apply_fixes({"fixes": list(fixes)}, model, **kwargs)
            changes += [a.change for a in applied]
        state["changes"] = changes
        state["callbacks"] = kwargs.get("callbacks") or []
        return kwargs

    try:
        history, text = train(job.spec, adjust)
    except Exception as exc:  # a failed retraining is a result to report, not a crash
        return Result(job.key, {}, "", None, seconds=time.time() - t,
                      error=f"{type(exc).__name__}: {exc}")
    kept = None
    for cb in state.get("callbacks", []):
        if (isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights
                and cb.best_weights is not None):
            kept = int(cb.best_epoch) + 1
    return Result(job.key, history, text, kept, state.get("changes", []), time.time() - t)


def signature(job: Job) -> str:
    """What a retraining depends on: the spec and the fixes (not the job's key)."""
    text = repr(job.spec) + json.dumps(job.rounds, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def retrain(jobs: Iterable[Job], processes: int = 2,
            progress: Callable[[int, int, Result], None] | None = None,
            cache: Path | None = None) -> Iterator[Result]:
    """Train ``jobs`` over ``processes`` spawned workers, yielding results as they finish.

    ``cache``: a JSON-lines file of finished trainings by :func:`signature`. Training is
    deterministic (same seed, deterministic ops), so a job already in it is not
    trained again; new results are appended as they come.
    """
    jobs = list(jobs)
    done: dict[str, dict] = {}
    if cache is not None and cache.exists():
        with cache.open() as fh:
            done = {d["signature"]: d for d in map(json.loads, fh)}
    todo = []
    for i, job in enumerate(jobs, 1):
        d = done.get(signature(job))
        if d is None:
            todo.append(job)
            continue
        result = Result(job.key, d["history"], d["csv"], d["kept_epochs"], d["changes"],
                        d["seconds"], d["error"])
        if progress is not None:
            progress(i, len(jobs), result)
        yield result
    if not todo:
        return
    sink = None
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        sink = cache.open("a")
    sigs = {job.key: signature(job) for job in todo}
    ctx = mp.get_context("spawn")
    try:
        with ctx.Pool(processes, initializer=_init, maxtasksperchild=20) as pool:
            for i, result in enumerate(pool.imap_unordered(_one, todo, chunksize=1),
                                       len(jobs) - len(todo) + 1):
                if sink is not None and result.error is None:
                    sink.write(json.dumps({"signature": sigs[result.key], **{
                        k: getattr(result, k) for k in ("history", "csv", "kept_epochs",
                                                        "changes", "seconds", "error")}}) + "\n")
                    sink.flush()
                if progress is not None:
                    progress(i, len(jobs), result)
                yield result
    finally:
        if sink is not None:
            sink.close()
