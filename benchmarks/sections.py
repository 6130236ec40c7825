"""Where does an epoch of the large regime go? Each part of a minimal numpy step, timed in place.

    python benchmarks/sections.py                # 2 BLAS threads (or whatever BLAS picks)
    python benchmarks/sections.py --threads 1
    python benchmarks/sections.py --samples 60000 --dtype float64

The loop is compare.py's ``numpy-ref`` (everything preallocated, written with ``out=``), with a
clock read between its parts: the matrix products of each layer, the gather of the batch, bias,
ReLU, softmax and the SGD update. Reading the clock costs well under a microsecond per part, so
the sum stays within a few percent of the untimed epoch (both are printed).

What it shows on the 2-core machine of benchmarks/README.md: the matrix products are two thirds
to three quarters of the epoch, and the update of the first weight matrix (two passes over
0.8 MB) is the largest of the rest. Some elementwise passes over a two-thread product's output
(the second layer's update, the bias add) cost up to twice what they cost after a one-thread
product: part of that output sits in the other core's cache (compare ``--threads 1``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import synthetic


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=30_000)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (needs threadpoolctl)")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up")
    args = p.parse_args()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)

    dt = np.dtype(args.dtype)
    n, batch, lr = args.samples, 128, 0.01
    x, y = synthetic(n, 784, 10, dt)
    rng = np.random.default_rng(0)
    sizes = [784, 256, 128, 10]
    Ws = [(rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(dt)
          for a, b in itertools.pairwise(sizes)]
    bs = [np.zeros(b, dtype=dt) for b in sizes[1:]]
    gWs = [np.empty_like(W) for W in Ws]
    gbs = [np.empty_like(b) for b in bs]
    steps = [np.empty_like(W) for W in Ws]
    acts = [np.empty((batch, s), dt) for s in sizes]
    grads = [np.empty((batch, s), dt) for s in sizes[1:]]
    masks = [np.empty((batch, s), bool) for s in sizes[1:]]
    col = np.empty((batch, 1), dt)
    rows = np.arange(batch)
    last = len(Ws) - 1
    spent: dict[str, float] = defaultdict(float)
    clock = time.perf_counter

    def epoch() -> None:
        order = rng.permutation(n)
        for start in range(0, n - batch + 1, batch):
            t0 = clock()
            idx = order[start:start + batch]
            x.take(idx, 0, acts[0], "clip")
            yb = y[idx]
            t1 = clock()
            spent["gather the batch"] += t1 - t0
            for i, (W, b) in enumerate(zip(Ws, bs)):
                h = acts[i + 1]
                t0 = clock()
                np.matmul(acts[i], W, out=h)
                t1 = clock()
                h += b
                t2 = clock()
                spent[f"layer {i + 1}: x @ W"] += t1 - t0
                spent["bias: add"] += t2 - t1
                if i < last:
                    np.greater(h, 0, out=masks[i])
                    np.maximum(h, 0, out=h)
                    spent["ReLU forward"] += clock() - t2
            t0 = clock()
            h = acts[-1]
            np.max(h, axis=1, keepdims=True, out=col)
            h -= col
            np.exp(h, out=h)
            np.sum(h, axis=1, keepdims=True, out=col)
            h /= col
            h[rows, yb] -= 1
            h *= 1 / batch
            spent["softmax - onehot"] += clock() - t0
            g = h
            for i in range(last, -1, -1):
                t0 = clock()
                np.dot(acts[i].T, g, out=gWs[i])
                t1 = clock()
                g.sum(0, out=gbs[i])
                t2 = clock()
                spent[f"layer {i + 1}: dL/dW = x^T @ g"] += t1 - t0
                spent["bias: dL/db"] += t2 - t1
                if i:
                    np.matmul(g, Ws[i].T, out=grads[i - 1])
                    t3 = clock()
                    grads[i - 1] *= masks[i - 1]
                    g = grads[i - 1]
                    t4 = clock()
                    spent[f"layer {i + 1}: dL/dx = g @ W^T"] += t3 - t2
                    spent["ReLU backward"] += t4 - t3
                    t2 = t4
                np.multiply(gWs[i], lr, out=steps[i])
                Ws[i] -= steps[i]
                t3 = clock()
                spent[f"layer {i + 1}: W -= lr * dL/dW"] += t3 - t2
                gbs[i] *= lr
                bs[i] -= gbs[i]
                spent["bias: update"] += clock() - t3

    epoch()
    spent.clear()
    t0 = clock()
    for _ in range(args.epochs):
        epoch()
    total = clock() - t0
    scale = 60_000 / n / args.epochs * 1e3  # ms per 60,000-sample epoch
    print(f"{n} samples x 784 -> 256 -> 128 -> 10, batch {batch}, {dt}, threads={args.threads}")
    gemm = sum(v for k, v in spent.items() if "@" in k)
    for name, sec in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32s} {sec * scale:7.1f} ms/epoch  {sec / total:6.1%}")
    print(f"  {'matrix products together':32s} {gemm * scale:7.1f} ms/epoch  {gemm / total:6.1%}")
    print(f"  sum of parts {sum(spent.values()) * scale:.0f} ms, untimed epoch {total * scale:.0f} ms "
          "(per 60,000 samples)")


if __name__ == "__main__":
    main()
