"""The ``diagnose`` command: diagnose training logs from the shell.

    diagnose FILE_OR_DIR... [--format text|json|markdown] [--fail-on CONDITION[,...]]

Exit codes (PRODUCT.md): 0 every run diagnosed, 1 a condition named in
``--fail-on`` was found, 2 usage or input error. Bad input costs one line on
stderr; the other files are still diagnosed.

Start-up time is a feature: this module imports only the standard library
and the engine (numpy). Never tensorflow, keras, pandas, scipy or
matplotlib, not even indirectly.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import LogError
from .report import CONDITIONS, Report

# Files a directory argument contributes (TensorBoard log dirs are found by layout).
LOG_SUFFIXES = (".csv", ".log", ".json")
# More files than this on a terminal: show a progress bar on stderr.
PROGRESS_MIN_FILES = 30


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="diagnose",
        description="Diagnose Keras training curves: overfitting, underfitting, learning rate too "
                    "high or too low, with evidence and fixes sized to the run.",
        epilog="Exit codes: 0 diagnosed, 1 a --fail-on condition was found, 2 usage or input error.",
    )
    p.add_argument("paths", nargs="*", metavar="FILE_OR_DIR",
                   help="training logs (CSVLogger CSV, History JSON, ...) or folders of them")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="output format (default: text)")
    p.add_argument("--fail-on", metavar="CONDITION[,...]", default="",
                   help=f"exit 1 when any of these is found ({', '.join(CONDITIONS)})")
    p.add_argument("--segment", type=int, metavar="N",
                   help="which of several runs appended to one CSV (0 = first, -1 = last, the default)")
    p.add_argument("--format-in", metavar="FORMAT", help="force the input format instead of detecting it")
    p.add_argument("--loss", metavar="NAME", help="the training loss to judge (default: 'loss')")
    p.add_argument("--metric", metavar="NAME", help="the quality metric to read (default: accuracy-like)")
    p.add_argument("--monitor", metavar="NAME", help="the series for early stopping (default: val_loss)")
    p.add_argument("--lr", type=float, metavar="RATE", help="the learning rate used, when not logged")
    p.add_argument("--select", metavar="RULE,...", help="run only these rules")
    p.add_argument("--ignore", metavar="RULE,...", help="skip these rules")
    p.add_argument("--list-rules", action="store_true", help="print the rule catalogue and exit")
    p.add_argument("--no-color", action="store_true", help="never colour the output")
    return p


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _is_tensorboard_dir(path: Path) -> bool:
    return any((path / sub).is_dir() and any((path / sub).glob("events.out.tfevents.*"))
               for sub in ("train", "validation"))


def expand(paths: Sequence[str]) -> Iterator[Path]:
    """Files and TensorBoard log dirs named by the arguments, folders walked in sorted order."""
    for name in paths:
        path = Path(name)
        if not path.is_dir() or _is_tensorboard_dir(path):
            yield path
            continue
        for root, dirs, files in os.walk(path):
            here = Path(root)
            runs = sorted(d for d in dirs if _is_tensorboard_dir(here / d))
            dirs[:] = sorted(d for d in dirs if d not in runs and not d.startswith("."))
            yield from (here / d for d in runs)
            yield from (here / f for f in sorted(files) if f.endswith(LOG_SUFFIXES))


def _color_wanted(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _progress(done: int, total: int, name: str) -> None:
    filled = int(20 * done / total)
    sys.stderr.write(f"\r[{'#' * filled}{' ' * (20 - filled)}] {done}/{total} {name[-40:]:<40}")
    if done == total:
        sys.stderr.write("\r" + " " * 80 + "\r")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_rules:
        from .rules import catalogue_text

        sys.stdout.write(catalogue_text())
        return 0
    if not args.paths:
        parser.print_usage(sys.stderr)
        sys.stderr.write("diagnose: error: give at least one log file or folder\n")
        return 2
    fail_on = set(_split(args.fail_on))
    unknown = fail_on - set(CONDITIONS)
    if unknown:
        sys.stderr.write(f"diagnose: unknown --fail-on condition(s): {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(CONDITIONS)})\n")
        return 2

    from .api import diagnose

    options = {k: v for k, v in {
        "segment": args.segment, "format_in": args.format_in, "loss": args.loss,
        "metric": args.metric, "monitor": args.monitor, "learning_rate": args.lr,
        "select": _split(args.select) or None, "ignore": _split(args.ignore),
    }.items() if v is not None}

    files = list(expand(args.paths))
    show_progress = len(files) > PROGRESS_MIN_FILES and sys.stderr.isatty()
    reports: list[Report] = []
    errors: list[tuple[str, str]] = []
    for i, path in enumerate(files, 1):
        if show_progress:
            _progress(i, len(files), str(path))
        try:
            reports.append(diagnose(path, **options))
        except LogError as exc:
            errors.append((str(path), str(exc)))
            sys.stderr.write(f"diagnose: {exc}\n")
        except ValueError as exc:  # bad options (unknown rule names) are usage errors
            sys.stderr.write(f"diagnose: {exc}\n")
            return 2
        except Exception as exc:  # a bug must not hide the other runs' diagnoses
            errors.append((str(path), f"internal error: {exc}"))
            sys.stderr.write(f"diagnose: {path}: internal error: {exc!r}\n")
            if os.environ.get("DIAGNOSE_DEBUG"):
                traceback.print_exc()

    sys.stdout.write(_render(reports, errors, args.format, _color_wanted(args.no_color)))
    if errors:
        return 2
    found = {c for r in reports for c in r.conditions}
    return 1 if fail_on & found else 0


def _render(reports: list[Report], errors: list[tuple[str, str]], fmt: str, color: bool) -> str:
    from . import render, sweep

    several = len(reports) > 1
    if fmt == "json":
        return render.render_json(reports, errors, sweep.sweep_dict(reports) if several else None)
    if fmt == "markdown":
        return render.render_markdown(reports, sweep.sweep_table(reports) if several else None)
    text = render.render_text(reports, color=color)
    if several:
        text += "\n" + sweep.sweep_table(reports)
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
