"""Wall time of the same sweep with 1 worker process and with 2.

    python benchmarks/sweep_workers.py [--repeats 3] [--epochs 200]

The sweep: the two moons, 4 learning rates x 2 seeds = 8 independent runs, each worker process
limited to one BLAS thread (the default of ``nnlearn sweep``). The runs are timed interleaved
(1, 2, 1, 2, ...) so that a change in the machine's load hits both settings alike, and the
median of the per-pair ratios is reported. Ideal on 2 free cores: 2.0x. Worker start-up (a fresh
interpreter importing numpy, ~0.5 s) and the last run finishing alone keep it below that.
On a shared machine other processes compete for the cores, so the benchmark also measures what
the machine allows: the speed-up of a pure-Python busy loop on 2 processes over 1 (2.0 on two
idle cores, 1.0 when other work already fills one of them). The sweep's speed-up should be read
against that number; the cores the workers actually got (worker CPU seconds / wall seconds) are
printed per sweep.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnlearn.sweeps import sweep as sw

SWEEP = """
base: {base}
set: {{training.epochs: {epochs}}}
grid:
  training.learning_rate: [0.01, 0.03, 0.1, 0.3]
seeds: [0, 1]
metric: val_accuracy
"""


def _spin(n: int = 10_000_000) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - started


def machine_speedup() -> float:
    """Speed-up the machine gives right now to two CPU-bound processes over one."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # both workers up before timing
        alone = statistics.median(pool.apply(_spin) for _ in range(3))
        started = time.perf_counter()
        pool.map(_spin, [10_000_000] * 2, chunksize=1)
        pair = time.perf_counter() - started
    return 2 * alone / pair


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(path: Path, workers: int, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the worker processes) of one whole sweep."""
    sweep = sw.load_sweep(path)
    cpu, started = _children_cpu(), time.perf_counter()
    result = sw.run_sweep(sweep, out, workers=workers, blas_threads=1)
    elapsed = time.perf_counter() - started
    if result.failed or result.ran != len(sweep.runs):
        raise SystemExit(f"unexpected: {result.failed} failed, {result.ran} ran")
    return elapsed, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()
    print(f"cores available: {sw.default_workers()}, load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    before = machine_speedup()
    print(f"machine check: a busy loop runs {before:.2f}x faster on 2 processes than on 1")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(SWEEP.format(base=ROOT / "configs" / "moons.yaml", epochs=args.epochs))
        times: dict[int, list[float]] = {1: [], 2: []}
        for rep in range(args.repeats):
            for workers in (1, 2):
                t, cpu = timed(path, workers, Path(tmp) / f"out-{rep}-{workers}")
                times[workers].append(t)
                print(f"repeat {rep + 1}: {workers} worker{'s' if workers > 1 else ' '}  "
                      f"wall {t:7.2f} s   worker CPU {cpu:7.2f} s   "
                      f"cores used {cpu / t:4.2f}", flush=True)
    ratios = [a / b for a, b in zip(times[1], times[2])]
    after = machine_speedup()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; machine "
          f"check after: {after:.2f}x")
    print(f"median wall time: 1 worker {statistics.median(times[1]):.2f} s, "
          f"2 workers {statistics.median(times[2]):.2f} s")
    print(f"speed-up 1 -> 2 workers (median of per-pair ratios): "
          f"{statistics.median(ratios):.2f}x  (pairs: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":  # required: worker processes are spawned and re-import this file
    main()
