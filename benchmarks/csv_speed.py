"""How fast and how lean is nnlearn's CSV reader? Compared with pandas (C engine) and np.loadtxt.

Writes a CSV of N rows x 21 numeric columns (20 features + an integer class label ``y``) into a
temporary folder, then loads it with each reader in a FRESH subprocess -- interleaved, several
rounds -- and reports the median wall time of the load call (imports excluded) and the median
peak resident memory of the process (``ru_maxrss``, imports included; the interpreter with
numpy alone is reported as the baseline). Subprocesses keep the readers from sharing a heap.

    python benchmarks/csv_speed.py                  # 1,000,000 rows, '%.6f' cells, 5 rounds
    python benchmarks/csv_speed.py --format repr    # shortest round-trip floats (pandas.to_csv)
    python benchmarks/csv_speed.py --format sci     # '%.18e', np.savetxt's default
    python benchmarks/csv_speed.py --rows 200000 --rounds 3 --check
    python benchmarks/csv_speed.py --csv my.csv     # an existing file (its target column: y)
    python benchmarks/csv_speed.py --threads 1      # read_csv on one thread (default: all CPUs)

``--check`` exits with status 1 unless read_csv takes <= 2x pandas' time and peaks below
pandas' memory. pandas is optional (``pip install pandas``); without it only np.loadtxt is
compared.
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

# Each reader runs in its own interpreter: time the call alone, then read the peak RSS.
RUNNER = r"""
import json, resource, sys, time
import numpy as np
which, path, threads = sys.argv[1], sys.argv[2], sys.argv[3]
if which == "nnlearn":
    from nnlearn.data import read_csv
    threads = None if threads == "auto" else int(threads)
    load = lambda: read_csv(path, target="y", threads=threads)
elif which == "pandas":
    import pandas as pd
    load = lambda: pd.read_csv(path, engine="c")
elif which == "loadtxt":
    load = lambda: np.loadtxt(path, delimiter=",", skiprows=1)
else:
    load = lambda: None
t0 = time.perf_counter()
result = load()
seconds = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))
"""

FORMATS = {"fixed": "%.6f", "repr": None, "sci": "%.18e"}


def write_csv(path: str, rows: int, fmt: str, seed: int = 0) -> None:
    """N x 20 standard-normal features (scaled per column) + a 3-class integer label."""
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.integers(-2, 3, 20)
    with open(path, "w", newline="\n") as fh:
        fh.write(",".join([f"f{i}" for i in range(20)] + ["y"]) + "\n")
        for start in range(0, rows, 50_000):
            n = min(50_000, rows - start)
            X = rng.standard_normal((n, 20)) * scales
            y = rng.integers(0, 3, n)
            if FORMATS[fmt] is None:
                lines = (
                    ",".join(map(repr, row)) + f",{label}\n"
                    for row, label in zip(X.tolist(), y.tolist())
                )
                fh.writelines(lines)
            else:
                block = np.column_stack([X, y])
                np.savetxt(fh, block, delimiter=",", fmt=[FORMATS[fmt]] * 20 + ["%d"])


def run(which: str, path: str, threads: int | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, which, path, "auto" if threads is None else str(threads)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu_times() -> list[int] | None:
    """The machine's CPU time counters (Linux /proc/stat), to tell how much a virtual machine's
    host took away ("steal") while the benchmark ran."""
    try:
        with open("/proc/stat") as fh:
            return [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def _steal(before: list[int] | None) -> str:
    after = _cpu_times()
    if before is None or after is None or len(after) < 8:
        return "unknown"
    delta = [b - a for a, b in zip(before, after)]
    return f"{100 * delta[7] / max(1, sum(delta[:8])):.0f}%"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def have_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--format", choices=sorted(FORMATS), default="fixed")
    ap.add_argument("--csv", help="time this existing file instead (target column 'y')")
    ap.add_argument("--no-loadtxt", action="store_true", help="skip np.loadtxt (the slowest)")
    ap.add_argument("--check", action="store_true", help="exit 1 if the targets are missed")
    ap.add_argument("--threads", type=int, help="read_csv(threads=...) (default: all CPUs)")
    args = ap.parse_args(argv)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; load average {_load()} at the start")
    cpu_start = _cpu_times()

    readers = ["nnlearn"]
    if have_pandas():
        readers.append("pandas")
    else:
        print("pandas not installed: comparing with np.loadtxt only")
    if not args.no_loadtxt:
        readers.append("loadtxt")

    with tempfile.TemporaryDirectory() as tmp:
        if args.csv:
            path = args.csv
            print(
                f"timing {path} ({os.path.getsize(path) / 2**20:.0f} MiB); cpus: {os.cpu_count()}"
            )
        else:
            path = os.path.join(tmp, "bench.csv")
            t0 = time.perf_counter()
            write_csv(path, args.rows, args.format)
            print(
                f"wrote {args.rows:,} rows x 21 columns ({args.format}), "
                f"{os.path.getsize(path) / 2**20:.0f} MiB in {time.perf_counter() - t0:.1f} s; "
                f"cpus: {os.cpu_count()}"
            )
        baseline = run("baseline", path)["peak_mb"]
        results: dict[str, list[dict]] = {r: [] for r in readers}
        for i in range(args.rounds):
            for which in readers:  # interleaved, so drifting machine load hits all alike
                results[which].append(run(which, path, args.threads))
            print(
                f"round {i + 1}: "
                + "  ".join(f"{w} {results[w][-1]['seconds']:.2f}s" for w in readers)
            )

    med = {
        w: (
            statistics.median(r["seconds"] for r in rs),
            statistics.median(r["peak_mb"] for r in rs),
        )
        for w, rs in results.items()
    }
    print(f"\nload average {_load()} at the end; CPU time stolen by the host: {_steal(cpu_start)}")
    print(f"python + numpy alone: peak {baseline:.0f} MiB")
    print(f"{'reader':10s} {'median s':>9s} {'peak MiB':>9s}")
    for w, (sec, mb) in med.items():
        print(f"{w:10s} {sec:9.2f} {mb:9.0f}")
    ok = True
    t_nn, m_nn = med["nnlearn"]
    if "pandas" in med:
        t_pd, m_pd = med["pandas"]
        print(
            f"\nread_csv / pandas:  time x{t_nn / t_pd:.2f} (target <= 2)   "
            f"peak memory x{m_nn / m_pd:.2f} (target < 1)"
        )
        ok = t_nn <= 2 * t_pd and m_nn < m_pd
    if "loadtxt" in med:
        t_lt, m_lt = med["loadtxt"]
        print(f"read_csv / loadtxt: time x{t_nn / t_lt:.2f}   peak memory x{m_nn / m_lt:.2f}")
    if args.check and not ok:
        print("FAILED: read_csv missed its speed or memory target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
