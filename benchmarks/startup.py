"""How long does ``nnlearn --help`` take, next to importing what nnlearn depends on?

    python benchmarks/startup.py             # 21 interleaved rounds
    python benchmarks/startup.py --rounds 51

Times, as wall clock of whole fresh processes, interleaved round by round:

* ``python -c pass``                               the interpreter alone (for reference)
* ``python -m nnlearn --help``                     and ``python -m nnlearn train --help``
* ``python -c "import numpy, click, yaml, tqdm"``  the runtime dependencies, imported eagerly

The target (issue "Fast where it counts") is ``--help`` <= 0.75 x the dependency import: the
commands import numpy (and yaml, tqdm) only when they need them. The script also lists which of
those heavy modules ``--help`` imported (``python -X importtime``): it should be none.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.75
HEAVY = ("numpy", "yaml", "tqdm")

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "nnlearn --help": [sys.executable, "-m", "nnlearn", "--help"],
    "nnlearn train --help": [sys.executable, "-m", "nnlearn", "train", "--help"],
    "import numpy, click, yaml, tqdm": [sys.executable, "-c", "import numpy, click, yaml, tqdm"],
}


def run_once(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    """Top-level packages among HEAVY that ``python -X importtime -m nnlearn ARGS`` imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "nnlearn", *args], cwd=ROOT,
                          env=env, check=True, capture_output=True, text=True)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0]
             for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return sorted(names & set(HEAVY))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=21)
    args = p.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout's nnlearn
    for cmd in COMMANDS.values():  # warm the file cache
        run_once(cmd, env)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    names = list(COMMANDS)
    for r in range(args.rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(run_once(COMMANDS[name], env))
    med = {name: statistics.median(t) for name, t in times.items()}
    deps = med["import numpy, click, yaml, tqdm"]
    print(f"{args.rounds} interleaved rounds, median wall time of a fresh process:")
    for name, t in med.items():
        print(f"  {name:<34} {t * 1e3:7.1f} ms   x{t / deps:.2f} of the dependency import")
    for cmd_args in (["--help"], ["train", "--help"]):
        heavy = heavy_imports(cmd_args, env)
        print(f"  nnlearn {' '.join(cmd_args)} imports: {', '.join(heavy) or 'none of'} "
              f"{'' if heavy else ', '.join(HEAVY)}".rstrip())
    ratio = med["nnlearn --help"] / deps
    print(f"target nnlearn --help <= {TARGET} x import of the dependencies: {ratio:.2f}  "
          f"{'met' if ratio <= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
