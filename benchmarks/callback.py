"""What DiagnoseCallback does to real training runs, and what it costs.

Two sets of scenarios (``--scenarios``):

``fixtures`` (default): the fixture generator's scenarios
(``scripts/generate_fixtures.py``: real ``model.fit()`` runs of small models
on scikit-learn data, one or two per condition), trained three ways:

  none   no callback
  seed   EarlyStopping(patience=5, restore_best_weights=True)
         + ReduceLROnPlateau(factor=0.5, patience=2) + TerminateOnNaN()
  act    DiagnoseCallback(action="act")

``corpus``: one spec of the corpus generator (``trainruns.specs.grid()``) per
way of inducing a condition (the spec's ``fault``, 42 of them, healthy ones
included), held-out families only, picked deterministically (see
:func:`corpus_scenarios`), each trained five ways: ``none``, ``recipe`` (the
seed trio above), ``warn`` (DiagnoseCallback()), ``act``
(DiagnoseCallback(action="act")) and ``act_r2`` (the same with repair=2).
``--quick`` takes 6 of them. Per scenario: epochs run and the loss of the
model as fit() leaves it (evaluated on the validation rows, or on the
training rows for a run without validation, marked ``t``); the visible epoch
of each condition of the uncontrolled run's final verdict (the first epoch e
from which ``diagnose(history[:e])`` gives it at every epoch to the end) and
the epoch of warn's first notice of it (``callback.first_seen``); the
callback's own CPU time as a share of the run's. The last line sums up issue
9's targets.

Overhead (both modes): a short healthy run, median of ``--repeat`` runs each
without a callback, with DiagnoseCallback(action="act") and with
batch_checks=True; plus the callback's own per-epoch and per-batch cost
measured in isolation.

    python benchmarks/callback.py [--scenarios fixtures|corpus] [--quick]
                                  [--only NAME ...] [--repeat 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np

# One or two scenarios per condition, chosen to keep the whole benchmark under 10 minutes.
SCENARIOS = {
    "overfitting": ("moons_overfit_subset", "digits_overfit_subset"),
    "lr_too_high": ("digits_high_sgd_nan", "cls5_high_adam_diverge"),
    "lr_too_low": ("digits_low_1e-6",),
    "underfitting": ("digits_underfit_capacity",),
    "healthy": ("moons_healthy_adam", "digits_healthy_adam"),
}
OVERHEAD_SCENARIO, OVERHEAD_EPOCHS = "digits_healthy_adam", 10


def seed_recipe(monitor: str) -> list:
    import keras

    return [keras.callbacks.EarlyStopping(monitor=monitor, patience=5, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=2),
            keras.callbacks.TerminateOnNaN()]


def val_loss_kept(g, scenario, model) -> float | None:
    """The validation loss of the model as fit() left it (after any weight restore)."""
    if not scenario.validation_split:
        return None
    x, y, n_fit = g.build_data(scenario)
    y_val = ({"out1": y[n_fit:, 0], "out2": y[n_fit:, 1]} if scenario.multi_output
             else y[n_fit:])
    result = model.evaluate(x[n_fit:], y_val, verbose=0, batch_size=256)
    return float(result[0] if isinstance(result, list) else result)


def train(g, scenario, callbacks):
    wall, cpu = time.perf_counter(), time.process_time()
    history = g.train(scenario, callbacks=callbacks)
    return history, time.perf_counter() - wall, time.process_time() - cpu


def visible_epoch(history: dict, condition: str) -> float | None:
    """Where the offline diagnosis of the uncontrolled run says the condition shows first."""
    from diagnose import diagnose

    report = diagnose(history)
    epochs = [f.epochs[0] for f in report.findings if f.condition == condition and f.epochs]
    return min(epochs) if epochs else None


def seed_intervention(early_stopping, history: dict, budget: int) -> tuple[str, str]:
    """(first epoch a seed callback intervened, what they did)."""
    done, first = [], []
    rates = history.get("learning_rate", [])  # ReduceLROnPlateau logs the rate it set
    drops = [i + 1 for i in range(1, len(rates)) if rates[i] < rates[i - 1]]
    if drops:
        done.append(f"lr/2@{drops[0]}" + (f" x{len(drops)}" if len(drops) > 1 else ""))
        first.append(drops[0])
    epochs = len(history["loss"])
    if early_stopping.stopped_epoch:
        done.append(f"stop@{early_stopping.stopped_epoch + 1}, restore")
        first.append(early_stopping.stopped_epoch + 1)
    elif epochs < budget:
        done.append(f"nan-stop@{epochs}")
        first.append(epochs)
    return (str(min(first)) if first else "-"), ", ".join(done) or "-"


def act_summary(callback) -> str:
    counts: dict[str, int] = {}
    for a in callback.report.actions:
        counts[a.action] = counts.get(a.action, 0) + 1
    short = {"stop_training": "stop", "lower_learning_rate": "lr/2",
             "restore_best_weights": "restore", "rewind": "rewind"}
    parts = []
    for action, n in counts.items():
        first = next(a for a in callback.report.actions if a.action == action)
        if action == "restore_best_weights":  # which weights, not when
            parts.append(f"kept e{first.params['epoch']}")
            continue
        parts.append(f"{short.get(action, action)}@{int(first.epoch)}"
                     + (f" x{n}" if n > 1 else ""))
    return ", ".join(parts) or "-"


def compare(g, names: list[str]) -> list[list[str]]:
    from diagnose.keras import DiagnoseCallback

    by_name = {s.name: s for s in g.SCENARIOS}
    rows = []
    for condition, scenario_names in SCENARIOS.items():
        for name in scenario_names:
            if names and name not in names:
                continue
            s = by_name[name]
            monitor = "val_loss" if s.validation_split else "loss"
            history, wall, cpu = train(g, s, [])
            plain = {k: [float(v) for v in vs] for k, vs in history.history.items()}
            seen = visible_epoch(plain, condition)
            seen_text = "-" if seen is None else f"{seen:g}"
            rows.append([name, condition, seen_text, "none", str(len(plain["loss"])),
                         _fmt(val_loss_kept(g, s, history.model)), "-", "-",
                         f"{wall:.1f}", f"{cpu:.1f}"])
            seed = seed_recipe(monitor)
            history, wall, cpu = train(g, s, seed)
            epochs = len(history.history["loss"])
            first, done = seed_intervention(seed[0], history.history, s.epochs)
            rows.append(["", "", "", "seed", str(epochs), _fmt(val_loss_kept(g, s, history.model)),
                         first, done, f"{wall:.1f}", f"{cpu:.1f}"])
            callback = DiagnoseCallback(action="act", verbose=0)
            history, wall, cpu = train(g, s, [callback])
            if condition == "healthy":  # any condition reported is a false alarm
                detected = ", ".join(f"{c}@{e}" for c, e in callback.first_seen.items()) or "-"
            else:
                detected = str(callback.first_seen.get(condition, "-"))
            rows.append(["", "", "", "act", str(len(history.history["loss"])),
                         _fmt(val_loss_kept(g, s, history.model)), detected, act_summary(callback),
                         f"{wall:.1f}", f"{cpu:.1f}"])
            print(f"  trained {name}", file=sys.stderr, flush=True)
    return rows


def overhead(g, repeat: int) -> list[str]:
    from diagnose.keras import DiagnoseCallback

    s = dataclasses.replace(next(s for s in g.SCENARIOS if s.name == OVERHEAD_SCENARIO),
                            epochs=OVERHEAD_EPOCHS)
    variants = {"none": list,
                "act": lambda: [DiagnoseCallback(action="act", verbose=0)],
                "act+batch_checks": lambda: [DiagnoseCallback(action="act", batch_checks=True,
                                                              verbose=0)]}
    train(g, s, [])  # warm-up: imports, first graph build
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    for i in range(repeat):
        # Interleaved, in alternating order: drift and the cost of following
        # another run hit every variant alike.
        for variant in list(variants)[:: 1 if i % 2 else -1]:
            _, wall, cpu = train(g, s, variants[variant]())
            times[variant].append((wall, cpu))
    base_wall = statistics.median(w for w, _ in times["none"])
    base_cpu = statistics.median(c for _, c in times["none"])
    rows = int(len(g.build_data(s)[0]) * (1 - s.validation_split))
    steps = OVERHEAD_EPOCHS * -(-rows // s.batch_size)
    lines = [(f"overhead: {OVERHEAD_SCENARIO}, {OVERHEAD_EPOCHS} epochs ({steps} batches), "
              f"median of {repeat}")]
    for variant in variants:
        wall = statistics.median(w for w, _ in times[variant])
        cpu = statistics.median(c for _, c in times[variant])
        lines.append(f"  {variant:<17s} wall {wall:6.2f} s ({100 * (wall / base_wall - 1):+5.1f}%)"
                     f"   cpu {cpu:6.2f} s ({100 * (cpu / base_cpu - 1):+5.1f}%)")
    return lines


def unit_costs() -> list[str]:
    """The callback's own work, without training: per epoch (engine re-run) and per batch."""
    from diagnose.keras import DiagnoseCallback
    from diagnose.keras.batches import BatchWatch

    rng = np.random.default_rng(0)
    lines = []
    for n in (50, 150):
        callback = DiagnoseCallback(verbose=0)
        costs = []
        for epoch in range(n):
            logs = {"loss": 2 * np.exp(-epoch / 10) + 0.1 + 0.01 * rng.standard_normal(),
                    "val_loss": 2 * np.exp(-epoch / 10) + 0.3 + 0.01 * rng.standard_normal(),
                    "accuracy": 0.9, "val_accuracy": 0.85}
            start = time.perf_counter()
            callback.on_epoch_end(epoch, logs)
            costs.append(time.perf_counter() - start)
        lines.append(f"  on_epoch_end at epoch {n}: {1e3 * statistics.median(costs[-10:]):.2f} ms "
                     f"(median of the last 10)")
    watch = BatchWatch()
    watch.begin_epoch(0)
    means = (1.0 + 0.05 * rng.standard_normal(100_000)).cumsum() / np.arange(1, 100_001)
    logs = [{"loss": float(m)} for m in means]
    start = time.perf_counter()
    for batch, log in enumerate(logs):
        watch.update(batch, log)
    per_batch = (time.perf_counter() - start) / len(logs)
    lines.append(f"  batch check: {1e6 * per_batch:.2f} us per batch")
    return ["callback's own cost:"] + lines


# --- the corpus scenarios (issue 9) ------------------------------------------------------

# Architectures cheap enough to train five times each (no LSTM/GRU, no conv2d).
CHEAP_ARCHITECTURES = ("mlp", "linear", "conv1d", "embedding")
# A family is a candidate for a fault when its cheapest spec of that fault costs at most
# this many times the cheapest family's (so 80-epoch iris runs are taken only where
# every family is as long, and regression families stay in).
CHEAP_WITHIN = 1.5
# --quick: one scenario per condition, a blow-up and a healthy run.
QUICK_FAULTS = ("healthy/twin", "lr_too_high/nan", "lr_too_high/diverge", "lr_too_low/flat_sgd",
                "underfitting/l2", "overfitting/big_model")
VARIANTS = ("none", "recipe", "warn", "act", "act_r2")
TOLERANCE = 0.01  # "within 1% of the recipe's kept loss"
HOOKS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end",
         "on_train_batch_end")
SHORT = {"overfitting": "ovf", "underfitting": "unf", "lr_too_high": "high",
         "lr_too_low": "low", "healthy": "ok"}


def estimated_cost(spec, rows: int) -> float:
    """CPU seconds, roughly: on these small models a fixed cost per run (graph tracing)
    and per epoch (validation, callbacks) dominates, plus a little per batch."""
    n = spec.train_size or rows
    n_fit = math.floor(n * (1 - (spec.validation or 0)))
    return 1.0 + spec.epochs * (0.05 + 0.005 * math.ceil(n_fit / spec.batch_size))


def corpus_scenarios(quick: bool = False, only: list[str] | None = None) -> list:
    """One spec per fault of the grid (in the grid's order), held-out families only.

    Per fault: each held-out family's cheapest spec of it with a cheap architecture
    (the small training set), the families within CHEAP_WITHIN of the cheapest one
    kept, in SPLIT["heldout"] order, and the i-th fault takes the (i mod n)-th of
    them: a round robin over families, the same on every machine.
    """
    from trainruns.datasets import FAMILIES, SPLIT
    from trainruns.specs import grid

    families = SPLIT["heldout"]
    rows = {f: len(FAMILIES[f].loader()[0]) for f in families}
    specs = [s for s in grid() if s.family in families
             and s.architecture in CHEAP_ARCHITECTURES]
    faults = list(dict.fromkeys(s.fault for s in grid()))
    chosen = []
    for i, fault in enumerate(faults):
        cheapest: dict = {}
        for s in specs:
            if s.fault == fault and (s.family not in cheapest or estimated_cost(s, rows[s.family])
                                     < estimated_cost(cheapest[s.family], rows[s.family])):
                cheapest[s.family] = s
        if not cheapest:
            continue
        low = min(estimated_cost(s, rows[s.family]) for s in cheapest.values())
        pool = [cheapest[f] for f in families if f in cheapest
                and estimated_cost(cheapest[f], rows[f]) <= CHEAP_WITHIN * low]
        chosen.append(pool[i % len(pool)])
    if quick:
        chosen = [s for s in chosen if s.fault in QUICK_FAULTS]
    if only:
        chosen = [s for s in chosen if s.run in only or s.fault in only]
    return chosen


@dataclasses.dataclass
class Trained:
    """One training of a scenario with one variant's callbacks."""

    history: dict
    epochs: int
    kept: float | None    # the loss of the model as fit() left it (None: nothing to evaluate)
    callback: Any         # the DiagnoseCallback, or the recipe's callbacks
    cpu: float            # process CPU seconds of fit()
    wall: float
    callback_cpu: float   # of which inside DiagnoseCallback's hooks


def _timed(callback) -> list[float]:
    """Count the process CPU time spent inside the callback's hooks."""
    spent = [0.0]
    for name in HOOKS:
        hook = getattr(callback, name)

        def timed(*args, _hook=hook, **kwargs):
            start = time.process_time()
            try:
                return _hook(*args, **kwargs)
            finally:
                spent[0] += time.process_time() - start

        setattr(callback, name, timed)
    return spent


def recipe_for(spec) -> list:
    """The recipe; without ReduceLROnPlateau on a run whose rate a schedule already sets
    (it raises on a CosineDecay optimizer, and would be a second hand on the rate next to
    a LearningRateScheduler or the spec's own ReduceLROnPlateau)."""
    callbacks = seed_recipe("val_loss" if spec.validation else "loss")
    if spec.schedule != "none":
        callbacks = [c for c in callbacks if type(c).__name__ != "ReduceLROnPlateau"]
    return callbacks


def train_variant(spec, variant: str, data) -> Trained:
    import keras

    from diagnose.keras import DiagnoseCallback
    from trainruns.train import train as train_spec

    callback, spent = None, [0.0]
    if variant == "recipe":
        callback = extra = recipe_for(spec)
    elif variant == "none":
        extra = []
    else:
        kwargs = {"warn": {}, "act": {"action": "act"},
                  "act_r2": {"action": "act", "repair": 2}}[variant]
        callback = DiagnoseCallback(verbose=0, **kwargs)
        spent = _timed(callback)
        extra = [callback]
    state = {}

    def adjust(model, fit_kwargs):
        state["model"] = model
        own = list(fit_kwargs.get("callbacks") or [])
        if variant not in ("none", "recipe"):
            # The corpus generator's LearningRateLogger only writes the rate into the logs;
            # DiagnoseCallback writes it itself and would take a callback that writes it for
            # one that sets it (and leave the rate alone).
            own = [c for c in own if type(c).__name__ != "LearningRateLogger"]
        fit_kwargs["callbacks"] = own + extra
        return fit_kwargs

    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EarlyStopping without val_loss on off epochs, etc.
        history, _ = train_spec(spec, adjust)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    x, y = data
    result = state["model"].evaluate(x, y, verbose=0, batch_size=256)
    kept = float(result[0] if isinstance(result, list) else result)
    keras.backend.clear_session()
    return Trained(history, len(history["loss"]), kept, callback, cpu, wall, spent[0])


def evaluation_rows(spec):
    """The rows the kept loss is measured on: validation_split's (the last), or, for a run
    without validation, the training rows."""
    from trainruns.datasets import build_data

    x, y, n_fit = build_data(spec.family, spec.train_size, spec.validation, spec.label_noise,
                             spec.seed)
    return (x[n_fit:], y[n_fit:]) if spec.validation else (x[:n_fit], y[:n_fit])


def verdicts(history: dict) -> list[tuple[str, ...]]:
    """diagnose(history[:e]).conditions for e = 1 .. the run's epochs (the offline engine)."""
    from diagnose import LogError, diagnose
    from diagnose.load import load

    run = load(history)
    out = []
    for e in range(1, len(run) + 1):
        try:
            out.append(diagnose(run.head(e)).conditions)
        except LogError:
            out.append(())
    return out


def visible_epochs(history: dict) -> tuple[tuple[str, ...], dict[str, int]]:
    """(the final verdict, {condition: visible epoch}) for each problem condition of it:
    the first epoch from which diagnose(history[:e]) gives the condition to the end."""
    seen = verdicts(history)
    final = seen[-1] if seen else ()
    visible = {}
    for condition in final:
        if condition == "healthy":
            continue
        first = len(seen)
        while first > 1 and condition in seen[first - 2]:
            first -= 1
        visible[condition] = first
    return final, visible


@dataclasses.dataclass
class Scenario:
    spec: Any
    runs: dict            # variant -> Trained
    final: tuple          # the uncontrolled run's final verdict
    visible: dict         # condition -> visible epoch (uncontrolled run)

    @property
    def name(self) -> str:
        return self.spec.run

    @property
    def healthy(self) -> bool:
        return self.spec.fault.startswith("healthy/")

    def loss(self, variant: str) -> float:
        kept = self.runs[variant].kept
        return math.inf if kept is None or not math.isfinite(kept) else kept

    def notices(self) -> dict[str, int]:
        return dict(self.runs["warn"].callback.first_seen)

    def latency(self) -> dict[str, int | None]:
        notices = self.notices()
        return {c: (notices[c] - e if c in notices else None) for c, e in self.visible.items()}


def run_corpus(specs: list) -> list[Scenario]:
    scenarios = []
    for i, spec in enumerate(specs, 1):
        start = time.perf_counter()
        data = evaluation_rows(spec)
        runs = {v: train_variant(spec, v, data) for v in VARIANTS}
        final, visible = visible_epochs(runs["none"].history)
        scenarios.append(Scenario(spec, runs, final, visible))
        print(f"  [{i}/{len(specs)}] {spec.run}: {time.perf_counter() - start:.0f} s",
              file=sys.stderr, flush=True)
    return scenarios


def _cell(run: Trained, spec) -> str:
    if run.kept is None:
        return f"{run.epochs}/-"
    return f"{run.epochs}/{run.kept:.4g}" + ("" if spec.validation else "t")


def _at(conditions: dict) -> str:
    return " ".join(f"{SHORT.get(c, c)}@{e}" for c, e in conditions.items()) or "-"


def corpus_table(scenarios: list[Scenario]) -> list[str]:
    header = ["scenario", "E", "final", "visible", "warn notice", "none", "recipe", "warn",
              "act", "act r=2", "act did"]
    rows = []
    for sc in scenarios:
        act_did = act_summary(sc.runs["act"].callback)
        r2_did = act_summary(sc.runs["act_r2"].callback)
        if r2_did != act_did:
            act_did += f"; r=2: {r2_did}"
        rows.append([sc.name, str(sc.spec.epochs),
                     "+".join(SHORT.get(c, c) for c in sc.final) or "-",
                     _at(sc.visible), _at(sc.notices()),
                     *(_cell(sc.runs[v], sc.spec) for v in VARIANTS), act_did])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return lines


def _pct(a: float, b: float) -> str:
    if not math.isfinite(b):
        return "recipe nan"
    return f"{100 * (a / b - 1):+.1f}%" if b else "n/a"


def corpus_summary(scenarios: list[Scenario], overhead_lines: list[str]) -> tuple[list[str], str]:
    """(the summary lines, the one-line verdict on issue 9's targets)."""
    lines, verdict = [], []
    n = len(scenarios)

    def within(sc, variant):
        return sc.loss(variant) <= sc.loss("recipe") * (1 + TOLERANCE) or (
            math.isinf(sc.loss("recipe")))

    for variant in ("act", "act_r2"):
        worse = [sc for sc in scenarios if not within(sc, variant)]
        lines.append(f"kept loss, {variant} vs recipe: within {TOLERANCE:.0%} or better on "
                     f"{n - len(worse)}/{n}"
                     + ("; worse on " + ", ".join(
                         f"{sc.name} ({sc.loss(variant):.4g} vs {sc.loss('recipe'):.4g}, "
                         f"{_pct(sc.loss(variant), sc.loss('recipe'))})" for sc in worse)
                        if worse else ""))
        if variant == "act":
            verdict.append(f"loss within 1% {n - len(worse)}/{n} "
                           + ("MET" if not worse else "MISSED"))

    med = {v: statistics.median(sc.runs[v].epochs for sc in scenarios) for v in VARIANTS}
    lines.append("median epochs: " + ", ".join(f"{v} {med[v]:g}" for v in VARIANTS))
    verdict.append(f"median epochs act {med['act']:g} vs recipe {med['recipe']:g} "
                   + ("MET" if med["act"] <= med["recipe"] else "MISSED"))

    faulty = [sc for sc in scenarios if not sc.healthy]
    if faulty:
        total = {v: sum(sc.runs[v].epochs for sc in faulty) for v in VARIANTS}
        fewer = 100 * (1 - total["act"] / total["recipe"])
        less = f"{abs(fewer):.0f}% {'fewer' if fewer >= 0 else 'more'}"
        better = [sc for sc in faulty if sc.loss("act") < sc.loss("recipe") * (1 - TOLERANCE)]
        same = [sc for sc in faulty if sc not in better and within(sc, "act")]
        worse = len(faulty) - len(better) - len(same)
        ratios = [sc.loss("act") / sc.loss("recipe") for sc in faulty
                  if math.isfinite(sc.loss("act")) and math.isfinite(sc.loss("recipe"))
                  and sc.loss("recipe") > 0]
        ratio = statistics.median(ratios) if ratios else math.nan
        lines.append(f"faulty runs ({len(faulty)}): total epochs act {total['act']} vs recipe "
                     f"{total['recipe']} ({less}; none {total['none']}, act r=2 "
                     f"{total['act_r2']}); act's kept loss better by >1% on {len(better)}, "
                     f"within 1% on {len(same)}, worse on {worse}; median act/recipe loss "
                     f"{ratio:.3f}")
        met = fewer >= 25 or ratio <= 1 - TOLERANCE
        verdict.append(f"faulty epochs {less}"
                       + (f" (loss ratio {ratio:.3f})" if fewer < 25 else "")
                       + (" MET" if met else " MISSED"))

    healthy = [sc for sc in scenarios if sc.healthy]
    if healthy:
        early = [sc for sc in healthy if sc.runs["act"].epochs < sc.spec.epochs
                 and sc.runs["recipe"].epochs >= sc.spec.epochs]
        stopped = [sc for sc in healthy if sc.runs["act"].epochs < sc.spec.epochs]
        lines.append(
            f"healthy runs ({len(healthy)}): stopped early by act (before the planned epochs "
            f"while the recipe ran them all) {len(early)}"
            + (" (" + ", ".join(sc.name for sc in early) + ")" if early else "")
            + f"; stopped by act at all {len(stopped)}"
            + (" (" + ", ".join(f"{sc.name} at {sc.runs['act'].epochs}, recipe "
                                 f"{sc.runs['recipe'].epochs}, loss "
                                 f"{_pct(sc.loss('act'), sc.loss('recipe'))}"
                                 for sc in stopped) + ")" if stopped else ""))
        verdict.append(f"healthy stopped early {len(early)}/{len(healthy)} "
                       + ("MET" if not early else "MISSED"))

    pairs = [(sc, c, late) for sc in scenarios for c, late in sc.latency().items()]
    noticed = [late for _, _, late in pairs if late is not None]
    if noticed:
        lines.append(f"detection latency (warn's notice - visible epoch), {len(noticed)} of "
                     f"{len(pairs)} conditions noticed: median {statistics.median(noticed):g}, "
                     f"max {max(noticed)}, min {min(noticed)}")
        late = [f"{sc.name} {SHORT[c]} {late:+d}" for sc, c, late in pairs
                if late is not None and late > 1]
        if late:
            lines.append("  more than 1 epoch late: " + ", ".join(late))
        early_notice = [f"{sc.name} {SHORT[c]} {late:+d}" for sc, c, late in pairs
                        if late is not None and late < 0]
        if early_notice:
            lines.append("  noticed before visible (the condition came and went): "
                         + ", ".join(early_notice))
        verdict.append(f"latency median {statistics.median(noticed):g} max {max(noticed)} "
                       + ("MET" if statistics.median(noticed) <= 0 and max(noticed) <= 2
                          else "MISSED"))
    never = [(sc, c) for sc, c, late in pairs if late is None]
    if never:
        def rules(sc, condition):
            found = {f.rule for f in sc.runs["warn"].callback.report.findings
                     if f.condition == condition}
            return "/".join(sorted(found)) or "not in warn's verdict"

        lines.append("  never noticed in warn (in the final report only): " + ", ".join(
            f"{sc.name} {SHORT[c]} (rules at the end: {rules(sc, c)})" for sc, c in never))
    stray = [f"{sc.name} {SHORT.get(c, c)}@{e}" for sc in scenarios
             for c, e in sc.notices().items() if c not in sc.final]
    if stray:
        lines.append("  warn notices of a condition not in the final verdict: " + ", ".join(stray))

    from diagnose import diagnose

    live = sum(sc.runs["warn"].callback.report.conditions
               == diagnose(sc.runs["warn"].history).conditions for sc in scenarios)
    same = sum(sc.runs["warn"].callback.report.conditions == sc.final for sc in scenarios)
    lines.append(f"warn's verdict at the end = diagnose(its history) on {live}/{n}; "
                 f"= the uncontrolled run's on {same}/{n}")

    shares = {}
    for v in ("warn", "act", "act_r2"):
        shares[v] = [100 * sc.runs[v].callback_cpu / (sc.runs[v].cpu - sc.runs[v].callback_cpu)
                     for sc in scenarios]
        per_epoch = [1e3 * sc.runs[v].callback_cpu / sc.runs[v].epochs for sc in scenarios]
        lines.append(f"callback CPU, {v}: median {statistics.median(shares[v]):.2f}% of the "
                     f"run's (max {max(shares[v]):.2f}%, over 1% on "
                     f"{sum(s > 1 for s in shares[v])}/{n}), {statistics.median(per_epoch):.2f} ms "
                     f"per epoch")
    total_cpu = sum(r.cpu for sc in scenarios for r in sc.runs.values())
    lines.append(f"training CPU {total_cpu:.0f} s in all")
    lines += overhead_lines
    act_share = statistics.median(shares["act"])
    verdict.append(f"overhead act {act_share:.2f}% cpu (median; max {max(shares['act']):.2f}%) "
                   + ("MET" if act_share <= 1 else "MISSED"))
    return lines, f"targets ({n} scenarios): " + "; ".join(verdict)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", choices=("fixtures", "corpus"), default="fixtures",
                        help="the fixture generator's scenarios (default) or 42 corpus specs")
    parser.add_argument("--quick", action="store_true",
                        help="corpus: 6 scenarios instead of 42 (implies --scenarios corpus)")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="scenario names (corpus: run names or faults)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="overhead runs per variant (default 5; corpus 3, quick 1)")
    parser.add_argument("--threads", type=int, default=1,
                        help="TensorFlow threads (default 1: the machine may be shared)")
    args = parser.parse_args(argv)
    corpus = args.quick or args.scenarios == "corpus"
    repeat = args.repeat or (1 if args.quick else 3 if corpus else 5)
    from trainruns.train import configure_tf

    configure_tf(threads=args.threads)
    import generate_fixtures as g

    if corpus:
        start = time.perf_counter()
        scenarios = run_corpus(corpus_scenarios(args.quick, args.only))
        print("\n".join(corpus_table(scenarios)))
        print()
        lines, verdict = corpus_summary(scenarios, overhead(g, repeat) + unit_costs())
        print("\n".join(lines))
        print(f"wall {time.perf_counter() - start:.0f} s, TensorFlow threads {args.threads}")
        print(verdict)
        return 0
    rows = compare(g, args.only)
    header = ["scenario", "condition", "visible@", "run", "epochs", "val_loss kept",
              "detected@", "actions", "wall s", "cpu s"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print()
    print("\n".join(overhead(g, repeat)))
    print("\n".join(unit_costs()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
