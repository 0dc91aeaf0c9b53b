"""``diagnose --check FILE``: what was read from a log, what was left out, and what to log next time.

    diagnose --check training.log.csv
    diagnose --check training.log.csv --format json

A diagnosis is only as good as the log. Before trusting (or doubting) a
verdict, a user can see what the loader made of the file: the format, the
series with their direction and their role in the diagnosis, how many
values each has (and how many were NaN or infinite), which segment of an
appended file was used, what was skipped and why, and what could not be
judged. Then what to log next time for a better diagnosis.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np

from .metrics import parse_metric
from .report import count
from .rules.base import epoch_str
from .run import LEARNING_RATE, VAL_PREFIX, Run

# What to log next time, by what is missing. Each says why it matters.
ADVICE = {
    "learning_rate": (
        "log the learning rate: put a LearningRateScheduler or ReduceLROnPlateau (both write "
        "'learning_rate' into the epoch's logs), or DiagnoseCallback, before CSVLogger in the "
        "callbacks list. Without it, fixes give factors instead of rates, and a flat loss "
        "cannot be told from a model that cannot learn"),
    "validation": (
        "pass validation_data= or validation_split= to fit(): without a validation curve "
        "overfitting cannot be judged and EarlyStopping has nothing to watch"),
    "metric": (
        "compile with metrics=['accuracy'] (or the metric that matters): with it the "
        "diagnosis can tell a model at chance level or an accuracy that collapses"),
    "epochs": (
        "log per epoch (CSVLogger) as well as per step: epoch averages are far less noisy, "
        "and EarlyStopping's patience is counted in epochs"),
    "length": "train for more epochs: fewer than 3 finite points have no shape to judge",
    "tuner": (
        "keep each trial's curve: KerasTuner's built-in tuners record only the best epoch. "
        "Report every epoch to the oracle (override Tuner.on_epoch_end to call "
        "oracle.update_trial(trial.trial_id, logs, step=epoch)), or pass "
        "keras.callbacks.TensorBoard(log_dir) to search() and diagnose that folder"),
}


def check(source: Any, **options: Any) -> dict[str, Any]:
    """What was read from ``source`` (what :func:`diagnose.diagnose` takes), as a dict.

    Raises:
        diagnose.LogError: the source cannot be read (as :func:`diagnose.diagnose` would).
    """
    from .api import LOAD_OPTIONS, judge_safely
    from .engine import Options
    from .load import load
    from .verdict import features_of

    load_options = {k: v for k, v in options.items() if k in LOAD_OPTIONS}
    engine_options = Options.from_kwargs(
        "check", **{k: v for k, v in options.items() if k not in LOAD_OPTIONS})
    run = source if isinstance(source, Run) else load(source, **load_options)
    report = judge_safely(run, engine_options)
    features = features_of(run, engine_options)
    roles = _roles(features)
    series = [_series(run, name, roles.get(name)) for name in run.names]
    info: dict[str, Any] = {
        "source": run.source,
        "format": run.format,
        "granularity": run.granularity,
        "points": len(run),
        "x": [float(run.epochs[0]), float(run.epochs[-1])] if len(run) else None,
        "judged_on": len(features.run) if len(features.run) != len(run) else None,
        "series": series,
        "params": dict(run.params),
        "read": list(run.notes),
        "not_judged": list(report.limitations),
        "verdict": list(report.conditions),
        "next_time": _next_time(run, features, report),
    }
    warnings = getattr(report, "warnings", ())
    if warnings:
        info["warnings"] = [w.to_dict() if hasattr(w, "to_dict") else str(w) for w in warnings]
    return info


def _roles(features) -> dict[str, str]:
    roles: dict[str, str] = {}
    if features.train is not None:
        roles[features.train.name] = "training loss (judged)"
    if features.val is not None:
        roles[features.val.name] = "validation loss (judged)"
    if features.monitor is not None:
        name = features.monitor.name
        roles[name] = (roles[name] + "; monitored") if name in roles else "monitored"
    for curve in (features.metric_train, features.metric_val):
        if curve is not None and curve.name not in roles:
            roles[curve.name] = "quality metric (judged)"
    roles.setdefault(LEARNING_RATE, "learning rate (sizes the fixes)")
    return roles


def _series(run: Run, name: str, role: str | None) -> dict[str, Any]:
    values, logged = run.series[name], run.logged[name]
    finite = logged & np.isfinite(values)
    bad = int((logged & ~np.isfinite(values)).sum())
    metric = parse_metric(name)
    where = run.epochs[logged]
    direction = ("lower is better" if metric.direction == "min" else "higher is better"
                 if metric.direction == "max" else "unknown direction: not used")
    if name == LEARNING_RATE:
        direction = "setting"
    return {
        "name": name,
        "split": "validation" if name.startswith(VAL_PREFIX) else "training",
        "direction": direction,
        "role": role if run.has(name) else None,
        "logged": int(logged.sum()),
        "finite": int(finite.sum()),
        "nan_or_inf": bad,
        "first": float(where[0]) if len(where) else None,
        "last": float(where[-1]) if len(where) else None,
    }


def _next_time(run: Run, features, report) -> list[str]:
    advice = []
    if not run.has(LEARNING_RATE):
        advice.append(ADVICE["learning_rate"])
    if features.val is None:
        advice.append(ADVICE["validation"])
    if features.metric_name is None:
        advice.append(ADVICE["metric"])
    if run.granularity == "step" and not any(n.startswith(VAL_PREFIX) for n in run.names):
        advice.append(ADVICE["epochs"])
    main = features.main
    if main is not None and len(main) < 3:
        # A tuner trial of one point trained for longer; it is its record that is short.
        advice.append(ADVICE["tuner"] if run.format == "kerastuner_trial" else ADVICE["length"])
    return advice


def check_text(info: Mapping[str, Any]) -> str:
    """The check as a person reads it."""
    x = info["x"]
    if info["granularity"] == "step":
        what = count(info["points"], "logged step")
        span = f", epochs {epoch_str(x[0])} to {epoch_str(x[1])}" if x else ""
    else:
        what = count(info["points"], "epoch")
        span = f", {epoch_str(x[0])} to {epoch_str(x[1])}" if x else ""
    lines = [f"{info['source']}: read as {info['format']}: {what}{span}"]
    if info.get("judged_on"):
        lines.append(f"  judged on {info['judged_on']} bins of its x axis (medians per bin)")
    lines.append("")
    width = max([len(s["name"]) for s in info["series"]] + [6])
    lines.append(f"  {'series':<{width}}  {'values':>6}  {'NaN/inf':>7}  {'epochs':<13}  "
                 "direction, role")
    for s in info["series"]:
        where = f"{epoch_str(s['first'])}-{epoch_str(s['last'])}" if s["first"] is not None else "-"
        role = f", {s['role']}" if s["role"] else ""
        lines.append(f"  {s['name']:<{width}}  {s['finite']:>6}  {s['nan_or_inf']:>7}  "
                     f"{where:<13}  {s['direction']}{role}")
    if info["params"]:
        shown = ", ".join(f"{k}={_setting(v)}" for k, v in list(info["params"].items())[:12])
        lines += [""] + textwrap.wrap(f"settings: {shown}", 100, initial_indent="  ",
                                      subsequent_indent="    ")
    for title, key in (("What the loader decided", "read"), ("Not judged", "not_judged"),
                       ("Warnings", "warnings"), ("Log next time", "next_time")):
        items = info.get(key) or []
        if items:
            lines += ["", f"  {title}"]
            for item in items:
                text = item["message"] if isinstance(item, dict) and "message" in item else item
                lines += textwrap.wrap(f"- {text}", 100, initial_indent="  ",
                                       subsequent_indent="    ")
    verdict = ", ".join(info["verdict"]) or "not judged"
    lines += ["", f"  verdict: {verdict} (diagnose {info['source']} for the report)"]
    return "\n".join(lines) + "\n"



def _setting(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
