"""Write ``README.md`` next to a corpus file, from the corpus rows themselves."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

from .datasets import FAMILIES, SPLIT
from .labels import CONDITIONS

CRITERIA = """\
## How a run is labelled

Every run is labelled by its measured OUTCOME, never by how it was induced, and
against its healthy TWIN: the same family, architecture and `train_size` trained with
a sensible configuration. The twin's final training loss Lref is "what the task
allows". A run is `confirmed` when the conditions it meets are exactly the intended
ones (an `lr_too_high` run may also meet `overfitting`; it then carries both labels);
otherwise it is `ambiguous` and `conditions` lists what it did meet (possibly none).
Runs intended as `underfitting` or `lr_too_low` are confirmed only when their twin
itself met the healthy criteria. `why` holds the numbers that decided.

Notation: L = training `loss` per epoch, L0 first epoch, Lend last; V = `val_loss`;
C = chance-level loss (best constant predictor on the training rows: class-prior
entropy, or target variance for MSE); S = min(L0, C).

- **lr_too_high**: a NaN/inf loss; or Lend > L0 (diverged); or a spike: L rises
  >= 0.25 x S above its best-so-far (minibatch noise moves a converging run by a few %
  of S); or oscillation: >= 20% of the epochs rise by > 0.05 x S; or collapse: Lend
  >= 1.2 x C and no longer improving (tail share < 0.10); or collapse after a blow-up:
  L0 >= 2 x C (a fresh model starts within ~1.6 x C), an abrupt fall (one epoch-to-epoch
  drop >= 10x, or down to 1.5 x max(C, Lend) by epoch 2; a heavy L2 penalty also
  starts far above C but decays geometrically and needs 4-8 epochs to get there), then frozen (the last
  30% of epochs move by <= 1% of the level) at >= 0.9 x C: a constant prediction.
- **lr_too_low**: stable and no big gap, and either flat: progress
  (L0 - Lend)/(L0 - Lref) < 0.10 (never left its starting level; need not be
  monotone), or a creep: progress < 0.25 while still falling (the last 20% of epochs
  hold >= 10% of the drop, >= 80% of epochs improve, Lend < L0).
- **underfitting**: stable; Lend >= 2 x Lref and shortfall (Lend - Lref)/(C - Lref)
  >= 0.30 (the x2 alone is meaningless when Lref ~ 0.01, the shortfall alone when
  C ~ Lref); no big gap (Vend <= 1.3 x Lend, no 1.15x V rise); not lr_too_low: it
  learned (progress >= 0.25) and is still falling (too few epochs), or it levelled off.
- **overfitting**: V ends >= 1.15 x its minimum (beyond validation noise), the minimum
  before the last 20% of epochs, and L at the end <= 0.8 x L at that minimum (or, for a
  strong rise, V ends >= 1.5 x its minimum while L did not rise after it); or the
  gap widens: V's best epoch before the last 20% of epochs, L fell >= 2x after it and
  ends <= 0.5 x Vend, a Vend/Lend ratio >= 2x the twin's (a healthy twin on an easy
  task can end with V >> L too). Judged for unstable runs as well.
- **healthy**: stable and quiet (rebound < 0.10 x S, < 5% up-steps); L0 <= 2 x C;
  Lend <= 0.6 x L0 and <= 0.7 x C; V ends within 5% of its minimum or has it in the
  last 20% of epochs; the gap grows by < 0.25 x min V over the second half, unless V
  ends at its best (minimum in the last 20% of epochs and Vend within 5% of it: a fit
  still improving has a widening generalization gap); not at the underfitting level
  vs the twin, not overfitting, not lr_too_low.

The code and the reason for each threshold are in `trainruns/labels.py`.
"""


def _table(head: list, rows: list) -> list:
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def write_readme(corpus: Path) -> None:
    with gzip.open(corpus, "rt") as fh:
        rows = [json.loads(line) for line in fh]
    ok = [r for r in rows if r["status"] == "confirmed"]
    n_amb = len(rows) - len(ok)
    lines = ["# fixtures/corpus/: a calibration corpus of real Keras runs", "",
             f"`{corpus.name}`: {len(rows)} real `model.fit()` runs, {len(ok)} confirmed and "
             f"{n_amb} ambiguous, one JSON object per line. Each row holds the run's "
             "configuration, how its fault was induced (`fault`), the `intended` "
             "conditions, its `status`, its `conditions`, `why`, and `csv`: the exact "
             "text Keras' `CSVLogger` wrote (quirks included: `NA` val cells without "
             "validation or with `validation_freq=2`, `nan` losses).", "",
             "Generated without network on 2 CPU cores by the `trainruns` package (which "
             "does not import `diagnose`, so labels are independent of the tool they test):",
             "", "    python -m trainruns corpus --out fixtures/corpus/runs.jsonl.gz --jobs 2",
             "    python -m trainruns readme --out fixtures/corpus/runs.jsonl.gz  # this file",
             "", "`corpus` keeps every run's history in `runs.partial.jsonl` while it trains "
             "(an interrupted run resumes from it) and labels all runs from it at the end; "
             "`python -m trainruns relabel HISTORIES` re-labels such a file without training.",
             "", "Training is deterministic (`keras.utils.set_random_seed`, op determinism), "
             "so a rerun on the same TensorFlow build reproduces the rows.", "",
             "## Family split", "",
             "Criteria are calibrated on one half of the families and checked on the other; "
             "`split` in each row.", ""]
    lines += _table(["split", "families"], [[k, ", ".join(v)] for k, v in SPLIT.items()])
    lines += ["", "## Confirmed runs per condition and split (ambiguous in brackets, by "
              "intended condition)", ""]
    body = []
    for c in CONDITIONS:
        cells = [c]
        for half in SPLIT:
            conf = sum(c in r["conditions"] and r["split"] == half for r in ok)
            amb = sum(c in r["intended"] and r["split"] == half for r in rows
                      if r["status"] != "confirmed")
            cells.append(f"{conf} ({amb})")
        body.append(cells)
    lines += _table(["condition", *SPLIT], body)
    lines += ["", "A run with two labels counts in both rows.", "", "## Per family", ""]
    fam_rows = []
    for f, fam in FAMILIES.items():
        rs = [r for r in rows if r["family"] == f]
        got = Counter(c for r in rs if r["status"] == "confirmed" for c in r["conditions"])
        fam_rows.append([f, fam.task + (f" ({fam.n_classes} cl.)" if fam.n_classes else ""),
                         fam.kind, len(rs), sum(r["status"] == "confirmed" for r in rs),
                         ", ".join(f"{c} {got[c]}" for c in CONDITIONS if got[c])])
    lines += _table(["family", "task", "input", "runs", "confirmed", "confirmed labels"],
                    fam_rows)
    for key in ("architecture", "optimizer", "schedule"):
        cnt = Counter(r[key] for r in rows)
        conf = Counter(r[key] for r in ok)
        lines += ["", f"## Per {key}", ""]
        lines += _table([key, "runs", "confirmed"], [[k, v, conf[k]] for k, v in cnt.most_common()])
    lines += ["", "## Other variation (confirmed runs)", "",
              f"- without validation data: {sum(r['validation'] is None for r in ok)}",
              f"- with `validation_freq=2`: {sum(r['validation_freq'] == 2 for r in ok)}",
              f"- with a `learning_rate` column: {sum(r['lr_logged'] for r in ok)}",
              "- batch sizes: " + ", ".join(f"{k}: {v}" for k, v in
                                               sorted(Counter(r['batch_size'] for r in ok).items())),
              f"- epochs: {min(r['epochs'] for r in ok)} to {max(r['epochs'] for r in ok)}"
              if ok else "- epochs: -",
              "", "## Faults: how each was induced (confirmed / trained)", ""]
    fault_rows = sorted(Counter(r["fault"] for r in rows).items())
    lines += _table(["fault", "confirmed", "trained"],
                    [[f, sum(r["fault"] == f for r in ok), n] for f, n in fault_rows])
    lines += ["", "Rates are multiples of each family's healthy Adam / SGD rate; see "
              "`trainruns/specs.py`.", "", CRITERIA]
    (corpus.parent / "README.md").write_text("\n".join(lines))
