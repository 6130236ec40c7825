"""A/B timing of nnlearn versions: how much did one change to the training loop buy?

    python benchmarks/ablate.py HEAD~1 HEAD              # two commits, large regime, float32
    python benchmarks/ablate.py HEAD . --case small1     # HEAD against the working tree
    python benchmarks/ablate.py main . --case all --rounds 9
    python benchmarks/ablate.py HEAD~3 HEAD --case small1 --callgrind 2   # count instructions
    python benchmarks/ablate.py . .+input-grad      # undo one shortcut at run time (PATCHES)

Each version (a git ref, exported with ``git archive`` into a temporary folder, or ``.`` for the
files as they are now) gets one long-lived worker process that builds its network and data once.
The coordinator then asks each worker in turn, rotating the order every round, to train one
block of epochs and report its time: the versions are timed interleaved, under the same machine
load, with numpy's import and the data set-up left out. Per epoch: the median and minimum wall
time and the median CPU time of the process, each also as a ratio to the first version. On a
machine shared with other work, ``--threads 1`` and the CPU time give the steadiest comparison.

Cases: ``large`` / ``large64`` (synthetic 60,000 x 784, 784-256-128-10, batch 128, float32 /
float64), ``small16`` and ``small1`` (digits 64-32-10, batch 16 / 1, float32).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CASES = {
    # name: (data, dtype, hidden layers, batch, learning rate, epochs per block)
    "large": ("synthetic", "float32", [256, 128], 128, 0.01, 1),
    "large64": ("synthetic", "float64", [256, 128], 128, 0.01, 1),
    "small16": ("digits", "float32", [32], 16, 0.05, 5),
    "small1": ("digits", "float32", [32], 1, 0.01, 1),
}


def _patch_input_grad() -> None:
    """Undo one shortcut: backprop computes dL/dx of the data too, as if someone used it."""
    from nnlearn.nn.network import Sequential

    backward = Sequential.backward
    Sequential.backward = lambda self, g, need_input_grad=True: backward(self, g)


def _patch_separate_loss() -> None:
    """Undo one shortcut: loss value and gradient each compute their own softmax."""
    import numpy as np

    from nnlearn.nn.losses import Loss, SoftmaxCrossEntropy, softmax

    def value(self, pred, target, weights=None):
        m = pred.max(axis=1, keepdims=True)
        losses = m[:, 0] + np.log(np.exp(pred - m).sum(axis=1)) - pred[np.arange(len(pred)),
                                                                         target]
        return float(np.mean(losses))

    def gradient(self, pred, target, weights=None):
        grad = softmax(pred)
        grad[np.arange(len(pred)), target] -= 1
        grad *= 1 / len(pred)
        return grad

    SoftmaxCrossEntropy.value, SoftmaxCrossEntropy.gradient = value, gradient
    SoftmaxCrossEntropy.value_and_gradient = Loss.value_and_gradient


def _patch_bias_in_place() -> None:
    """Try one shortcut: Dense.forward adds the bias in place (``y = x·W; y += b``)."""
    import numpy as np

    from nnlearn.nn.layers import Dense

    def forward(self, x):
        self._x = x
        y = np.dot(x, self.W.value)
        y += self.b.value
        return y

    Dense.forward = forward


PATCHES = {"input-grad": _patch_input_grad, "separate-loss": _patch_separate_loss,
           "bias-in-place": _patch_bias_in_place}


def worker(src: str, case: str, n: int, threads: int | None) -> None:
    """Build one version's trainer, then time a block of epochs per line read from stdin."""
    src, _, patch = src.partition("+")
    sys.path.insert(0, src)
    import nnlearn
    from nnlearn.runs.threads import set_blas_threads

    set_blas_threads(threads)  # before numpy loads BLAS

    assert Path(nnlearn.__file__).resolve().is_relative_to(Path(src).resolve()), nnlearn.__file__
    sys.path.insert(1, str(HERE))
    import numpy as np
    from compare import load_digits, nnlearn_runner, synthetic

    if patch:
        PATCHES[patch]()

    data, dtype, layers, batch, lr, epochs = CASES[case]
    if data == "synthetic":
        x, y = synthetic(n, 784, 10, np.dtype(dtype))
    else:
        x, y = load_digits(np.dtype(dtype))
    run = nnlearn_runner(x, y, layers, 10, batch=batch, lr=lr, epochs=epochs)
    run()  # warm-up
    print("ready", flush=True)
    for _ in sys.stdin:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps([wall / epochs, cpu / epochs]), flush=True)


def count_instructions(src: str, case: str, n: int, epochs: int) -> float:
    """Instructions per epoch, counted by valgrind's callgrind: (run with ``epochs`` timed blocks
    - run with none) / epochs. Deterministic whatever else the machine does, but blind to cache
    misses: a fair measure of per-step overhead (the small cases), not of memory-bound work."""
    counts = []
    for blocks in (0, epochs):
        proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                               sys.executable, __file__, "--n", str(n), "--threads", "1",
                               "--worker", src, case, "."], input="go\n" * blocks,
                              capture_output=True, text=True, cwd=ROOT, check=True)
        counts.append(int(proc.stderr.rsplit("Collected :", 1)[1].split()[0]))
    per_block_epochs = CASES[case][5]
    return (counts[1] - counts[0]) / (epochs * per_block_epochs)


def export(ref: str, into: Path) -> str:
    """``.`` is this working tree; anything else is a git ref exported to a temporary folder.
    ``REF+PATCH`` is REF with one shortcut undone at run time (see PATCHES)."""
    ref, plus, patch = ref.partition("+")
    if plus and patch not in PATCHES:
        raise SystemExit(f"unknown patch {patch!r}; choose from {', '.join(PATCHES)}")
    if ref == ".":
        return str(ROOT) + plus + patch
    dest = into / (ref.replace("/", "_").replace("~", "-").replace("^", "-") + "-" + patch)
    if dest.exists():
        return str(dest) + plus + patch
    dest.mkdir()
    archive = subprocess.run(["git", "archive", ref, "nnlearn"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return str(dest) + plus + patch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("refs", nargs="+", help="git refs to compare, or . for the working tree")
    p.add_argument("--case", default="large", choices=[*CASES, "all"])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--n", type=int, default=60_000, help="samples in the synthetic cases")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads; with 1, CPU time is a steadier measure on a busy machine")
    p.add_argument("--callgrind", type=int, metavar="BLOCKS", default=0,
                   help="instead of timing, count instructions per epoch over BLOCKS blocks "
                        "with valgrind (steady on a busy machine; ignores memory stalls)")
    p.add_argument("--worker", nargs=2, metavar=("SRC", "CASE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.n, args.threads)
        return
    cases = list(CASES) if args.case == "all" else [args.case]
    tmp = Path(tempfile.mkdtemp(prefix="nnlearn-ablate-"))
    try:
        srcs = {ref: export(ref, tmp) for ref in args.refs}
        for case in cases:
            if args.callgrind:
                print(f"== {case}: {CASES[case]}, instructions per epoch (callgrind)")
                first = None
                for ref, src in srcs.items():
                    count = count_instructions(src, case, args.n, args.callgrind)
                    first = first or count
                    print(f"  {ref:<24} {count / 1e6:10.1f} M   x{count / first:.3f}")
            else:
                run_case(case, srcs, args.rounds, args.n, args.threads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_case(case: str, srcs: dict[str, str], rounds: int, n: int, threads: int | None) -> None:
    procs = {}
    for ref, src in srcs.items():
        procs[ref] = subprocess.Popen(
            [sys.executable, __file__, "--n", str(n), *(["--threads", str(threads)] if threads
             else []), "--worker", src, case, "."],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        # one at a time, so that set-up does not overlap another worker's timing
        line = procs[ref].stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"worker for {ref} failed to start ({line!r})")
    times: dict[str, list[list[float]]] = {ref: [] for ref in srcs}
    refs = list(srcs)
    for r in range(rounds):
        shift = r % len(refs)
        for ref in refs[shift:] + refs[:shift]:
            procs[ref].stdin.write("go\n")
            procs[ref].stdin.flush()
            times[ref].append(json.loads(procs[ref].stdout.readline()))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    print(f"== {case}: {CASES[case]}, {rounds} rounds, threads={threads or 'default'}")
    print(f"  {'version':<24} {'wall median':>12} {'wall min':>9} {'CPU median':>11}   ratios")
    first = None
    for ref in refs:
        wall = [t[0] for t in times[ref]]
        cpu = [t[1] for t in times[ref]]
        stats = (statistics.median(wall), min(wall), statistics.median(cpu))
        first = first or stats
        print(f"  {ref:<24} {stats[0] * 1e3:9.2f} ms {stats[1] * 1e3:9.2f} {stats[2] * 1e3:8.2f} ms"
              f"   x{stats[0] / first[0]:.3f} / x{stats[1] / first[1]:.3f} / "
              f"x{stats[2] / first[2]:.3f}")


if __name__ == "__main__":
    main()
