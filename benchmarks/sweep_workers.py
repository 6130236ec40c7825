"""Wall time of the same sweep with 1 worker process and with 2.

    python benchmarks/sweep_workers.py [--repeats 3] [--epochs 200]

The sweep: the two moons, 4 learning rates x 2 seeds = 8 independent runs, each worker process
limited to one BLAS thread (the default of ``nnlearn sweep``). The runs are timed interleaved
(1, 2, 1, 2, ...) so that a change in the machine's load hits both settings alike, and the
median of the per-pair ratios is reported. Ideal on 2 free cores: 2.0x. Worker start-up (a fresh
interpreter importing numpy, ~0.5 s) and the last run finishing alone keep it below that.
The machine's load average and the cores the workers actually got (worker CPU seconds / wall
seconds) are printed too: other processes competing for the cores lower the ratio, and on a busy
machine the number means little.
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

from nnlearn import sweep as sw

SWEEP = """
base: {base}
set: {{training.epochs: {epochs}}}
grid:
  training.learning_rate: [0.01, 0.03, 0.1, 0.3]
seeds: [0, 1]
metric: val_accuracy
"""


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
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"median wall time: 1 worker {statistics.median(times[1]):.2f} s, "
          f"2 workers {statistics.median(times[2]):.2f} s")
    print(f"speed-up 1 -> 2 workers (median of per-pair ratios): "
          f"{statistics.median(ratios):.2f}x  (pairs: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":  # required: worker processes are spawned and re-import this file
    main()
