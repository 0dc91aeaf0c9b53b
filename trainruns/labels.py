"""Outcome criteria: which conditions a trained run meets, measured against its twin.

Adapted from the "Label criteria" of ``scripts/generate_fixtures.py`` (same
thresholds, same notation) and extended to the product vocabulary: a collapse
after a blow-up and a flat run as named forms of lr_too_high / lr_too_low, and a
widening train/val gap as overfitting. Independent of the ``diagnose`` package.

Notation: L = history["loss"] per epoch (L0 first, Lend last); V = history["val_loss"]
at the epochs where validation ran; C = chance-level loss (best constant predictor on
the training rows); S = min(L0, C), the scale instability is measured on;
Lref = the healthy twin's final training loss ("what the task allows").
"""

from __future__ import annotations

import math

import numpy as np

CONDITIONS = ("healthy", "lr_too_high", "lr_too_low", "overfitting", "underfitting")

# --- lr_too_high -------------------------------------------------------------------
# A rise above the best-so-far of >= 25% of S is a spike: minibatch noise on a converging
# run moves the epoch loss by a few percent of S at most.
SPIKE_FRAC = 0.25
# Epoch-to-epoch rises > 5% of S are "up-steps"; >= 20% of the steps rising = oscillation.
UPSTEP_FRAC = 0.05
OSC_SHARE = 0.20
# Collapse: ends >= 1.2 x C (worse than the constant predictor) and no longer improving.
COLLAPSE = 1.20
# Collapse after a blow-up (new): the first epoch exploded (L0 >= 2 x C: a fresh model
# starts within ~1.6 x C), then the loss froze near or above chance (Lend >= 0.9 x C)
# with almost no noise: over the last 30% of epochs it moves by <= 1% of its level.
# Dead ReLUs / saturated units give exactly this: a constant prediction. The fall must be
# abrupt (one epoch-to-epoch drop of >= 10x, or down to 1.5 x max(C, Lend) by epoch 2):
# a heavy L2 penalty also starts at 20-200 x C and ends frozen at C, but it decays
# geometrically (about 0.5-0.7x an epoch) and needs 4-8 epochs to get there; it underfits.
BLOWUP_START = 2.0
BLOWUP_DROP = 10.0
BLOWUP_EPOCHS = 2
BLOWUP_NEAR = 1.50
FROZEN_NEAR_CHANCE = 0.90
FROZEN_SPAN = 0.30
FROZEN_TOL = 0.01
# --- healthy -------------------------------------------------------------------------
QUIET_SPIKE_FRAC = 0.10      # rebound < 10% of S
QUIET_UPSTEP_SHARE = 0.05    # < 5% up-steps
HEALTHY_VAL_TOL = 1.05       # val ends within 5% of its minimum (or minimum in last 20%)
# The train/val gap widens by < 25% of min V over the second half, unless V ends at its
# best (minimum in the last 20% of epochs and Vend within 5% of it): then validation
# follows training and the widening is the ordinary generalization gap of a fit that is
# still improving (the 84-run fixtures' rule rejected such healthy twins on iris, wine,
# circles, blobs5, hastie).
GAP_GROWTH = 0.25
HEALTHY_DROP = 0.60          # Lend <= 0.6 x L0
HEALTHY_BELOW_CHANCE = 0.70  # Lend <= 0.7 x C
HEALTHY_START = 2.0          # L0 <= 2 x C: no exploded first epoch
# --- overfitting -----------------------------------------------------------------------
# Val rise: V ends >= 1.15 x its minimum (well beyond validation noise), the minimum
# before the last 20% of epochs, and L at the end <= 0.8 x L at that minimum.
VAL_RISE = 1.15
LATE_FRAC = 0.80
TRAIN_KEEPS_FALLING = 0.80
# A strong val rise (new): V ends >= 1.5 x its minimum (same timing) while L did not rise
# after that minimum. A converged training loss that barely moves (0.85-1.0 x) while V
# climbs 1.5-3x is overfitting too; the 0.8 rule alone rejected those runs.
STRONG_VAL_RISE = 1.50
TRAIN_NOT_RISING = 1.00
# Widening gap (new): V has its best epoch before the last 20% of the run (flat or
# creeping since, as for the val rise), L fell >= 2x after it, and ends <= 0.5 x Vend, a gap >= 2x the twin's own
# Vend/Lend ratio: a healthy twin on an easy task can also end with V >> L, so only a
# gap the task does not produce by itself counts.
GAP_TRAIN_FALL = 0.50
GAP_RATIO = 2.0
GAP_VS_TWIN = 2.0
# --- underfitting / lr_too_low (vs the twin) ------------------------------------------
# Level: Lend >= 2 x Lref AND shortfall (Lend - Lref)/(C - Lref) >= 0.30 (closed at most
# 70% of the gap from chance to the twin). No big gap: Vend <= 1.3 x Lend.
UNDER_REF_MULT = 2.0
UNDER_SHORTFALL = 0.30
UNDER_GAP = 1.30
# progress = (L0 - Lend)/(L0 - Lref); tail_share = drop over the last 20% of epochs /
# total drop (3-epoch means at both ends of the tail, so one noisy epoch does not decide).
#  - lr_too_low, creep: progress < 0.25, still falling (tail_share >= 0.10, >= 80% of
#    epochs improve, Lend < L0): a smooth, slow, straight curve.
#  - lr_too_low, flat (new): progress < 0.10: never left its starting level. Need not be
#    monotone: at 1e-7 the epoch loss wanders by noise around L0.
#  - underfitting: progress >= 0.25 and still falling (too few epochs), or levelled off.
LOW_PROGRESS = 0.25
LOW_FLAT_PROGRESS = 0.10
TAIL_SHARE = 0.10
LOW_MONOTONE = 0.80


def _mean(xs) -> float:
    return float(np.mean(xs))


def measure(h: dict, chance: float, validation_freq: int = 1, twin: dict | None = None) -> dict:
    """The numbers the criteria read. ``twin``: the twin's measure() (or None)."""
    L = [float(x) for x in h["loss"]]
    V = [float(x) for x in h.get("val_loss", [])]
    n = len(L)
    m: dict = {"epochs": n, "chance": chance, "L0": L[0], "Lend": L[-1], "has_val": bool(V),
               "ref_final": twin["Lend"] if twin else None,
               "ref_gap": twin.get("val_gap") if twin else None}
    bad = [i for i, x in enumerate(L) if not math.isfinite(x)]
    m["nan_epoch"] = bad[0] if bad else None
    m["nonfinite"] = bool(bad) or not all(math.isfinite(x) for x in V)
    if m["nonfinite"]:
        return m
    scale = min(L[0], chance)
    m["scale"] = scale
    rebounds = [L[t] - min(L[:t]) for t in range(1, n)]
    m["rebound"] = max(rebounds) / scale if rebounds else 0.0
    m["upstep_share"] = sum(L[t] - L[t - 1] > UPSTEP_FRAC * scale for t in range(1, n)) / max(1, n - 1)
    m["improving_share"] = sum(L[t] < L[t - 1] for t in range(1, n)) / max(1, n - 1)
    m["diverged"] = L[-1] > L[0]
    k = max(2, round(0.2 * n))
    w = 3 if n >= 15 else 1
    a = _mean(L[max(0, n - k - w): n - k + 1]) if w > 1 else L[n - k - 1]
    b = _mean(L[n - w:]) if w > 1 else L[-1]
    drop = L[0] - L[-1]
    m["tail_share"] = (a - b) / drop if drop > 0 else 0.0
    tail = L[n - max(2, round(FROZEN_SPAN * n)):]
    m["abrupt"] = (max((L[t - 1] / L[t] for t in range(1, n) if L[t] > 0), default=0.0) >= BLOWUP_DROP
                   or L[min(BLOWUP_EPOCHS, n - 1)] <= BLOWUP_NEAR * max(chance, L[-1]))
    m["tail_span"] = (max(tail) - min(tail)) / max(abs(L[-1]), 1e-12)
    if twin:
        ref = twin["Lend"]
        m["progress"] = drop / (L[0] - ref) if L[0] > ref else float("nan")
        m["shortfall"] = (L[-1] - ref) / (chance - ref) if chance > ref else float("nan")
    if V:
        ve = [(i + 1) * validation_freq - 1 for i in range(len(V))]
        j = int(np.argmin(V))
        m["Vmin"], m["Vend"], m["Vmin_epoch"] = V[j], V[-1], ve[j]
        m["val_rise"] = V[-1] / V[j] if V[j] > 0 else float("inf")
        m["train_after_vmin"] = L[-1] / L[ve[j]] if L[ve[j]] > 0 else 1.0
        m["val_gap"] = V[-1] / L[-1] if L[-1] > 0 else float("inf")
        mid = min(range(len(V)), key=lambda i: abs(ve[i] - (n - 1) / 2))
        g_mid, g_end = V[mid] - L[ve[mid]], V[-1] - L[ve[-1]]
        m["gap_growth"] = (g_end - g_mid) / V[j] if V[j] > 0 else 0.0
    return m


def predicates(m: dict) -> dict:
    """Which conditions' criteria the measured run meets (thresholds above)."""
    out = dict.fromkeys(CONDITIONS, False)
    if m["nonfinite"]:
        out["lr_too_high"] = True
        return out
    C = m["chance"]
    m["collapsed"] = m["Lend"] >= COLLAPSE * C and m["tail_share"] < TAIL_SHARE
    m["blowup_frozen"] = (m["L0"] >= BLOWUP_START * C and m["abrupt"]
                          and m["Lend"] >= FROZEN_NEAR_CHANCE * C and m["tail_span"] <= FROZEN_TOL)
    unstable = (m["diverged"] or m["rebound"] >= SPIKE_FRAC or m["upstep_share"] >= OSC_SHARE
                or m["collapsed"] or m["blowup_frozen"])
    out["lr_too_high"] = unstable
    has_val, ref = m["has_val"], m["ref_final"]
    # Overfitting is judged for unstable runs too: a run can spike AND overfit.
    early_min = has_val and m["Vmin_epoch"] < LATE_FRAC * (m["epochs"] - 1)
    val_rise = early_min and (
        (m["val_rise"] >= VAL_RISE and m["train_after_vmin"] <= TRAIN_KEEPS_FALLING)
        or (m["val_rise"] >= STRONG_VAL_RISE and m["train_after_vmin"] <= TRAIN_NOT_RISING))
    m["gap_widens"] = bool(early_min
                           and m["train_after_vmin"] <= GAP_TRAIN_FALL
                           and m["val_gap"] >= GAP_RATIO
                           and (m["ref_gap"] is None or m["val_gap"] >= GAP_VS_TWIN * m["ref_gap"]))
    out["overfitting"] = bool(val_rise or m["gap_widens"])
    if unstable:
        return out
    under_level = ref is not None and (m["Lend"] >= UNDER_REF_MULT * ref
                                       and m["shortfall"] >= UNDER_SHORTFALL)
    no_gap = (not has_val) or (m["val_gap"] <= UNDER_GAP and m["val_rise"] < VAL_RISE)
    still_falling = m["tail_share"] >= TAIL_SHARE
    if ref is not None:
        slow = m["progress"] < LOW_PROGRESS
        creep = (slow and still_falling and m["Lend"] < m["L0"]
                 and m["improving_share"] >= LOW_MONOTONE)
        flat = m["progress"] < LOW_FLAT_PROGRESS
        out["lr_too_low"] = bool((creep or flat) and no_gap)
        out["underfitting"] = bool(under_level and no_gap and not out["lr_too_low"]
                                   and (not slow or not still_falling))
    quiet = m["rebound"] < QUIET_SPIKE_FRAC and m["upstep_share"] < QUIET_UPSTEP_SHARE
    fell = (m["Lend"] <= HEALTHY_DROP * m["L0"] and m["Lend"] <= HEALTHY_BELOW_CHANCE * C
            and m["L0"] <= HEALTHY_START * C)
    val_late = has_val and m["Vmin_epoch"] >= LATE_FRAC * (m["epochs"] - 1)
    val_at_best = val_late and m["Vend"] <= HEALTHY_VAL_TOL * m["Vmin"]
    val_ok = (not has_val) or (
        (m["Vend"] <= HEALTHY_VAL_TOL * m["Vmin"] or val_late)
        and (m["gap_growth"] < GAP_GROWTH or val_at_best))
    out["healthy"] = bool(quiet and fell and val_ok and not under_level
                          and not out["overfitting"] and not out["lr_too_low"])
    return out


def why(m: dict) -> str:
    """The measured numbers that decided, in one line."""
    f = lambda x: f"{x:.4g}" if x is not None else "-"
    parts = [f"loss {f(m['L0'])}->{f(m['Lend'])} over {m['epochs']} ep, chance {f(m['chance'])}"]
    if m["nonfinite"]:
        parts.append(f"non-finite loss from epoch {m['nan_epoch']}"
                     if m["nan_epoch"] is not None else "non-finite val_loss")
        return "; ".join(parts)
    parts.append(f"max rebound {f(m['rebound'])}xS, up-steps {f(m['upstep_share'])} "
                 f"(S={f(m['scale'])})")
    if m["has_val"]:
        parts.append(f"val min {f(m['Vmin'])}@ep{m['Vmin_epoch']} end {f(m['Vend'])} "
                     f"(x{f(m['val_rise'])}), train after vmin x{f(m['train_after_vmin'])}, "
                     f"val/train {f(m['val_gap'])} (twin {f(m['ref_gap'])}), "
                     f"gap growth {f(m['gap_growth'])}")
    if m["ref_final"] is not None:
        parts.append(f"twin final {f(m['ref_final'])}, progress {f(m['progress'])}, "
                     f"shortfall {f(m['shortfall'])}")
    else:
        parts.append("no healthy twin")
    parts.append(f"tail share {f(m['tail_share'])}, improving {f(m['improving_share'])}, "
                 f"tail span {f(m['tail_span'])}")
    if m["diverged"]:
        parts.append("ends above start")
    if m.get("collapsed") or m.get("blowup_frozen"):
        parts.append(f"collapsed: ends at {f(m['Lend'] / m['chance'])} x chance")
    if m.get("gap_widens"):
        parts.append("gap widens")
    return "; ".join(parts)


def verdict(intended: tuple, met: set, has_twin: bool) -> str:
    """"confirmed" when the outcome meets exactly the intended set (lr_too_high runs may
    also overfit); runs judged against the twin need a healthy twin."""
    want = set(intended)
    if want & {"underfitting", "lr_too_low"} and not has_twin:
        return "ambiguous"
    if met == want or (want == {"lr_too_high"} and met == {"lr_too_high", "overfitting"}):
        return "confirmed"
    return "ambiguous"
