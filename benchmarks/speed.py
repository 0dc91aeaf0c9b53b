"""How fast ``diagnose`` starts and how many runs it diagnoses per second.

Cold start: wall time of ``python -m diagnose ONE.csv`` in a fresh process,
median of several runs, measured alongside ``python -c pass`` and
``python -c "import numpy"`` in the same session so that the ratios hold on
a noisy machine. Batch: runs per second over 1,000 logs (the fixture files,
cycled), through the Python API (load + diagnose) and through one CLI call
on a folder of 1,000 files. Long run: wall time and peak memory (max RSS)
of one CLI call on a 1,000,000-epoch CSVLogger file and History JSON dump,
in a fresh process.

    python benchmarks/speed.py [--repeat 15] [--logs 1000] [--long-epochs 1000000]
    python benchmarks/speed.py --only-long      # just the long-run figure

Targets (issue 2): cold start <= 0.4 s on a 2-core machine; >= 500 runs/s.
Target (issue 10): a 1,000,000-epoch CSV in <= 2 s and <= 400 MB peak.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def wall(cmd: list[str], repeat: int) -> float:
    """Median wall time of a command, in seconds."""
    times = []
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="0")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_long_csv(path: Path, epochs: int) -> None:
    """A CSVLogger file of ``epochs`` rows: a decaying loss with noise, validation beside it."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.arange(epochs)
    loss = 0.1 + 2.0 * np.exp(-x / (epochs / 5)) + rng.normal(0, 0.01, epochs)
    val = loss + 0.05 + rng.normal(0, 0.01, epochs)
    table = np.column_stack([x, loss, val])
    np.savetxt(path, table, fmt=["%d", "%.6f", "%.6f"], delimiter=",",
               header="epoch,loss,val_loss", comments="")


def write_long_json(path: Path, epochs: int) -> None:
    """The same run as a History JSON dump (``json.dump(history.history, f)``)."""
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    loss = 0.1 + 2.0 * np.exp(-np.arange(epochs) / (epochs / 5)) + rng.normal(0, 0.01, epochs)
    val = loss + 0.05 + rng.normal(0, 0.01, epochs)
    path.write_text(json.dumps({"loss": loss.round(6).tolist(), "val_loss": val.round(6).tolist()}))


def peak(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return elapsed, usage.ru_maxrss * scale / 2**20, proc.returncode


def long_run(epochs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="diagnose-long-"))
    try:
        py = sys.executable
        peak([py, "-c", "import numpy"])  # warm the file cache
        for kind, write in (("CSV", write_long_csv), ("History JSON", write_long_json)):
            path = folder / f"long_{epochs}.{'csv' if kind == 'CSV' else 'json'}"
            write(path, epochs)
            size = path.stat().st_size / 2**20
            elapsed, rss, code = peak([py, "-m", "diagnose", str(path)])
            print(f"long run: {epochs:,} epochs ({size:.0f} MB {kind}), one CLI call: "
                  f"{elapsed:.2f} s, peak RSS {rss:.0f} MB, exit {code} "
                  f"(target <= 2 s and <= 400 MB)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--logs", type=int, default=1000)
    parser.add_argument("--long-epochs", type=int, default=1_000_000)
    parser.add_argument("--only-long", action="store_true")
    args = parser.parse_args(argv)
    if args.only_long:
        long_run(args.long_epochs)
        return 0
    logs = sorted((ROOT / "fixtures").glob("*.csv"))
    if not logs:
        print("no fixtures/*.csv: run scripts/generate_fixtures.py first")
        return 1
    one = str(logs[0].relative_to(ROOT))
    py = sys.executable
    wall([py, "-m", "diagnose", one], 2)  # warm the file cache and byte-code
    t_pass = wall([py, "-c", "pass"], args.repeat)
    t_numpy = wall([py, "-c", "import numpy"], args.repeat)
    t_diag = wall([py, "-m", "diagnose", one], args.repeat)
    print(f"cold start, median of {args.repeat} (s):")
    print(f"  python -c pass            {t_pass:.3f}")
    print(f"  python -c 'import numpy'  {t_numpy:.3f}")
    print(f"  python -m diagnose {Path(one).name:<8} {t_diag:.3f}  "
          f"(= numpy import + {t_diag - t_numpy:.3f}; target <= 0.400)")

    from diagnose import diagnose

    batch = [logs[i % len(logs)] for i in range(args.logs)]
    start = time.perf_counter()
    for path in batch:
        diagnose(path)
    api = time.perf_counter() - start
    print(f"batch, Python API: {len(batch)} logs in {api:.2f} s = {len(batch) / api:.0f} runs/s "
          f"(target >= 500)")

    folder = Path(tempfile.mkdtemp(prefix="diagnose-speed-"))
    try:
        for i, path in enumerate(batch):
            shutil.copyfile(path, folder / f"{i:04d}_{path.name}")
        start = time.perf_counter()
        subprocess.run([py, "-m", "diagnose", str(folder), "--format", "json"], cwd=ROOT,
                       stdout=subprocess.DEVNULL, check=False)
        cli = time.perf_counter() - start
        print(f"batch, one CLI call on a folder: {len(batch)} logs in {cli:.2f} s = "
              f"{len(batch) / cli:.0f} runs/s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    long_run(args.long_epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
