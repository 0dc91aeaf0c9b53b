"""How fast ``diagnose`` starts and how many runs it diagnoses per second.

Cold start: wall time of ``python -m diagnose ONE.csv`` in a fresh process,
median of several runs, measured alongside ``python -c pass`` and
``python -c "import numpy"`` in the same session so that the ratios hold on
a noisy machine. Batch: runs per second over 1,000 logs (the fixture files,
cycled), through the Python API (load + diagnose) and through one CLI call
on a folder of 1,000 files.

    python benchmarks/speed.py [--repeat 15] [--logs 1000]

Targets (issue 2): cold start <= 0.4 s on a 2-core machine; >= 500 runs/s.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--logs", type=int, default=1000)
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
