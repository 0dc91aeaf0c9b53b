"""Command line: ``python -m trainruns corpus|relabel|readme``.

``corpus`` trains the spec grid over a spawn Pool (one TF thread per process,
longest runs first, twins before their variants), labels each run as soon as its
twin is known, and appends it to ``<out>.partial.jsonl`` (history included, so an
interrupted corpus resumes where it stopped). At the end every run is labelled
afresh from those histories (``relabel``); the rows, sorted by run name and
without the histories, become the gzip JSON-lines file ``--out``, and the README
next to it is regenerated from them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .datasets import FAMILIES  # noqa: E402
from .labels import measure, predicates, verdict, why  # noqa: E402
from .readme import write_readme  # noqa: E402
from .specs import Spec, grid  # noqa: E402

_SLOW = {"lstm": 5.0, "gru": 4.0, "conv2d": 2.0, "conv1d": 2.0, "embedding": 1.0}


def _cost(s: Spec) -> float:
    """Rough training time: optimizer steps x per-step weight of the architecture."""
    n = s.train_size or len(FAMILIES[s.family].loader()[0])
    steps = s.epochs * math.ceil(n * (1 - (s.validation or 0)) / s.batch_size)
    big = 3.0 if max(s.hidden, default=0) >= 256 else 1.0
    return steps * _SLOW.get(s.architecture, 1.0) * big


def _worker_init() -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    from .train import configure_tf
    configure_tf(threads=1)


def _run_one(spec: Spec):
    from .datasets import build_data, chance_loss
    from .train import train
    t = time.time()
    history, csv_text = train(spec)
    _, y, n_fit = build_data(spec.family, spec.train_size, spec.validation,
                             spec.label_noise, spec.seed)
    return spec.run, history, csv_text, chance_loss(spec.family, y[:n_fit]), time.time() - t


def _row(s: Spec, csv_text: str) -> dict:
    return {"run": s.run, "family": s.family, "split": s.split, "task": s.task,
            "n_classes": s.n_classes, "architecture": s.architecture,
            "optimizer": s.optimizer, "learning_rate": s.learning_rate,
            "lr_logged": "learning_rate" in csv_text.split("\n", 1)[0].split(","),
            "schedule": s.schedule, "batch_size": s.batch_size, "epochs": s.epochs,
            "validation": s.validation, "validation_freq": s.validation_freq,
            "train_size": s.train_size, "fault": s.fault, "intended": list(s.intended)}


class Labeller:
    """Labels runs as they finish; a variant waits until its group's twin is labelled."""

    def __init__(self, specs: dict, sink):
        self.specs, self.sink = specs, sink
        self.twins: dict = {}      # group -> twin's measure() if the twin is healthy, else None
        self.waiting: dict = {}    # group -> [(name, history, csv, chance)]
        self.counts = {"confirmed": 0, "ambiguous": 0}

    def add(self, name, history, csv_text, chance):
        s = self.specs[name]
        if s.is_twin:
            self._label(s, history, csv_text, chance, None)
            for item in self.waiting.pop(s.group, []):
                self._label(self.specs[item[0]], *item[1:], self.twins[s.group])
        elif s.group in self.twins:
            self._label(s, history, csv_text, chance, self.twins[s.group])
        else:
            self.waiting.setdefault(s.group, []).append((name, history, csv_text, chance))

    def _label(self, s, history, csv_text, chance, twin):
        m = measure(history, chance, s.validation_freq, twin)
        met = {c for c, v in predicates(m).items() if v}
        status = verdict(s.intended, met, twin is not None)
        if s.is_twin:
            self.twins[s.group] = m if met == {"healthy"} else None
        self.counts[status] += 1
        row = _row(s, csv_text)
        # The label is what the outcome met: for a confirmed lr_too_high run that also
        # overfit, both conditions.
        row.update(status=status, conditions=sorted(met),
                   why=why(m), seed=s.seed, csv=csv_text, history=history, chance=chance)
        self.sink(row)


def corpus(args) -> int:
    specs = grid()
    if args.families:
        keys = args.families.split(",")
        specs = [s for s in specs if any(s.group == k or s.group.startswith(k + ".")
                                         or s.family == k for k in keys)]
    if args.limit:
        specs = specs[: args.limit]
    by_name = {s.run: s for s in specs}
    out = Path(args.out)
    partial, done = partial_rows(out, by_name)
    fh = open(partial, "a")

    def sink(row):
        fh.write(json.dumps(row) + "\n")
        fh.flush()

    lab = _resume(Labeller(by_name, sink), done, by_name, sink)
    todo = sorted((s for s in specs if s.run not in done),
                  key=lambda s: (not s.is_twin, -_cost(s)))
    print(f"{len(specs)} specs, {len(done)} already done, {len(todo)} to train "
          f"with --jobs {args.jobs}", flush=True)
    t0 = time.time()
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.jobs, initializer=_worker_init) as pool:
        for i, (name, history, csv_text, chance, secs) in enumerate(
                pool.imap_unordered(_run_one, todo, chunksize=1), 1):
            lab.add(name, history, csv_text, chance)
            el = time.time() - t0
            print(f"trained {name} {secs:.1f}s  [{i}/{len(todo)}, {el / 60:.1f} min, "
                  f"ETA {el / i * (len(todo) - i) / 60:.1f} min] {lab.counts}", flush=True)
    fh.close()
    relabel(partial, out)
    partial.unlink()
    print(f"{(time.time() - t0) / 60:.1f} min", flush=True)
    return 0


def relabel(histories: Path, out: Path) -> None:
    """Label every run of a histories file afresh (twins first) with the current
    criteria, then write the final corpus and its README. The labels written while
    training are progress reports; these are the ones that count."""
    specs = {s.run: s for s in grid()}
    with open(histories) as fh:
        done = {r["run"]: r for r in map(json.loads, fh)}
    rows = {}
    lab = Labeller(specs, lambda row: rows.__setitem__(row["run"], row))
    for r in sorted(done.values(), key=lambda r: not specs[r["run"]].is_twin):
        lab.add(r["run"], r["history"], r["csv"], r["chance"])
    finish(rows, out)
    print(f"wrote {out}: {len(rows)} runs, {lab.counts}", flush=True)


def _resume(lab: Labeller, done: dict, by_name: dict, sink) -> Labeller:
    """Re-label nothing already written; restore each finished twin's measure."""
    lab.sink = lambda row: None
    for r in done.values():
        if by_name[r["run"]].is_twin:
            lab.add(r["run"], r["history"], r["csv"], r["chance"])
    lab.counts = {k: sum(r["status"] == k for r in done.values()) for k in lab.counts}
    lab.sink = sink
    return lab


def finish(rows: dict, out: Path) -> None:
    """Final gz (sorted, no histories, fixed gzip mtime so reruns are byte-identical)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for name in sorted(rows):
            r = {k: v for k, v in rows[name].items() if k not in ("history", "chance")}
            gz.write((json.dumps(r) + "\n").encode())
    write_readme(out)



def partial_rows(out: Path, names) -> tuple[Path, dict]:
    """The partial file beside ``out`` (``runs.partial.jsonl`` for ``runs.jsonl.gz``) and the
    rows already in it for the runs in ``names``: what a resumed job need not train again."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name.replace(".jsonl.gz", "") + ".partial.jsonl")
    done = {}
    if partial.exists():
        with open(partial) as fh:
            done = {r["run"]: r for r in map(json.loads, fh) if r["run"] in names}
    return partial, done

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainruns", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus", help="train the grid and write the labelled corpus")
    c.add_argument("--out", default="fixtures/corpus/runs.jsonl.gz")
    c.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    c.add_argument("--limit", type=int, help="only the first N specs of the grid")
    c.add_argument("--families", help="comma-separated families or group prefixes "
                                      "(e.g. digits,sequences.lstm.n400)")
    r = sub.add_parser("readme", help="regenerate README.md next to a corpus file")
    r.add_argument("--out", default="fixtures/corpus/runs.jsonl.gz")
    rl = sub.add_parser("relabel", help="re-label a histories file (the .partial.jsonl "
                                        "written while training) into the corpus")
    rl.add_argument("histories")
    rl.add_argument("--out", default="fixtures/corpus/runs.jsonl.gz")
    args = p.parse_args(argv)
    if args.cmd == "corpus":
        return corpus(args)
    if args.cmd == "relabel":
        relabel(Path(args.histories), Path(args.out))
        return 0
    write_readme(Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
