"""Several runs at once: a ranking and what the differences between them say.

A sweep is a folder of runs, a KerasTuner project or an MLflow experiment:
runs that differ in their settings. Pure functions over reports: one line per
run with its verdict and the settings that vary, runs ranked by their best
monitored value, and advice drawn from how the verdicts line up with the
settings (``summary["params"]``, and the learning rate a log records).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .report import Report

_LOWER_IS_BETTER = ("loss", "error", "mae", "mse")
# Settings that hold a learning rate, by name.
RATE_NAMES = ("learning_rate", "lr")
# Params that name a run rather than set it.
IDENTITY_NAMES = frozenset({"run_name", "run_id", "trial_id", "name"})
# Settings that regularize, and settings that size the model, by a word in their name.
REGULARIZATION_WORDS = ("dropout", "l1", "l2", "weight_decay", "reg", "noise")
CAPACITY_WORDS = ("units", "filters", "layers", "width", "hidden", "depth", "neurons", "dim")
# A split of the runs by one setting is reported when at least this share of the runs on
# its far side show the condition, and at least MIN_RUNS of them do (one will do for the
# learning rate, the setting these conditions are about).
MIN_SHARE = 0.75
MIN_RUNS = 2
# "All runs overfit" is said when at least this share of at least MIN_SWEEP runs do.
MOST = 0.8
MIN_SWEEP = 3
# A setting the scores follow is named from this many runs, at this p-value (divided by the
# number of settings tried).
MIN_TREND_RUNS = 8
TREND_P = 0.01
# The sweep table shows at most this many of the settings that vary.
MAX_PARAM_COLUMNS = 4


def _lower_is_better(monitor: str) -> bool:
    return any(word in monitor for word in _LOWER_IS_BETTER)


def ranking(reports: Sequence[Report]) -> list[Report]:
    """Runs ordered best first by their best monitored value; runs without one last.

    Runs monitoring different series are not comparable: they are grouped by
    monitor name (the most common first), each group ranked on its own.
    """
    groups: dict[str, list[Report]] = {}
    for r in reports:
        groups.setdefault(r.summary.get("monitor") or "", []).append(r)
    ordered: list[Report] = []
    for monitor, runs in sorted(groups.items(), key=lambda kv: (kv[0] == "", -len(kv[1]), kv[0])):
        sign = 1.0 if _lower_is_better(monitor) else -1.0
        ordered += sorted(runs, key=lambda r: (r.summary.get("best_value") is None,
                                               sign * (r.summary.get("best_value") or 0.0)))
    return ordered


# --- settings -----------------------------------------------------------------

def settings(report: Report) -> dict[str, object]:
    """What the run was trained with: its params, and its learning rate when the log
    recorded one and the params do not name it."""
    found = dict(report.summary.get("params") or {})
    rate = report.summary.get("learning_rate")
    if rate is not None and not any(name in found for name in RATE_NAMES):
        found["learning_rate"] = rate
    return found


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def varying(reports: Sequence[Report]) -> list[str]:
    """The settings whose value differs between runs: learning rate first, then by name.

    A run's name is no setting: a text value that differs on every run (an MLflow
    ``run_name``) is left out, as are the names in :data:`IDENTITY_NAMES`.
    """
    values: dict[str, list] = {}
    for r in reports:
        for name, value in settings(r).items():
            values.setdefault(name, []).append(value)
    names = []
    for name, seen in values.items():
        distinct = {repr(v) for v in seen}
        if len(distinct) < 2 or name in IDENTITY_NAMES:
            continue
        if len(distinct) == len(seen) > 2 and all(_number(v) is None for v in seen):
            continue  # a label per run, not a setting
        names.append(name)
    return sorted(names, key=lambda n: (n not in RATE_NAMES, n))


def _numeric(reports: Sequence[Report], name: str) -> list[tuple[float, Report]]:
    pairs = [(_number(settings(r).get(name)), r) for r in reports]
    return [(v, r) for v, r in pairs if v is not None]


def _show(value: float, toward: str = "") -> str:
    """A setting's value to three significant digits, rounded ``toward`` "down" or "up" when
    it is a bound (">= 0.5005" is ">= 0.5", never ">= 0.501", which the run itself misses)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    unit = 10.0 ** (math.floor(math.log10(abs(value))) - 2)
    steps = value / unit
    steps = math.floor(steps + 1e-9) if toward == "down" else math.ceil(steps - 1e-9) \
        if toward == "up" else round(steps)
    return f"{float(f'{steps * unit:.3g}'):g}"


def _split(reports: Sequence[Report], condition: str, high: bool) -> tuple[str, str] | None:
    """The setting whose high (or low) end holds the runs with ``condition``, best split first:
    ("learning_rate >= 0.01", "(lr_too_high: 7 of 9)"), or None when no setting separates them."""
    best = None
    judged = [r for r in reports if r.conditions]  # a run not judged is on neither side
    for name in varying(judged):
        pairs = _numeric(judged, name)
        if len({v for v, _ in pairs}) < 2:
            continue
        hit = [v for v, r in pairs if condition in r.conditions]
        if len(hit) < (1 if name in RATE_NAMES else MIN_RUNS):
            continue
        edge = min(hit) if high else max(hit)
        side = [r for v, r in pairs if (v >= edge if high else v <= edge)]
        if len(side) == len(pairs):
            continue  # every run is on that side: the setting separates nothing
        share = len(hit) / len(side)
        if share < MIN_SHARE:
            continue
        key = (share, len(hit), name in RATE_NAMES)
        if best is None or key > best[0]:
            best = (key, name, edge, len(hit), len(side))
    if best is None:
        return None
    _, name, edge, n_hit, n_side = best
    if n_side == 1:  # one run: say what it had, not a law about a range
        return f"{name} {_show(edge)}", f"({condition})"
    bound = _show(edge, "down" if high else "up")
    return f"{name} {'>=' if high else '<='} {bound}", f"({condition}: {n_hit} of {n_side})"


def _said(split: tuple[str, str], one: str, several: str) -> str:
    """"the run with learning_rate 0.5 was unstable (lr_too_high)" for one run, "runs with
    learning_rate >= 0.01 were unstable (lr_too_high: 7 of 9)" for several."""
    setting, tally = split
    if ":" not in tally:
        return f"the run with {setting} {one} {tally}"
    return f"runs with {setting} {several} {tally}"


def _range(reports: Sequence[Report], words: tuple[str, ...]) -> list[str]:
    """"dropout 0-0.3" for each varying numeric setting whose name has one of ``words``."""
    out = []
    for name in varying(reports):
        if not any(word in name.lower() for word in words):
            continue
        values = [v for v, _ in _numeric(reports, name)]
        if len(set(values)) > 1:
            out.append(f"{name} {_show(min(values))}-{_show(max(values))}")
    return out


def advice(reports: Sequence[Report]) -> list[str]:
    """What the runs' settings and verdicts say together, in sentences.

    - the setting beyond which runs were unstable (``lr_too_high``) or barely
      moved (``lr_too_low``), when one separates them;
    - a sweep where (nearly) every run overfits or underfits: the range
      searched did not help, and which way to widen it;
    - the settings of the best run.
    """
    if len(reports) < 2:
        return []
    out = []
    unstable = _split(reports, "lr_too_high", high=True)
    if unstable:
        out.append(_said(unstable, "was unstable", "were unstable"))
    slow = _split(reports, "lr_too_low", high=False)
    if slow:
        out.append(_said(slow, "barely moved", "barely moved"))
    n = len(reports)
    for condition, words, widen in (
            ("overfitting", REGULARIZATION_WORDS,
             "search stronger regularization (dropout up to 0.5, a larger L2) or add data"),
            ("underfitting", CAPACITY_WORDS, "search larger models or train longer")):
        hit = sum(condition in r.conditions for r in reports)
        if n >= MIN_SWEEP and hit >= MOST * n:
            searched = _range(reports, words)
            which = "all" if hit == n else f"{hit} of"
            if searched:
                out.append(f"{which} {n} runs show {condition}, across {', '.join(searched)}: "
                           f"the range searched did not help; {widen}")
            else:
                out.append(f"{which} {n} runs show {condition}: no setting searched prevents "
                           f"it; {widen}")
    trend = _score_trend(reports)
    if trend:
        out.append(trend)
    ranked = [r for r in ranking(reports) if r.summary.get("best_value") is not None]
    shown = varying(reports)
    if ranked and shown:
        best = ranked[0]
        used = ", ".join(f"{name} {_value(settings(best).get(name))}" for name in shown
                         if name in settings(best))
        if used:
            verdict = ", ".join(best.conditions) or "not judged"
            out.append(f"the best, {best.source}, used {used} ({best.summary.get('monitor')} "
                       f"{best.summary['best_value']:.4g}, {verdict})")
    return out


def _score_trend(reports: Sequence[Report]) -> str | None:
    """The setting the runs' best scores follow, when one clearly does.

    This speaks where verdicts cannot, and only there (at least half the
    runs not judged): KerasTuner keeps only each trial's best epoch, so its
    trials are not judged, but their scores still rank. Where verdicts
    exist they say more, and a trend over settings searched together can be
    confounded (the low-dropout trials were also the extreme rates).
    Spearman's rank correlation between each numeric setting and the best
    monitored value, over runs that monitor the same series; said only for
    at least MIN_TREND_RUNS runs and a p-value below TREND_P divided by the
    number of settings tried (Bonferroni: a random search varies several at
    once, and one of them correlates by chance).
    """
    if sum(1 for r in reports if not r.conditions) * 2 < len(reports):
        return None  # the verdicts speak for most runs; a score trend could be confounded
    monitors = [r.summary.get("monitor") for r in reports if r.summary.get("best_value") is not None]
    if not monitors:
        return None
    monitor = max(set(monitors), key=monitors.count)
    runs = [r for r in reports if r.summary.get("monitor") == monitor
            and r.summary.get("best_value") is not None]
    candidates = []
    for name in varying(runs):
        pairs = [(v, r.summary["best_value"]) for v, r in _numeric(runs, name)]
        if len(pairs) >= MIN_TREND_RUNS and len({v for v, _ in pairs}) >= MIN_TREND_RUNS // 2:
            candidates.append((name, pairs))
    if not candidates:
        return None
    from scipy.stats import spearmanr  # a sweep's last step: never on a single run's path

    best = None
    for name, pairs in candidates:
        rho, p = spearmanr([v for v, _ in pairs], [b for _, b in pairs])
        if math.isfinite(rho) and p < TREND_P / len(candidates) and (best is None or p < best[2]):
            best = (name, float(rho), float(p), len(pairs))
    if best is None:
        return None
    name, rho, p, n = best
    sign = 1.0 if _lower_is_better(monitor) else -1.0
    better = "lower" if sign * rho > 0 else "higher"
    return (f"{better} {name} scored better: across {n} runs the best {monitor} follows it "
            f"(Spearman {rho:+.2f}, p = {p:.2g})")


def _value(value: object) -> str:
    number = _number(value)
    return _show(number) if number is not None else str(value)


# --- output -------------------------------------------------------------------

def sweep_table(reports: Sequence[Report]) -> str:
    """The ranking as a fixed-width table (with the settings that vary), then the advice."""
    ranked = ranking(reports)
    params = varying(reports)[:MAX_PARAM_COLUMNS]
    width = max(len(r.source) for r in ranked)
    cells = [[_value(settings(r)[p]) if p in settings(r) else "-" for p in params] for r in ranked]
    widths = [max(len(p), *(len(c[i]) for c in cells)) for i, p in enumerate(params)]
    head = "  ".join(f"{p:>{w}}" for p, w in zip(params, widths))
    lines = [f"{'rank':>4}  {'run':<{width}}  {'verdict':<26} {'epochs':>6}  {'best (epoch)':<22}"
             + (f"  {head}" if params else "")]
    for i, (r, row) in enumerate(zip(ranked, cells), 1):
        s = r.summary
        best = (f"{s['monitor']} {s['best_value']:.4g} ({s.get('best_epoch', 0):.0f})"
                if s.get("best_value") is not None else "-")
        verdict = ", ".join(r.conditions) or "not judged"
        values = "  ".join(f"{c:>{w}}" for c, w in zip(row, widths))
        lines.append(f"{i:>4}  {r.source:<{width}}  {verdict:<26} {s.get('epochs', 0):>6}  "
                     f"{best:<22}" + (f"  {values}" if params else ""))
    said = advice(reports)
    if said:
        lines += [""] + [f"- {a}" for a in said]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def sweep_dict(reports: Sequence[Report]) -> dict:
    """The sweep for the JSON output."""
    return {"ranking": [r.source for r in ranking(reports)], "varying": varying(reports),
            "advice": advice(reports)}


__all__ = ["advice", "ranking", "settings", "sweep_dict", "sweep_table", "varying"]
