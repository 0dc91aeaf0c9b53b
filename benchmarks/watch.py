"""How long ``diagnose --watch`` takes from a line being written to its notice being printed.

    python benchmarks/watch.py [--interval 0.2] [--delay 0.3]

A writer (this process) appends real fixture runs to a CSVLogger file one
epoch line at a time, ``--delay`` seconds apart, as training would; the
watcher (``diagnose --watch``, a separate process) prints a notice when a
condition first shows. The latency of a notice is the time from the write
of the epoch line it names to the moment its line arrives on the watcher's
standard output. It is bounded by the polling interval plus the time to
read and judge the log (a few milliseconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Fixture runs whose notices come mid-run (overfitting, blow-ups, spikes, a flat curve).
RUNS = ["cls5_high_adam_diverge", "digits_overfit_noise", "digits_high_spikes",
        "wine_high_sgd_nan", "cls5_low_1e-6", "iris_overfit_plateau", "friedman_high_sgd_osc"]


def measure(name: str, interval: float, delay: float, folder: Path) -> list[float]:
    source = ROOT / "fixtures" / f"{name}.csv"
    target = folder / f"{name}.csv"
    target.unlink(missing_ok=True)
    watcher = subprocess.Popen([sys.executable, "-m", "diagnose", "--watch", str(target),
                                "--interval", str(interval)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    printed: dict[int, float] = {}

    def read() -> None:
        for line in watcher.stdout:
            if line.startswith("Epoch "):
                epoch = int(float(line.split(":")[0].split()[1]))
                printed.setdefault(epoch, time.perf_counter())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(1.0)  # the watcher is up and waiting for the file
    written: dict[int, float] = {}
    lines = source.read_text().splitlines(True)
    with open(target, "w") as f:
        f.write(lines[0])
        f.flush()
        for epoch, line in enumerate(lines[1:], 1):
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
            written[epoch] = time.perf_counter()
            time.sleep(delay)
    time.sleep(max(1.0, 5 * interval))
    watcher.terminate()
    watcher.wait(timeout=30)
    reader.join(timeout=5)
    return [printed[e] - written[e] for e in sorted(printed) if e in written]


def fail_on_rates(persist_values=(1, 2, 3, 4, 5)) -> None:
    """What --fail-on would stop, replayed epoch by epoch on the corpus's confirmed runs.

    For each condition and each persistence (epochs in a row the verdict must hold it; a
    blow-up stops at once): the share of runs *without* the condition that a watcher would
    stop, and of runs with it that it catches. Calibration families choose FAIL_PERSIST; the
    held-out families report it.
    """
    sys.path.insert(0, str(ROOT))
    from benchmarks import labelled
    from diagnose.engine import Options, diagnose_run
    from diagnose.watch import _stop_on

    runs = labelled.corpus()
    for split in ("calibration", "heldout"):
        replayed = []
        for case in (r for r in runs if r.split == split):
            run = case.features.run
            replayed.append((case.truth, [diagnose_run(run.head(k), Options())
                                          for k in range(1, len(run) + 1)]))
        for persist in persist_values:
            cells = []
            for condition in ("overfitting", "lr_too_high", "lr_too_low"):
                false = caught = negatives = positives = 0
                for truth, reports in replayed:
                    streaks: dict = {}
                    import diagnose.watch as watch_module

                    saved, watch_module.FAIL_PERSIST = watch_module.FAIL_PERSIST, persist
                    try:
                        stopped = any(_stop_on(r, frozenset({condition}), streaks)
                                      for r in reports)
                    finally:
                        watch_module.FAIL_PERSIST = saved
                    if condition in truth:
                        positives += 1
                        caught += stopped
                    else:
                        negatives += 1
                        false += stopped
                cells.append(f"{condition}: stops {false}/{negatives} without it "
                             f"({false / max(negatives, 1):.0%}), catches {caught}/{positives}")
            print(f"{split:11} persist {persist}: " + " | ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--fail-on", action="store_true",
                        help="instead: what --fail-on stops at each persistence, on the corpus")
    args = parser.parse_args()
    if args.fail_on:
        fail_on_rates()
        return
    latencies = []
    with tempfile.TemporaryDirectory() as folder:
        for name in RUNS:
            got = measure(name, args.interval, args.delay, Path(folder))
            latencies += got
            shown = ", ".join(f"{x * 1000:.0f}" for x in got) or "no notice"
            print(f"{name:28} notices: {len(got)}  latency ms: {shown}")
    if latencies:
        print(f"\n--interval {args.interval}: {len(latencies)} notices, latency median "
              f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
              f"(polling alone: up to {args.interval * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
