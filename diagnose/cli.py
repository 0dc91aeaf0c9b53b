"""The ``diagnose`` command: diagnose training logs from the shell.

    diagnose FILE_OR_DIR... [--format text|json|markdown|html] [-o FILE] [--plot PATH]
                            [--fail-on CONDITION[,...]]

Exit codes (PRODUCT.md): 0 every run diagnosed, 1 a condition named in
``--fail-on`` was found, 2 usage or input error. Bad input costs one line on
stderr naming the file; the other files are still diagnosed, and the JSON
output lists the failures under ``errors``. No traceback reaches the user
unless ``--debug`` asks for it (docs/input.md).

Start-up time is a feature: this module imports only the standard library
and the engine (numpy). Never tensorflow, keras, pandas or scipy, not even
indirectly; matplotlib only when a picture is asked for (``--plot``, or the
figure of a one-run ``--format html`` page).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import LogError, MissingExtra
from .load import FORMATS
from .load.common import MAX_BYTES, STDIN
from .report import CONDITIONS, Report

# Files a directory argument contributes (TensorBoard log dirs are found by layout).
LOG_SUFFIXES = (".csv", ".log", ".json")
# More files than this on a terminal: show a progress bar on stderr.
PROGRESS_MIN_FILES = 30
# An error line longer than this is cut: a log can make a message as long as it likes.
MAX_ERROR_CHARS = 500
# What --plot writes, by the extension of a file PATH.
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="diagnose",
        description="Diagnose Keras training curves: overfitting, underfitting, learning rate too "
                    "high or too low, with evidence and fixes sized to the run.",
        epilog="Exit codes: 0 diagnosed, 1 a --fail-on condition was found, 2 usage or input error.",
    )
    p.add_argument("paths", nargs="*", metavar="FILE_OR_DIR",
                   help="training logs (CSVLogger CSV, History JSON, ...) or folders of them")
    p.add_argument("--format", choices=("text", "json", "markdown", "html"), default="text",
                   help="output format (default: text); html is one self-contained page: the "
                        "run's figure, or for several runs a sortable table and every run's curves")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the report to FILE instead of standard output")
    p.add_argument("--plot", metavar="PATH",
                   help="draw each run's curves with its diagnosis: to PATH (.png, .svg or .pdf) for "
                        "one run, or one PNG per run into the folder PATH/ (needs matplotlib: "
                        "pip install 'keras-diagnose[plot]')")
    p.add_argument("--fail-on", metavar="CONDITION[,...]", default="",
                   help=f"exit 1 when any of these is found ({', '.join(CONDITIONS)})")
    p.add_argument("--segment", type=int, metavar="N",
                   help="which of several runs appended to one CSV (0 = first, -1 = last, the default)")
    p.add_argument("--format-in", metavar="FORMAT", choices=list(FORMATS),
                   help=f"force the input format instead of detecting it ({', '.join(FORMATS)})")
    p.add_argument("--max-bytes", type=_positive_int, metavar="N", default=MAX_BYTES,
                   help=f"refuse a file larger than N bytes (default {MAX_BYTES:,} = 256 MB)")
    p.add_argument("--loss", metavar="NAME", help="the training loss to judge (default: 'loss')")
    p.add_argument("--metric", metavar="NAME", help="the quality metric to read (default: accuracy-like)")
    p.add_argument("--monitor", metavar="NAME", help="the series for early stopping (default: val_loss)")
    p.add_argument("--lr", type=float, metavar="RATE", help="the learning rate used, when not logged")
    p.add_argument("--select", metavar="RULE,...", help="run only these rules")
    p.add_argument("--ignore", metavar="RULE,...", help="skip these rules")
    p.add_argument("--list-rules", action="store_true", help="print the rule catalogue and exit")
    p.add_argument("--no-color", action="store_true", help="never colour the output")
    p.add_argument("--debug", action="store_true",
                   help="print the traceback of an internal error (to report it)")
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0  # not a whole number: refused below, in the same words
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _is_tensorboard_dir(path: Path) -> bool:
    try:
        return any((path / sub).is_dir() and any((path / sub).glob("events.out.tfevents.*"))
                   for sub in ("train", "validation"))
    except OSError:  # an unreadable subfolder: not a log dir we can read
        return False


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False where it cannot be told (under an unreadable folder, a loop)."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def expand(paths: Sequence[str]) -> Iterator[tuple[Path, str | None]]:
    """(input, None) for each file and TensorBoard log dir the arguments name; (folder, error)
    for a folder that cannot be walked or holds no log.

    Folders are walked in sorted order without following symbolic links, so a
    link loop is never entered; a file's own problems (missing, a FIFO, too
    large) are the loader's to report.
    """
    for name in paths:
        path = Path(name)
        if name == STDIN or not _is_dir(path) or _is_tensorboard_dir(path):
            yield path, None
            continue
        found = 0
        unreadable: list[OSError] = []
        for root, dirs, files in os.walk(path, onerror=unreadable.append):
            here = Path(root)
            runs = sorted(d for d in dirs if _is_tensorboard_dir(here / d))
            dirs[:] = sorted(d for d in dirs if d not in runs and not d.startswith("."))
            logs = [here / f for f in sorted(files) if f.endswith(LOG_SUFFIXES)]
            found += len(runs) + len(logs)
            yield from ((here / d, None) for d in runs)
            yield from ((log, None) for log in logs)
        for exc in unreadable:
            yield Path(exc.filename or path), f"folder cannot be read ({exc.strerror or exc})"
        if not found and not unreadable:
            yield path, ("no training logs in this folder (looked for "
                         f"{', '.join('*' + s for s in LOG_SUFFIXES)} files and TensorBoard "
                         "log dirs)")


def _color_wanted(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _progress(done: int, total: int, name: str) -> None:
    filled = int(20 * done / total)
    name = _one_line(name)[-40:]
    sys.stderr.write(f"\r[{'#' * filled}{' ' * (20 - filled)}] {done}/{total} {name:<40}")
    if done == total:
        _clear_progress()
    sys.stderr.flush()


def _clear_progress() -> None:
    sys.stderr.write("\r" + " " * 80 + "\r")


def _one_line(text: str) -> str:
    """A message as one line of bounded length, whatever a file name or a log put in it."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


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
    plot_dir = _plot_target(args.plot) if args.plot else None
    if args.plot and plot_dir is None:
        sys.stderr.write(f"diagnose: --plot {args.plot}: give a file ending in "
                         f"{', '.join(IMAGE_SUFFIXES)}, or a folder (ending in /)\n")
        return 2
    if args.plot or args.format == "html":
        from .figure import has_matplotlib

        if args.plot and not has_matplotlib():
            sys.stderr.write("diagnose: --plot needs matplotlib: install it with "
                             "pip install 'keras-diagnose[plot]'\n")
            return 2
    fail_on = set(_split(args.fail_on))
    unknown = fail_on - set(CONDITIONS)
    if unknown:
        sys.stderr.write(f"diagnose: unknown --fail-on condition(s): {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(CONDITIONS)})\n")
        return 2

    from .api import diagnose
    from .engine import Options

    load_options = {k: v for k, v in {"segment": args.segment, "format_in": args.format_in,
                                      "max_bytes": args.max_bytes}.items() if v is not None}
    engine_options = {k: v for k, v in {
        "loss": args.loss, "metric": args.metric, "monitor": args.monitor,
        "learning_rate": args.lr, "select": args.select, "ignore": args.ignore,
    }.items() if v is not None}
    try:  # a bad option is the user's, not a file's: refuse it before reading anything
        Options(**engine_options)
    except (TypeError, ValueError) as exc:
        sys.stderr.write(f"diagnose: error: {_one_line(str(exc))}\n")
        return 2
    debug = args.debug or bool(os.environ.get("DIAGNOSE_DEBUG"))

    inputs = list(expand(args.paths))
    show_progress = len(inputs) > PROGRESS_MIN_FILES and sys.stderr.isatty()
    reports: list[Report] = []
    errors: list[tuple[str, str]] = []

    def fail(source: str, message: str) -> None:
        errors.append((_one_line(source), _one_line(message)))
        if show_progress:
            _clear_progress()
        sys.stderr.write(f"diagnose: {_one_line(message)}\n")

    for i, (path, problem) in enumerate(inputs, 1):
        source = "<stdin>" if str(path) == STDIN else str(path)
        if show_progress:
            _progress(i, len(inputs), source)
        if problem is not None:
            fail(source, f"{source}: {problem}")
            continue
        try:
            reports.append(diagnose(str(path), **load_options, **engine_options))
        except LogError as exc:
            fail(source, str(exc))
            if debug and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__)
        except Exception as exc:  # the API's boundary missed it: still one line, still one file
            fail(source, f"{source}: internal error ({type(exc).__name__}: {exc}); please report")
            if debug:
                traceback.print_exc()
    if show_progress:
        _clear_progress()

    images: dict[int, str] = {}
    try:
        if args.plot:
            images = _plot_all(reports, args.plot, fail)
        text = _render(reports, errors, args.format, _color_wanted(args.no_color or
                                                                    bool(args.output)),
                       images, args.output)
    except MissingExtra as exc:
        sys.stderr.write(f"diagnose: {exc}\n")
        return 2
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"diagnose: cannot write {args.output}: {exc.strerror or exc}\n")
            return 2
    else:
        sys.stdout.write(text)
    if errors:
        return 2
    found = {c for r in reports for c in r.conditions}
    return 1 if fail_on & found else 0


def _plot_target(path: str) -> Path | None:
    """The folder --plot writes into, ``Path("")`` for one file, None for neither."""
    target = Path(path)
    if path.endswith(("/", os.sep)) or _is_dir(target):
        return target
    return Path("") if target.suffix.lower() in IMAGE_SUFFIXES else None


def _plot_all(reports: list[Report], path: str, fail) -> dict[int, str]:
    """Draw every report; the image path written for each (by index). A run that cannot be
    drawn costs one line, like a file that cannot be read; the others are still drawn."""
    from .figure import save

    folder = _plot_target(path)
    if folder == Path("") and len(reports) > 1:
        folder, names = Path(path).with_suffix(""), image_names([r.source for r in reports])
        sys.stderr.write(f"diagnose: {len(reports)} runs: writing one image per run into "
                         f"{folder}/\n")
    elif folder == Path(""):
        names = [Path(path).name]
        folder = Path(path).parent
    else:
        names = image_names([r.source for r in reports])
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(str(folder), f"{folder}: cannot create the folder ({exc.strerror or exc})")
        return {}
    written = {}
    for i, (report, name) in enumerate(zip(reports, names)):
        target = folder / name
        try:
            save(report, target)
        except MissingExtra:
            raise
        except (ValueError, OSError) as exc:
            fail(report.source, f"{report.source}: no figure: {exc}")
            continue
        written[i] = str(target)
    return written


def image_names(sources: Sequence[str], suffix: str = ".png") -> list[str]:
    """One file name per run, unique, from its path: the parts after those all runs share.

    ``runs/a/log.csv`` and ``runs/b/log.csv`` become ``a__log.png`` and ``b__log.png``.
    """
    parts = [Path(s).with_suffix("").parts or ("run",) for s in sources]
    common = 0
    if len(parts) > 1:
        shortest = min(len(p) for p in parts)
        while common < shortest - 1 and len({p[common] for p in parts}) == 1:
            common += 1
    names, seen = [], set()
    for p in parts:
        stem = "__".join(p[common:] if len(parts) > 1 else p[-1:])
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._") or "run"
        name, k = stem + suffix, 2
        while name in seen:
            name, k = f"{stem}_{k}{suffix}", k + 1
        seen.add(name)
        names.append(name)
    return names


def _render(reports: list[Report], errors: list[tuple[str, str]], fmt: str, color: bool,
            images: dict[int, str] | None = None, output: str | None = None) -> str:
    from . import render, sweep

    several = len(reports) > 1
    if fmt == "html":
        from .html import render_html

        return render_html(reports, errors)
    if fmt == "markdown" and images:
        base = Path(output).parent if output else Path(".")
        links = {reports[i].source: os.path.relpath(p, base) for i, p in images.items()}
        return render.render_markdown(reports, sweep.sweep_table(reports) if several else None,
                                      images=links)
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
