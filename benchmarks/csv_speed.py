"""How fast and how lean is nnlearn's CSV reader? Its two parsers against pandas and np.loadtxt.

Writes two files into a temporary folder (never into the repository):

* ``wide``: 1,000,000 rows x 21 columns, 20 '%.6f' features (scaled per column) + a 3-class
  integer label ``y``;
* ``mnist``: 60,000 rows x 785 columns shaped like MNIST's CSV: a label, then 784 pixels that
  are 0 four times in five and an integer 1..255 otherwise.

Then loads each file with every reader in a FRESH subprocess -- interleaved, several rounds, so
that a busy machine slows all readers alike -- and reports the median wall time of the load
call (imports excluded) and its peak memory: the growth of the process's peak resident size
(``VmHWM``) during the load, next to the size of the arrays it returns.

Readers: ``default`` is ``read_csv`` without extras (np.loadtxt inside), ``fast`` is
``read_csv`` with pyarrow (``pyarrow.csv.read_csv`` on Arrow's threads, as many as it sees
cores), ``fast-1t`` the same with Arrow's thread pools set to one thread, ``pandas`` is
``pd.read_csv(engine="c")`` (one thread) and ``loadtxt`` is ``np.loadtxt`` of every column.
Two more rows are not targets but explain them: ``pandas-arrays`` is pandas giving what
``read_csv`` gives (the features as one row-major float64 matrix, and the target), and
``arrow-parse`` is Arrow's own ``read_csv`` of the whole file into a table, column types given,
on its threads, with no nnlearn code around it: the least time the ``fast`` path could take.

    python benchmarks/csv_speed.py                     # both files, 3 rounds
    python benchmarks/csv_speed.py --shape mnist --rounds 5
    python benchmarks/csv_speed.py --rows 200000 --check

Targets (``--check`` exits 1 when one is missed): fast <= 1.0x pandas' time; default <= 1.5x
np.loadtxt's; the peak memory of default and fast <= 2x the arrays they return. pandas and
pyarrow are optional (``pip install 'nnlearn[bench,fast]'``); without them their rows are
skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each reader runs in its own interpreter: imports first, then time the call alone and read
# how much the peak resident size grew.
RUNNER = r"""
import json, resource, sys, time
import numpy as np
which, path, target = sys.argv[1:4]
if which in ("default", "fast", "fast-1t"):
    import nnlearn.data.reader as reader
    from nnlearn.data import read_csv
    if which == "default":
        reader._has_arrow = lambda: False
    else:
        import pyarrow, pyarrow.csv
        if which == "fast-1t":
            pyarrow.set_cpu_count(1)
            pyarrow.set_io_thread_count(1)
    load = lambda: read_csv(path, target=target)
    size = lambda t: t.X.nbytes + t.y.nbytes
elif which == "pandas":
    import pandas as pd
    load = lambda: pd.read_csv(path, engine="c")
    size = lambda df: int(df.memory_usage(index=False).sum())
elif which == "pandas-arrays":
    import pandas as pd
    def load():
        df = pd.read_csv(path, engine="c")
        x = np.ascontiguousarray(df.drop(columns=[target]).to_numpy(dtype=np.float64))
        return x, df[target].to_numpy()
    size = lambda xy: xy[0].nbytes + xy[1].nbytes
elif which == "arrow-parse":
    import pyarrow as pa, pyarrow.csv as pacsv
    with open(path) as fh:
        names = fh.readline().strip().split(",")
    convert = pacsv.ConvertOptions(column_types={n: pa.float64() for n in names})
    load = lambda: pacsv.read_csv(path, convert_options=convert,
                                  memory_pool=pa.system_memory_pool())
    size = lambda table: table.nbytes
else:
    load = lambda: np.loadtxt(path, delimiter=",", skiprows=1)
    size = lambda a: a.nbytes
def peak_kib():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forked parent across exec
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
before = peak_kib()
t0 = time.perf_counter()
result = load()
seconds = time.perf_counter() - t0
peak = peak_kib()
print(json.dumps({"seconds": seconds, "extra_mb": (peak - before) / 1024,
                  "result_mb": size(result) / 2**20}))
"""

SHAPES = {"wide": ("y", 1_000_000), "mnist": ("label", 60_000)}


def write_wide(path: str, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.integers(-2, 3, 20)
    with open(path, "w", newline="\n") as fh:
        fh.write(",".join([f"f{i}" for i in range(20)] + ["y"]) + "\n")
        for start in range(0, rows, 50_000):
            n = min(50_000, rows - start)
            block = np.column_stack([rng.standard_normal((n, 20)) * scales,
                                     rng.integers(0, 3, n)])
            np.savetxt(fh, block, delimiter=",", fmt=["%.6f"] * 20 + ["%d"])


def write_mnist(path: str, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="\n") as fh:
        fh.write(",".join(["label"] + [f"pixel{i}" for i in range(784)]) + "\n")
        for start in range(0, rows, 5_000):
            n = min(5_000, rows - start)
            pixels = rng.integers(1, 256, (n, 784)) * (rng.random((n, 784)) < 0.2)
            np.savetxt(fh, np.column_stack([rng.integers(0, 10, n), pixels]), delimiter=",",
                       fmt="%d")


def run(which: str, path: str, target: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", RUNNER, which, path, target],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def bench(path: str, target: str, readers: list[str], rounds: int) -> dict[str, tuple]:
    results: dict[str, list[dict]] = {r: [] for r in readers}
    for i in range(rounds):
        for which in readers:  # interleaved, so drifting machine load hits all alike
            results[which].append(run(which, path, target))
        print(f"  round {i + 1}: "
              + "  ".join(f"{w} {results[w][-1]['seconds']:.2f}s" for w in readers), flush=True)
    return {w: (statistics.median(r["seconds"] for r in rs),
                statistics.median(r["extra_mb"] for r in rs), rs[0]["result_mb"])
            for w, rs in results.items()}


def report(med: dict[str, tuple]) -> bool:
    print(f"  {'reader':13s} {'median s':>9s} {'peak +MiB':>10s} {'result MiB':>11s} "
          f"{'peak/result':>12s}")
    for w, (sec, extra, result) in med.items():
        print(f"  {w:13s} {sec:9.2f} {extra:10.0f} {result:11.0f} {extra / result:12.2f}")
    ok = True
    checks = []
    if "fast" in med and "pandas" in med:
        checks.append(("fast / pandas time", med["fast"][0] / med["pandas"][0], 1.0))
        context = [("arrow-parse", "pandas"), ("fast", "pandas-arrays")]  # not targets
        for a, b in context:
            print(f"  {a} / {b} time: x{med[a][0] / med[b][0]:.2f}")
    if "loadtxt" in med:
        checks.append(("default / loadtxt time", med["default"][0] / med["loadtxt"][0], 1.5))
    for w in ("default", "fast"):
        if w in med:
            checks.append((f"{w} peak / result", med[w][1] / med[w][2], 2.0))
    for name, ratio, target in checks:
        met = ratio <= target
        ok &= met
        print(f"  {name:24s} x{ratio:.2f}  (target <= {target:g}: {'met' if met else 'MISSED'})")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shape", choices=[*SHAPES, "both"], default="both")
    ap.add_argument("--rows", type=int, help="rows (default: 1,000,000 wide, 60,000 mnist)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args(argv)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; load average {_load()}; cpus {os.cpu_count()}")
    readers = ["default"]
    if available("pyarrow.csv"):
        readers += ["fast", "fast-1t"]
    else:
        print("pyarrow not installed: no fast rows")
    if available("pandas"):
        readers += ["pandas", "pandas-arrays"]
    if available("pyarrow.csv"):
        readers.append("arrow-parse")
    readers.append("loadtxt")
    ok = True
    shapes = list(SHAPES) if args.shape == "both" else [args.shape]
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            target, rows = SHAPES[shape]
            rows = args.rows or rows
            path = os.path.join(tmp, f"{shape}.csv")
            (write_wide if shape == "wide" else write_mnist)(path, rows)
            cols = 21 if shape == "wide" else 785
            print(f"\n{shape}: {rows:,} rows x {cols} columns, "
                  f"{os.path.getsize(path) / 2**20:.0f} MiB")
            ok &= report(bench(path, target, readers, args.rounds))
            os.remove(path)
    print(f"\nload average {_load()} at the end")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
