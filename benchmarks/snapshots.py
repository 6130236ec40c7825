"""What weight snapshots cost a training run, and how long and how big ``nnlearn report`` is.

    python benchmarks/snapshots.py [--rounds 5]

1. Training overhead: the whole ``runs.train`` (read the data, train, write the run folder) of
   configs/spirals.yaml and configs/digits.yaml as bundled, without snapshots and with
   ``training.snapshots: 20``, interleaved (off, on, on, off, ...) so that a change in the
   machine's load hits both alike. Reported: the median over rounds of the per-pair ratio
   on / off, in CPU seconds of this process (one BLAS thread, so CPU time is the work done and
   other processes on a shared machine do not count) and in wall seconds. Goal: <= 1.05.
2. The report: ``nnlearn report`` of each run with 20 snapshots, as a fresh command (interpreter
   start-up included) and as the library call alone, in wall and CPU seconds (on a busy shared
   machine the CPU seconds are what an idle one would take); and the page's size.
   Goals: spirals <= 3 s and <= 2 MB; digits <= 1 MB.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread, before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnlearn.plots.report import build_report
from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config

CONFIGS = ("spirals", "digits")


def _train(name: str, snapshots: int, out: Path) -> tuple[float, float]:
    cfg = load_config(ROOT / "configs" / f"{name}.yaml", [f"training.snapshots={snapshots}"])
    c0, w0 = time.process_time(), time.perf_counter()
    runs.train(cfg, out=out)
    return time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, load average at start "
          f"{os.getloadavg()[0]:.2f}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        keep: dict[str, Path] = {}
        for name in CONFIGS:
            _train(name, 0, tmp_path / f"warm-{name}")  # untimed: imports, caches
            cpu_ratio, wall_ratio, cpu_off = [], [], []
            for r in range(args.rounds):
                order = (0, 20) if r % 2 == 0 else (20, 0)
                t = {}
                for snaps in order:
                    out = tmp_path / f"{name}-{snaps}-{r}"
                    t[snaps] = _train(name, snaps, out)
                    if snaps:
                        keep[name] = out
                cpu_ratio.append(t[20][0] / t[0][0])
                wall_ratio.append(t[20][1] / t[0][1])
                cpu_off.append(t[0][0])
            print(f"train {name:8s} {args.rounds} rounds: without snapshots "
                  f"{statistics.median(cpu_off):.2f} s CPU; with 20 / without: "
                  f"CPU x{statistics.median(cpu_ratio):.3f} "
                  f"(range {min(cpu_ratio):.3f}-{max(cpu_ratio):.3f}), "
                  f"wall x{statistics.median(wall_ratio):.3f}")
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH",
                                                                                 ""))
        for name in CONFIGS:
            run = keep[name]
            lib, lib_cpu, cmd, cmd_cpu = [], [], [], []
            for _ in range(3):
                w0, c0 = time.perf_counter(), time.process_time()
                path = build_report([run])
                lib.append(time.perf_counter() - w0)
                lib_cpu.append(time.process_time() - c0)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                w0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "nnlearn", "report", str(run)], check=True,
                               env=env, capture_output=True)
                cmd.append(time.perf_counter() - w0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cmd_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime
                               - before.ru_stime)
            size = path.stat().st_size
            print(f"report {name:8s} median of 3: command {statistics.median(cmd):.2f} s wall, "
                  f"{statistics.median(cmd_cpu):.2f} s CPU; library call "
                  f"{statistics.median(lib):.2f} s wall, {statistics.median(lib_cpu):.2f} s CPU; "
                  f"page {size / 1024:.0f} KiB ({size / 1024 / 1024:.2f} MiB)")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
