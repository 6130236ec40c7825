"""Time nnlearn's training loop against scikit-learn and PyTorch on the same MLP, side by side.

    python benchmarks/compare.py                 # every regime (about two minutes on 2 cores)
    python benchmarks/compare.py --quick         # a smaller, faster subset
    python benchmarks/compare.py --regime small  # one regime: large, small, command or roofline
    python benchmarks/compare.py --threads 1     # BLAS and torch limited to one thread

Needs the ``bench`` extra (scikit-learn, pandas, torch CPU); a missing one is skipped, not faked.

What is timed, for every implementation the same way:

* nnlearn: the library's own ``Trainer.fit`` (so ``train_step``, the per-epoch shuffle and the
  divergence checks), not a copy of it.
* numpy-ref: a minimal hand-written numpy loop, every buffer preallocated and written with
  ``out=``; no library, no checks. It shows what "doing the least" costs with numpy here.
* scikit-learn: ``MLPClassifier(solver="sgd")`` with the same layers, batch, learning rate,
  momentum 0, no L2 (alpha=0), no early stopping, tol=0 so it runs every epoch; ``warm_start``
  continues from block to block.
* torch: CPU eager, ``nn.Sequential`` + ``CrossEntropyLoss`` + ``optim.SGD``, one permutation per
  epoch, as many threads as BLAS.

Timings are *interleaved*: every round times one block of epochs of each implementation, in a
rotating order, so that a change in machine load hits every implementation alike. We report the
median seconds per epoch over the rounds, after one untimed warm-up block each.

GEMM roofline: the measured GFLOP/s of a large matrix product gives a lower bound on an epoch,
6 x parameters x samples FLOPs (forward 2, backward 4 per weight and sample); each epoch time is
shown as a multiple of that limit. The product is timed in every round between the epochs, so
that it sees the same machine load (the ``roofline`` regime alone times it on its own).

OpenBLAS: on some machines OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set to work around old
OpenBLAS bugs; they slow a current numpy. To benchmark, unset both for this command alone:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's nnlearn, not an installed one

# Target ratios the project holds itself to: (regime, dtype or batch, baseline) -> maximum nnlearn/baseline.
TARGETS = {
    ("large", "float32", "sklearn"): 0.65,
    ("large", "float32", "torch"): 0.85,
    ("small", "batch16", "sklearn"): 0.3,
    ("small", "batch1", "sklearn"): 0.35,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regime", action="append",
                   choices=["large", "small", "command", "roofline"],
                   help="run only this regime (repeatable); default: all")
    p.add_argument("--quick", action="store_true",
                   help="fewer rounds, 15,000 large-regime samples, float32 only")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds per regime (default 7)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS and torch threads (default: leave BLAS alone)")
    p.add_argument("--only", action="append",
                   choices=["nnlearn", "numpy-ref", "sklearn", "torch"],
                   help="time only these implementations (repeatable)")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads:
    # BLAS reads its thread count when numpy loads it: set it first.
    from nnlearn.runs.threads import set_blas_threads

    set_blas_threads(ARGS.threads)

import itertools

import numpy as np

from nnlearn.nn.losses import SoftmaxCrossEntropy
from nnlearn.nn.network import build_mlp
from nnlearn.nn.optimizers import SGD
from nnlearn.nn.training import Split, Trainer

# --------------------------------------------------------------------------------------------
# machine description


def machine_info() -> dict[str, object]:
    info: dict[str, object] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                            "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
                if k in os.environ},
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "architecture",
                                               "num_threads")} for d in threadpool_info()]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    for name in ("sklearn", "torch", "pandas"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --------------------------------------------------------------------------------------------
# interleaved timing


def interleave(runners: dict[str, Callable[[], None]], rounds: int) -> dict[str, list[float]]:
    """Call every runner once untimed, then ``rounds`` times each, rotating the order per round.

    Returns the wall-clock seconds of every timed call, per runner.
    """
    names = list(runners)
    for name in names:
        runners[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - started)
    return times


# --------------------------------------------------------------------------------------------
# the four implementations of one training epoch (or a block of epochs)


def nnlearn_runner(x, y, layers, n_classes, *, batch, lr, epochs, seed=0):
    """The library's own loop: build_mlp + SoftmaxCrossEntropy + SGD + Trainer.fit."""
    rng = np.random.default_rng(seed)
    net = build_mlp(x.shape[1], [{"units": u, "activation": "relu"} for u in layers], n_classes,
                    rng=rng, dtype=x.dtype)
    trainer = Trainer(net, SoftmaxCrossEntropy(), SGD(net.parameters(), lr=lr), rng=rng,
                      batch_size=batch)
    split = Split(x, y)

    def run() -> None:
        trainer.stop_reason = None  # fit() stops for good once it has finished; go on
        trainer.fit(split, None, trainer.epoch + epochs)
    run.trainer = trainer  # type: ignore[attr-defined]
    return run


def numpy_ref_runner(x, y, layers, n_classes, *, batch, lr, epochs, seed=0):
    """A minimal numpy MLP loop (not the library): what a hand-tuned script would run.

    Every array is allocated once and written with ``out=``; each batch is gathered into one
    buffer; no checks, no callbacks, no per-step Python beyond the numpy calls themselves.
    It is the yardstick for "doing the least" with numpy on this machine. The last partial
    batch is skipped (the others train on it), which only flatters this loop.
    """
    rng = np.random.default_rng(seed)
    dt = x.dtype
    sizes = [x.shape[1], *layers, n_classes]
    Ws = [(rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(dt)
          for a, b in itertools.pairwise(sizes)]
    bs = [np.zeros(b, dtype=dt) for b in sizes[1:]]
    gWs = [np.empty_like(W) for W in Ws]
    gbs = [np.empty_like(b) for b in bs]
    steps = [np.empty_like(W) for W in Ws]
    acts = [np.empty((batch, s), dt) for s in sizes]      # acts[0] is the gathered batch
    grads = [np.empty((batch, s), dt) for s in sizes[1:]]
    masks = [np.empty((batch, s), bool) for s in sizes[1:]]
    col = np.empty((batch, 1), dt)
    rows = np.arange(batch)
    n, last = len(x), len(Ws) - 1
    lr = float(lr)

    def run() -> None:
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n - batch + 1, batch):
                idx = order[start:start + batch]
                x.take(idx, 0, acts[0], "clip")
                yb = y[idx]
                for i, (W, b) in enumerate(zip(Ws, bs)):
                    h = acts[i + 1]
                    np.matmul(acts[i], W, out=h)
                    h += b
                    if i < last:
                        np.greater(h, 0, out=masks[i])
                        np.maximum(h, 0, out=h)
                h = acts[-1]                                   # logits -> softmax - onehot
                np.max(h, axis=1, keepdims=True, out=col)
                h -= col
                np.exp(h, out=h)
                np.sum(h, axis=1, keepdims=True, out=col)
                h /= col
                h[rows, yb] -= 1
                h *= 1 / batch
                g = h
                for i in range(last, -1, -1):
                    np.dot(acts[i].T, g, out=gWs[i])
                    g.sum(0, out=gbs[i])
                    if i:
                        np.matmul(g, Ws[i].T, out=grads[i - 1])
                        grads[i - 1] *= masks[i - 1]
                        g = grads[i - 1]
                    np.multiply(gWs[i], lr, out=steps[i])
                    Ws[i] -= steps[i]
                    gbs[i] *= lr
                    bs[i] -= gbs[i]
    return run


def sklearn_runner(x, y, layers, n_classes, *, batch, lr, epochs, seed=0):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(layers), activation="relu", solver="sgd",
                        alpha=0.0, batch_size=batch, learning_rate="constant",
                        learning_rate_init=lr, max_iter=epochs, shuffle=True, random_state=seed,
                        tol=0.0, n_iter_no_change=10**9, momentum=0.0, nesterovs_momentum=False,
                        early_stopping=False, warm_start=True)

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, y)
    return run


def torch_runner(x, y, layers, n_classes, *, batch, lr, epochs, seed=0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    dtype = torch.float32 if x.dtype == np.float32 else torch.float64
    sizes = [x.shape[1], *layers]
    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        mods += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*mods, nn.Linear(sizes[-1], n_classes)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    crit = nn.CrossEntropyLoss()
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    n = len(X)
    gen = torch.Generator().manual_seed(seed)

    def run() -> None:
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            xs, ys = X[order], Y[order]
            total = torch.zeros((), dtype=dtype)
            for start in range(0, n, batch):
                xb, yb = xs[start:start + batch], ys[start:start + batch]
                opt.zero_grad()
                loss = crit(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.detach() * len(xb)
            float(total)  # the epoch's mean loss is read once, as the others report it
    return run


def available(name: str) -> bool:
    module = {"sklearn": "sklearn", "torch": "torch"}.get(name)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


RUNNERS = {"nnlearn": nnlearn_runner, "numpy-ref": numpy_ref_runner,
           "sklearn": sklearn_runner, "torch": torch_runner}


def gemm_runner(dtype, n: int = 2048) -> Callable[[], None]:
    """One n x n x n matrix product (2 n^3 FLOPs), to be timed among the training epochs."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    return lambda: np.matmul(a, b, out=out)


def time_impls(x, y, layers, n_classes, *, batch, lr, epochs, rounds, only,
               gemm: bool = False) -> dict[str, dict]:
    """Median seconds per epoch of each implementation. With ``gemm``, a 2048^3 product is
    timed in every round too, so that the roofline is measured under the same machine load as
    the epochs; its GFLOP/s come back under the key ``"gemm"``."""
    runners = {}
    for name, make in RUNNERS.items():
        if only and name not in only:
            continue
        if not available(name):
            print(f"  ({name} not installed: skipped)")
            continue
        runners[name] = make(x, y, layers, n_classes, batch=batch, lr=lr, epochs=epochs)
    if gemm:
        runners["gemm"] = gemm_runner(x.dtype)
    times = interleave(runners, rounds)
    result: dict[str, dict] = {}
    if gemm:
        t = times.pop("gemm")
        result["gemm"] = {"median_gflops": 2 * 2048**3 / statistics.median(t) / 1e9,
                          "best_gflops": 2 * 2048**3 / min(t) / 1e9}
    return result | {name: {"median_epoch_s": statistics.median(t) / epochs,
                   "min_epoch_s": min(t) / epochs,
                   "rounds": [round(v / epochs, 6) for v in t]} for name, t in times.items()}


# --------------------------------------------------------------------------------------------
# regimes


def n_params(sizes: list[int]) -> int:
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def gemm_gflops(dtype, n: int = 2048, repeats: int = 7) -> float:
    """Measured GFLOP/s of an n x n x n matrix product (2 n^3 FLOPs), median of ``repeats``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - started)
    return 2 * n**3 / statistics.median(times) / 1e9


def synthetic(n: int, d: int, k: int, dtype, seed: int = 0):
    """Standard normal features; labels from a random linear teacher, so the task is learnable."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32).astype(dtype, copy=False)
    teacher = rng.standard_normal((d, k)).astype(dtype)
    y = (x @ teacher).argmax(axis=1).astype(np.int64)
    return x, y


def load_digits(dtype):
    path = ROOT / "data" / "digits-train.csv"
    with path.open() as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    target = header.index("digit")
    y = data[:, target].astype(np.int64)
    x = np.delete(data, target, axis=1) / 16.0  # pixels 0..16 -> 0..1
    return x.astype(dtype), y


def report_ratios(section: str, key: str, res: dict[str, dict], limit_s: float | None,
                  results: list[dict]) -> None:
    nn = res.get("nnlearn", {}).get("median_epoch_s")
    width = max(len(n) for n in res) if res else 8
    for name, r in res.items():
        line = f"  {name:<{width}}  {r['median_epoch_s'] * 1e3:9.2f} ms/epoch"
        if nn is not None and name != "nnlearn":
            line += f"   nnlearn / {name} = {nn / r['median_epoch_s']:.2f}"
        if limit_s:
            line += f"   {r['median_epoch_s'] / limit_s:.2f} x GEMM limit"
        print(line)
    if nn is None:
        return
    baselines = {name: r["median_epoch_s"] for name, r in res.items() if name != "nnlearn"}
    if limit_s:
        baselines["limit"] = limit_s
    for base, t in baselines.items():
        target = TARGETS.get((section, key, base))
        ratio = nn / t
        results.append({"regime": section, "case": key, "baseline": base,
                        "ratio": ratio, "target": target,
                        "met": None if target is None else ratio <= target})
        if target is not None:
            verdict = "met" if ratio <= target else "MISSED"
            print(f"  target nnlearn/{base} <= {target}: {ratio:.3f}  {verdict}")


def run_roofline(out: dict) -> dict[str, float]:
    print("\n== GEMM roofline (2048^3 matrix product)")
    g = {"float32": gemm_gflops(np.float32), "float64": gemm_gflops(np.float64)}
    for k, v in g.items():
        print(f"  {k}: {v:.1f} GFLOP/s")
    out["gemm_gflops"] = g
    return g


def run_large(args, out: dict, results: list[dict]) -> None:
    n = 15_000 if args.quick else 60_000
    layers, k, d = [256, 128], 10, 784
    dtypes = ["float32"] if args.quick else ["float32", "float64"]
    rounds = args.rounds or (3 if args.quick else 7)
    flops = 6 * n_params([d, *layers, k]) * n
    for dt in dtypes:
        print(f"\n== large: synthetic {n} x {d}, {d}-256-128-10 ReLU, batch 128, {dt}, "
              f"{rounds} rounds of 1 epoch")
        x, y = synthetic(n, d, k, np.dtype(dt))
        res = time_impls(x, y, layers, k, batch=128, lr=0.01, epochs=1, rounds=rounds,
                         only=args.only, gemm=True)
        g = res.pop("gemm")
        limit = flops / (g["median_gflops"] * 1e9)
        print(f"  GEMM limit: 6 x {n_params([d, *layers, k])} params x {n} samples at "
              f"{g['median_gflops']:.0f} GFLOP/s (median of the 2048^3 products timed between "
              f"the epochs; best {g['best_gflops']:.0f}) = {limit * 1e3:.0f} ms/epoch")
        report_ratios("large", dt, res, limit, results)
        out[f"large_{dt}"] = {"n": n, "limit_epoch_s": limit, "gemm": g, "times": res}


def run_small(args, out: dict, results: list[dict]) -> None:
    x, y = load_digits(np.float32)
    rounds = args.rounds or (3 if args.quick else 7)
    for batch, lr, epochs in ((16, 0.05, 2 if args.quick else 5), (1, 0.01, 1)):
        print(f"\n== small: digits {x.shape[0]} x {x.shape[1]}, 64-32-10 ReLU, batch {batch}, "
              f"float32, {rounds} rounds of {epochs} epoch(s)")
        res = time_impls(x, y, [32], 10, batch=batch, lr=lr, epochs=epochs, rounds=rounds,
                         only=args.only)
        report_ratios("small", f"batch{batch}", res, None, results)
        out[f"small_batch{batch}"] = {"n": len(x), "times": res}


SKLEARN_DIGITS_SCRIPT = """
import warnings, pandas as pd, numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.model_selection import train_test_split
warnings.simplefilter("ignore")
train = pd.read_csv("data/digits-train.csv"); test = pd.read_csv("data/digits-test.csv")
X, y = train.drop(columns="digit").to_numpy(float), train["digit"].to_numpy()
Xt, yt = test.drop(columns="digit").to_numpy(float), test["digit"].to_numpy()
X, Xv, y, yv = train_test_split(X, y, test_size=0.15, stratify=y, random_state=0)
s = StandardScaler().fit(X)
clf = MLPClassifier((64,), solver="sgd", alpha=0, batch_size=32, learning_rate_init=0.05,
                    momentum=0.9, nesterovs_momentum=False, max_iter=60, tol=0,
                    n_iter_no_change=10**9, random_state=0).fit(s.transform(X), y)
print(clf.score(s.transform(Xv), yv), clf.score(s.transform(Xt), yt))
"""


def run_command(args, out: dict) -> None:
    rounds = args.rounds or (3 if args.quick else 5)
    print(f"\n== command: nnlearn train configs/digits.yaml --quiet (wall time, {rounds} rounds)")
    tmp = Path(tempfile.mkdtemp(prefix="nnlearn-bench-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    counter = iter(range(10**6))

    def nnlearn_cmd() -> None:
        run_dir = tmp / f"run{next(counter)}"
        proc = subprocess.run([sys.executable, "-m", "nnlearn", "train", "configs/digits.yaml",
                               "--quiet", "--out", str(run_dir)], check=False, cwd=ROOT,
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else
                               f"exit code {proc.returncode}")

    def sklearn_cmd() -> None:
        subprocess.run([sys.executable, "-c", SKLEARN_DIGITS_SCRIPT], cwd=ROOT, env=env,
                       check=True, capture_output=True)

    runners: dict[str, Callable[[], None]] = {"nnlearn train": nnlearn_cmd}
    if available("sklearn") and (args.only is None or "sklearn" in args.only):
        runners["sklearn script"] = sklearn_cmd
    try:
        nnlearn_cmd()
    except RuntimeError as exc:
        print(f"  skipped: nnlearn train failed: {exc}")
        out["command"] = {"skipped": str(exc)}
        shutil.rmtree(tmp, ignore_errors=True)
        return
    times = interleave(runners, rounds)
    shutil.rmtree(tmp, ignore_errors=True)
    res = {name: statistics.median(t) for name, t in times.items()}
    for name, t in res.items():
        print(f"  {name:<15} {t:7.3f} s")
    if "sklearn script" in res:
        print(f"  nnlearn / sklearn script = {res['nnlearn train'] / res['sklearn script']:.2f} "
              "(same model, 60 epochs, pandas + StandardScaler; no target)")
    out["command"] = {"median_s": res, "rounds": {k: [round(v, 4) for v in t]
                                                  for k, t in times.items()}}


def main() -> None:
    args = ARGS if ARGS is not None else parse_args()
    regimes = args.regime or ["roofline", "large", "small", "command"]
    if args.threads and available("torch"):
        import torch

        torch.set_num_threads(args.threads)
    info = machine_info()
    if available("torch"):
        import torch

        info["torch_threads"] = torch.get_num_threads()
    info["loadavg_start"] = os.getloadavg()
    print("machine:", json.dumps(info))
    if "OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ:
        print("WARNING: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set and may slow numpy; rerun as\n"
              "  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare.py")
    out: dict = {"machine": info, "args": {k: (str(v) if isinstance(v, Path) else v)
                                           for k, v in vars(args).items()}}
    results: list[dict] = []
    if "roofline" in regimes:
        run_roofline(out)
    if "large" in regimes:
        run_large(args, out, results)
    if "small" in regimes:
        run_small(args, out, results)
    if "command" in regimes:
        run_command(args, out)
    if results:
        print("\n== targets")
        for r in results:
            if r["target"] is not None:
                verdict = "met" if r["met"] else "MISSED"
                print(f"  {r['regime']:<5} {r['case']:<8} nnlearn/{r['baseline']:<8} "
                      f"{r['ratio']:.3f} (target <= {r['target']})  {verdict}")
    out["ratios"] = results
    out["machine"]["loadavg_end"] = os.getloadavg()
    print(f"\nload average at start {info['loadavg_start'][0]:.2f}, at end "
          f"{out['machine']['loadavg_end'][0]:.2f} (above ~0.5 another process shared the CPUs)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
