"""A sweep of 100,000 logs: throughput on every core, time to first output, peak memory, Dask.

    python benchmarks/sweep.py                    # 100,000 logs (about 15 minutes on 2 cores)
    python benchmarks/sweep.py --logs 5000        # a quick look
    python benchmarks/sweep.py --dir /tmp/sweep   # keep (or reuse) the generated logs

The logs are the real fixture runs (fixtures/*.csv, Keras CSVLogger files),
resampled: each copy takes a random fixture, cuts it at a random length
(at least 8 epochs), and multiplies every value by log-normal noise
(sigma 3%), so no two files are the same and the verdicts stay varied.
They are written once into a folder of 100,000 files (about 0.4 GB).

Measured, each in a fresh process:

- throughput of the CLI, ``diagnose DIR --format json -o FILE``, with
  ``--jobs 1`` and ``--jobs 2``: runs per second over the whole folder,
  walk and start-up included;
- time to first output: from starting ``diagnose DIR`` (text) to the first
  byte on its standard output;
- peak memory: the largest resident set of the CLI process or any of its
  workers (``ru_maxrss``), and the same for a tenth of the logs, to show
  whether it grows with the number of runs;
- Dask: ``diagnose.dask.diagnose_bag`` on a LocalCluster of 2 worker
  processes, the workers writing the reports as JSON lines (as the CLI
  writes its JSON to a file), cluster start-up excluded (a cluster is
  started once and serves many sweeps).

Targets (issue 12): >= 1,000 runs/s on 2 cores; Dask within 20% of
``--jobs 2``; first output within 2 s; memory flat.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generate(folder: Path, count: int, seed: int = 0) -> None:
    """``count`` CSVLogger files resampled from the fixture runs (see the module docstring)."""
    from diagnose.load import load

    bases = []
    for csv in sorted((ROOT / "fixtures").glob("*.csv")):
        run = load(str(csv))
        names = list(run.names)
        table = np.vstack([run.series[n] for n in names]).T  # epochs x series
        logged = np.vstack([run.logged[n] for n in names]).T
        bases.append((names, table, logged))
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    width = len(str(count))
    for i in range(count):
        names, table, logged = bases[rng.integers(len(bases))]
        n = len(table)
        keep = n if n <= 8 else int(rng.integers(8, n + 1))
        noisy = table[:keep] * rng.lognormal(0.0, 0.03, size=(keep, table.shape[1]))
        lines = ["epoch," + ",".join(names)]
        for e, (row, mask) in enumerate(zip(noisy, logged[:keep])):
            # NA where nothing was logged (CSVLogger's own word); a logged NaN stays nan.
            lines.append(f"{e}," + ",".join(f"{v:.6g}" if ok else "NA"
                                            for v, ok in zip(row, mask)))
        (folder / f"run_{i:0{width}d}.csv").write_text("\n".join(lines) + "\n")


def cli(args: list[str], out: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB of the CLI or any worker, exit code) of one CLI call."""
    start = time.perf_counter()
    with open(out or os.devnull, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "diagnose", *args], cwd=ROOT,
                                stdout=sink, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, proc.returncode


def first_output(folder: Path) -> float:
    """Seconds from starting ``diagnose DIR`` to the first byte it writes on stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "diagnose", str(folder)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdout.read(1)
    elapsed = time.perf_counter() - start
    proc.kill()
    proc.wait()
    return elapsed


def subset(folder: Path, count: int, into: Path) -> Path:
    """A folder of the first ``count`` logs (hard links: no copying)."""
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.iterdir())[:count]:
        target = into / path.name
        if not target.exists():
            os.link(path, target)
    return into


def dask_rate(folder: Path, workers: int = 2) -> tuple[float, float] | None:
    """(runs/s, cluster start seconds) of diagnose.dask.diagnose_bag on a LocalCluster."""
    try:
        from dask.distributed import Client, LocalCluster

        from diagnose import dask as kd_dask
    except ImportError as exc:
        print(f"dask: skipped ({exc}); pip install 'keras-diagnose[dask]'")
        return None
    import json
    import logging

    paths = sorted(str(p) for p in folder.iterdir())
    out = Path(tempfile.mkdtemp(prefix="kd-dask-"))
    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        startup = time.perf_counter() - start
        client.run(lambda: __import__("diagnose.api"))  # import once per worker, as a warm cluster has
        start = time.perf_counter()
        # As a sweep this size is run on a cluster: the workers write the reports (JSON
        # lines, one file per partition), rather than sending 100,000 of them to the client.
        kd_dask.diagnose_bag(paths).map(json.dumps).to_textfiles(str(out / "part-*.jsonl"))
        elapsed = time.perf_counter() - start
    lines = sum(1 for part in out.iterdir() for _ in part.open())
    shutil.rmtree(out, ignore_errors=True)
    assert lines == len(paths), (lines, len(paths))
    return len(paths) / elapsed, startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="where the logs are (made when missing)")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--only-dask", action="store_true",
                        help="only the Dask figure, against a --jobs 2 rate given with --jobs2-rate")
    parser.add_argument("--jobs2-rate", type=float, help="runs/s of --jobs 2, for --only-dask")
    args = parser.parse_args()

    temp = None
    folder = args.dir
    if folder is None:
        temp = Path(tempfile.mkdtemp(prefix="kd-sweep-"))
        folder = temp / "logs"
    try:
        have = len(list(folder.glob("*.csv"))) if folder.exists() else 0
        if have != args.logs:
            if folder.exists():
                shutil.rmtree(folder)
            start = time.perf_counter()
            generate(folder, args.logs)
            print(f"generated {args.logs:,} logs in {time.perf_counter() - start:.0f} s "
                  f"({sum(p.stat().st_size for p in folder.iterdir()) / 2**20:.0f} MB)")
        if args.only_dask:
            rate, startup = dask_rate(folder)
            ratio = f" ({rate / args.jobs2_rate:.0%} of --jobs 2)" if args.jobs2_rate else ""
            print(f"dask diagnose_bag, LocalCluster 2 processes: {rate:.0f} runs/s{ratio}; "
                  f"cluster start {startup:.1f} s, excluded")
            return
        small = subset(folder, max(args.logs // 10, 1), folder.parent / f"{folder.name}-tenth")
        json_out = folder.parent / "out.json"

        rows = []
        for jobs in (1, 2):
            wall, rss, code = cli([str(folder), "--format", "json", "-o", str(json_out),
                                   "--jobs", str(jobs)])
            rows.append((f"CLI --jobs {jobs}", args.logs / wall, wall, rss, code))
        wall, rss_small, code = cli([str(small), "--format", "json", "-o", str(json_out),
                                     "--jobs", "2"])
        rows.append((f"CLI --jobs 2, {args.logs // 10:,} logs", args.logs // 10 / wall, wall,
                     rss_small, code))
        print(f"\n{'':32} {'runs/s':>8} {'wall s':>8} {'peak RSS MB':>12} {'exit':>5}")
        for name, rate, wall, rss, code in rows:
            print(f"{name:32} {rate:8.0f} {wall:8.1f} {rss:12.0f} {code:5d}")
        first = min(first_output(folder) for _ in range(3))
        print(f"\ntime to first output on {args.logs:,} files: {first:.2f} s (best of 3)")
        two = rows[1][1]
        if not args.no_dask:
            measured = dask_rate(folder)
            if measured is not None:
                rate, startup = measured
                print(f"dask diagnose_bag, LocalCluster 2 processes: {rate:.0f} runs/s "
                      f"({rate / two:.0%} of --jobs 2; cluster start {startup:.1f} s, excluded)")
        print(f"\ntargets: >= 1,000 runs/s on 2 cores: {'MET' if two >= 1000 else 'MISSED'} "
              f"({two:.0f}); first output <= 2 s: {'MET' if first <= 2 else 'MISSED'} "
              f"({first:.2f} s); memory at 10x the runs: {rows[1][3] / rows[2][3]:.2f}x")
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
