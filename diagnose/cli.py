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
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LogError, MissingExtra
from .load import FORMATS
from .load.common import MAX_BYTES, STDIN
from .report import CONDITIONS, Report

if TYPE_CHECKING:
    from .batch import Item

# Files a directory argument contributes (TensorBoard log dirs are found by layout).
LOG_SUFFIXES = (".csv", ".log", ".json", ".jsonl")
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
                   help="training logs (CSVLogger CSV, History JSON, ... see --format-in), "
                        "folders of them (a KerasTuner project: every trial), or "
                        "mlflow:TRACKING_URI (mlflow:./mlruns, mlflow:sqlite:///mlflow.db, "
                        "mlflow:http://host:5000)")
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
    p.add_argument("--experiment", metavar="NAME",
                   help="with mlflow:URI, the experiment to read (default: every experiment)")
    p.add_argument("--run-id", metavar="ID", help="with mlflow:URI, the one run to read")
    p.add_argument("--long", action="store_true",
                   help="the files are long metric tables (CSV or Parquet, one row per run, step, "
                        "metric and value): diagnose each run in them")
    for role, example in (("run", "run_id"), ("step", "step"), ("metric", "key"),
                          ("value", "value")):
        p.add_argument(f"--{role}-col", metavar="NAME",
                       help=f"with --long, the column holding the {role} (e.g. {example}; "
                            "default: detected)")
    p.add_argument("--check", action="store_true",
                   help="say what was read from each log (series, epochs, directions, segments), "
                        "what was skipped and why, and what to log next time; no diagnosis")
    p.add_argument("--watch", action="store_true",
                   help="follow one growing log (CSVLogger, Lightning, JSON Lines, a console "
                        "capture) and print each new finding once, as the live callback would; "
                        "Ctrl-C ends it with the report; with --fail-on, exit 1 once the verdict "
                        "has held the condition 3 epochs in a row (a blow-up at once)")
    p.add_argument("--interval", type=float, default=None, metavar="SECONDS",
                   help="with --watch, seconds between looks at the file (default 0.2)")
    p.add_argument("--jobs", "-j", type=_positive_int, metavar="N",
                   help="diagnose on N processes (default: every core); the output is the same, "
                        "in the same order")
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


# A KerasTuner project folder holds oracle.json beside its trial_* folders; only their
# trial.json are logs (the project's oracle.json and <tuner_id>.json, and a trial's
# build_config.json, are the search's state).
TUNER_ORACLE, TUNER_TRIAL, TUNER_TRIAL_DIR = "oracle.json", "trial.json", "trial_"


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
            # A KerasTuner project's own JSON is no log: all of it in the project folder,
            # all but trial.json in its trial_* folders.
            project = TUNER_ORACLE in files and any(d.startswith(TUNER_TRIAL_DIR) for d in dirs)
            trial = (here.name.startswith(TUNER_TRIAL_DIR)
                     and (here.parent / TUNER_ORACLE).is_file())
            dirs[:] = sorted(d for d in dirs if d not in runs and not d.startswith("."))
            logs = [here / f for f in sorted(files) if f.endswith(LOG_SUFFIXES)
                    and not (f.endswith(".json") and (project or (trial and f != TUNER_TRIAL)))]
            found += len(runs) + len(logs)
            yield from ((here / d, None) for d in runs)
            yield from ((log, None) for log in logs)
        for exc in unreadable:
            yield Path(exc.filename or path), f"folder cannot be read ({exc.strerror or exc})"
        if not found and not unreadable:
            yield path, ("no training logs in this folder (looked for "
                         f"{', '.join('*' + s for s in LOG_SUFFIXES)} files and TensorBoard "
                         "log dirs)")


MLFLOW = "mlflow:"


def _refused_combination(args: argparse.Namespace) -> str | None:
    """Options that cannot work together, said before anything is read (never ignored)."""
    if args.watch:
        extra = [flag for flag, given in (("--plot", args.plot), ("-o", args.output),
                                          ("--check", args.check), ("--long", args.long))
                 if given]
        if extra or args.format != "text":
            shown = ", ".join(extra + ([f"--format {args.format}"] if args.format != "text"
                                       else []))
            return (f"--watch prints its notices and final report as text; it does not take "
                    f"{shown}")
    if args.check and args.format not in ("text", "json"):
        return "--check writes text or json (--format json), not " + args.format
    if args.check and (args.plot or args.long):
        return "--check says what was read from log files; it does not take --plot or --long"
    if args.long:
        folders = [p for p in args.paths if p == STDIN or _is_dir(Path(p))]
        if folders:
            return (f"--long reads table files (CSV or Parquet), not {folders[0]!r}: "
                    "name the files")
    return None


def _check(paths: Sequence[str], fmt: str, options: dict, output: str | None = None) -> int:
    """--check: what each log holds, one block per file; exit 2 when one cannot be read."""
    from .check import check, check_text

    results, failed = [], False
    for path, problem in expand(paths):
        source = "<stdin>" if str(path) == STDIN else str(path)
        try:
            if problem is not None:
                raise LogError(source, problem)
            results.append(check(str(path), **options))
        except LogError as exc:
            failed = True
            sys.stderr.write(f"diagnose: {_one_line(str(exc))}\n")
    if fmt == "json":
        text = json.dumps({"checks": results}, indent=2, allow_nan=False) + "\n"
    else:
        text = "\n".join(check_text(info) for info in results)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"diagnose: cannot write {output}: {exc.strerror or exc}\n")
            return 2
    else:
        sys.stdout.write(text)
    return 2 if failed else 0


def gather(args: argparse.Namespace) -> Iterator[Item]:
    """One item per run the arguments name: files and folders (read by the workers), the
    runs of an MLflow store and of long tables (read here, once per source)."""
    from .batch import Item

    for name in args.paths:
        if name.startswith(MLFLOW):
            yield from _read_runs(name, lambda: _mlflow_runs(name[len(MLFLOW):], args))
        elif args.long and name != STDIN and not _is_dir(Path(name)):
            yield from _read_runs(name, lambda: _long_runs(name, args))
        else:
            for path, problem in expand([name]):
                if str(path) == STDIN:
                    # Read here: a worker process has no standard input of its own.
                    yield from _read_runs("<stdin>", lambda: [_stdin_run(args)])
                else:
                    yield Item(str(path), path=str(path), problem=problem)


def _read_runs(name: str, read) -> Iterator[Item]:
    """Items for a source of many runs; a source that cannot be read at all is one error."""
    from .batch import Item

    try:
        for run in read():
            if isinstance(run, LogError):
                yield Item(run.source, error=str(run))
            else:
                yield Item(run.source, run=run)
    except LogError as exc:
        yield Item(name, error=str(exc))


def _load_options(args: argparse.Namespace) -> dict:
    """The options that go to the loader, as given."""
    return {k: v for k, v in {"segment": args.segment, "format_in": args.format_in,
                              "max_bytes": args.max_bytes}.items() if v is not None}


def _stdin_run(args: argparse.Namespace):
    from .load import load

    return load(STDIN, **_load_options(args))


def _mlflow_runs(uri: str, args: argparse.Namespace):
    from .load.mlflow_store import runs

    return runs(uri, experiment=args.experiment, run_id=args.run_id)


def _long_runs(path: str, args: argparse.Namespace):
    from .table import read_long, runs_from_long

    columns = {"run": args.run_col, "step": args.step_col, "metric": args.metric_col,
               "value": args.value_col}
    frame = read_long(path, **columns)
    return runs_from_long(frame, **columns)


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
    if args.plot and _plot_target(args.plot) is None:
        sys.stderr.write(f"diagnose: --plot {args.plot}: give a file ending in "
                         f"{', '.join(IMAGE_SUFFIXES)}, or a folder (ending in /)\n")
        return 2
    if args.plot:
        from .figure import has_matplotlib

        if not has_matplotlib():
            sys.stderr.write("diagnose: --plot needs matplotlib: install it with "
                             "pip install 'keras-diagnose[plot]'\n")
            return 2
    fail_on = set(_split(args.fail_on))
    unknown = fail_on - set(CONDITIONS)
    if unknown:
        sys.stderr.write(f"diagnose: unknown --fail-on condition(s): {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(CONDITIONS)})\n")
        return 2

    from .batch import default_jobs, diagnose_items
    from .engine import Options

    if args.watch and (len(args.paths) != 1 or args.paths[0] == STDIN or
                       _is_dir(Path(args.paths[0])) or args.paths[0].startswith(MLFLOW)):
        sys.stderr.write("diagnose: --watch follows one log file: give exactly one\n")
        return 2
    refused = _refused_combination(args)
    if refused:
        sys.stderr.write(f"diagnose: {refused}\n")
        return 2

    load_options = _load_options(args)
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
    if args.check:
        return _check(args.paths, args.format, {**load_options, **engine_options}, args.output)
    if args.watch:
        from .watch import INTERVAL, watch

        interval = INTERVAL if args.interval is None else args.interval
        if not (0 < interval <= 3600):
            sys.stderr.write(f"diagnose: --interval must be a number of seconds in (0, 3600], "
                             f"got {args.interval}\n")
            return 2
        return watch(args.paths[0], fail_on=frozenset(fail_on), interval=interval,
                     load_options=load_options, engine_options=engine_options,
                     color=_color_wanted(args.no_color))

    try:
        items = list(gather(args))
    except MissingExtra as exc:
        sys.stderr.write(f"diagnose: {exc}\n")
        return 2
    show_progress = len(items) > PROGRESS_MIN_FILES and sys.stderr.isatty()
    errors: list[tuple[str, str]] = []

    def fail(source: str, message: str) -> None:
        errors.append((_one_line(source), _one_line(message)))
        if show_progress:
            _clear_progress()
        sys.stderr.write(f"diagnose: {_one_line(message)}\n")

    if args.format == "html" and len(items) == 1:
        from .figure import has_matplotlib

        if not has_matplotlib():  # before the work, and before -o empties a file
            sys.stderr.write("diagnose: a one-run HTML page draws its figure, which needs "
                             "matplotlib: install it with pip install 'keras-diagnose[plot]'\n")
            return 2
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    except OSError as exc:
        sys.stderr.write(f"diagnose: cannot write {args.output}: {exc.strerror or exc}\n")
        return 2
    color = _color_wanted(args.no_color or bool(args.output))
    # The run comes back from the workers only when it is drawn: --plot, and HTML, whose
    # small multiples draw every run (its full figures only up to SWEEP_FIGURES runs).
    keep = "run" if args.plot or args.format == "html" else "light"
    # The workers write each report out, except where the output needs what only this
    # process has (an HTML page of every run, Markdown that links the images drawn here).
    render = None if args.format == "html" or args.plot else args.format
    writer = Writer(args.format, out, color, several=len(items) > 1)
    plotter = Plotter(args.plot, [item.source for item in items], fail) if args.plot else None
    found: set[str] = set()
    try:
        outcomes = diagnose_items(items, args.jobs or default_jobs(), load_options=load_options,
                                  engine_options=engine_options, keep=keep, render=render,
                                  color=color, count=len(items))
        for i, outcome in enumerate(outcomes, 1):
            if show_progress:
                _progress(i, len(items), outcome.source)
            if outcome.report is None:
                fail(outcome.source, outcome.error or f"{outcome.source}: not diagnosed")
                if debug and outcome.trace:
                    sys.stderr.write(outcome.trace)
                continue
            report = outcome.report
            found.update(report.conditions)
            image = plotter.draw(i - 1, report) if plotter else None
            writer.add(report, outcome.rendered, image)
        if show_progress:
            _clear_progress()
        writer.finish(errors)
    except MissingExtra as exc:
        sys.stderr.write(f"diagnose: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\ndiagnose: interrupted\n")
        return 130
    finally:
        if out is not sys.stdout:
            out.close()
    if errors:
        return 2
    return 1 if fail_on & found else 0


class Writer:
    """Writes each report as soon as it is judged (text, Markdown, JSON), and what needs
    every run (the sweep, an HTML page) at the end.

    Streaming keeps the first output under a second on a folder of 100,000
    logs, and memory small: the sweep keeps only each run's verdict and the
    few summary keys it ranks by (a few hundred bytes a run). The streamed
    text is byte for byte what the render functions give for the whole list.
    """

    def __init__(self, fmt: str, out, color: bool, several: bool):
        self.fmt, self.out, self.color, self.several = fmt, out, color, several
        self.kept: list[Report] = []
        self.images: dict[str, str] = {}
        self.written = 0

    def add(self, report: Report, rendered: str | None = None, image: str | None = None) -> None:
        """One report; ``rendered`` is it written out already (by a worker)."""
        from . import render
        from .batch import light, render_one

        if self.fmt == "html":
            self.kept.append(report)  # the page needs every finding and fix
            return
        self.kept.append(light(report))
        if rendered is None:
            if self.fmt == "markdown" and image:
                rendered = render.render_markdown([report], images={report.source:
                                                                    self._link(image)})
            else:
                rendered = render_one(report, self.fmt, self.color)
        first = self.written == 0
        self.written += 1
        if self.fmt == "json":
            self.out.write(('{\n  "runs": [\n' if first else ",\n") + rendered)
        else:
            self.out.write(("" if first else "\n") + rendered)
        self.out.flush()

    def _link(self, image: str) -> str:
        base = Path(self.out.name).parent if self.out is not sys.stdout else Path(".")
        return os.path.relpath(image, base)

    def finish(self, errors: list[tuple[str, str]]) -> None:
        from . import render, sweep

        several = len(self.kept) > 1
        if self.fmt == "html":
            from .html import render_html

            if self.kept or errors:
                self.out.write(render_html(self.kept, errors))
            return
        if self.fmt == "text":
            if several:
                self.out.write("\n" + sweep.sweep_table(self.kept))
        elif self.fmt == "markdown":
            if several:
                tail = render.render_markdown([], sweep.sweep_table(self.kept))
                self.out.write(("\n" if self.written else "") + tail)
        else:
            head = '{\n  "runs": [\n' if not self.written else "\n"
            document = {"runs": None}
            if errors:
                document["errors"] = [{"source": s, "error": e} for s, e in errors]
            if several:
                document["sweep"] = sweep.sweep_dict(self.kept)
            rest = json.dumps(document, indent=2, allow_nan=False)
            # Everything after the runs' list, as json.dumps writes it for the whole document.
            tail = rest[rest.index('"runs": null') + len('"runs": null'):]
            self.out.write(head + ("  ]" if self.written else "  ]") + tail + "\n")
        self.out.flush()


class Plotter:
    """Draws each report as it is judged: to one file for one run, else one PNG per run."""

    def __init__(self, path: str, sources: Sequence[str], fail):
        self.fail = fail
        folder = _plot_target(path)
        if folder == Path("") and len(sources) > 1:
            # One file asked for, several runs: a folder of that name, in that format.
            self.folder = Path(path).with_suffix("")
            self.names = image_names(sources, Path(path).suffix.lower())
            sys.stderr.write(f"diagnose: {len(sources)} runs: writing one image per run into "
                             f"{self.folder}/\n")
        elif folder == Path(""):
            self.folder, self.names = Path(path).parent, [Path(path).name]
        else:
            self.folder, self.names = folder, image_names(sources)
        self.ready: bool | None = False  # None: the folder cannot be made (said once)

    def draw(self, index: int, report: Report) -> str | None:
        """Draw the report of the ``index``-th input (0-based); the image's path, or None."""
        from .figure import save

        if self.ready is None:
            return None
        if not self.ready:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.ready = None
                self.fail(str(self.folder), f"{self.folder}: cannot create the folder "
                          f"({exc.strerror or exc})")
                return None
            self.ready = True
        target = self.folder / self.names[index]
        try:
            save(report, target)
        except ValueError as exc:
            # Nothing to draw (no loss logged): the run was still diagnosed, so this is
            # said, not counted as an input error.
            sys.stderr.write(f"diagnose: no figure for {_one_line(str(exc))}\n")
            return None
        except OSError as exc:
            self.fail(report.source, f"{target}: cannot be written ({exc.strerror or exc})")
            return None
        return str(target)


def _plot_target(path: str) -> Path | None:
    """The folder --plot writes into, ``Path("")`` for one file, None for neither."""
    target = Path(path)
    if path.endswith(("/", os.sep)) or _is_dir(target):
        return target
    return Path("") if target.suffix.lower() in IMAGE_SUFFIXES else None


def _parts(source: str) -> tuple[str, ...]:
    """A source's path parts, the log's extension dropped (only a log's: ``lr_0.001`` is a
    folder name, not a stem with a suffix), ``.`` and ``..`` left out."""
    parts = [p for p in Path(source).parts if p not in (".", "..", "/", os.sep)]
    if parts and parts[-1].lower().endswith((*LOG_SUFFIXES, ".txt", ".parquet")):
        parts[-1] = parts[-1].rsplit(".", 1)[0]
    return tuple(parts) or ("run",)


def image_names(sources: Sequence[str], suffix: str = ".png") -> list[str]:
    """One file name per run, unique, from its path: the parts after those all runs share.

    ``runs/a/log.csv`` and ``runs/b/log.csv`` become ``a__log.png`` and ``b__log.png``.
    """
    parts = [_parts(s) for s in sources]
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
