"""Check backprop against central finite differences.

For a parameter entry w, the central difference

    (L(w + eps) - L(w - eps)) / (2 eps)

approximates dL/dw with an error of order eps^2 (the first-order terms cancel), so in float64 with
eps around 1e-6 it agrees with a correct analytic gradient to about 1e-9 relative. A wrong
derivative anywhere in backward shows up as a relative error near 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnlearn.errors import GradCheckFailed

#: the pass/fail threshold on the relative error for float64 checks
DEFAULT_THRESHOLD = 1e-6
#: entries checked per tensor at most; larger tensors get a seeded random subset of this size
DEFAULT_MAX_ENTRIES = 200


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / (||a|| + ||n||) over a whole tensor (0 when both are exactly 0).

    Measured per tensor, not per entry: an entry whose true gradient is ~1e-7 carries a rounding
    error of ~1e-10 in any finite difference, which would make its own relative error look large
    although backprop is right. Over the tensor, a wrong derivative still shows up as ~1.
    """
    a = np.asarray(analytic, dtype=np.float64).reshape(-1)
    n = np.asarray(numeric, dtype=np.float64).reshape(-1)
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    return float(np.linalg.norm(a - n) / denom) if denom > 0 else 0.0


def numeric_gradient(
    loss_fn: Callable[[], float],
    array: np.ndarray,
    indices: np.ndarray | None = None,
    eps: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of ``loss_fn()`` with respect to entries of ``array`` (changed in place
    and restored). Returns (flat indices checked, numeric gradient at those indices)."""
    flat = array.reshape(-1)  # a view: writing to it perturbs the array loss_fn reads
    if indices is None:
        indices = np.arange(flat.size)
    grads = np.empty(len(indices), dtype=np.float64)
    for k, i in enumerate(indices):
        orig = flat[i]
        flat[i] = orig + eps
        plus = loss_fn()
        flat[i] = orig - eps
        minus = loss_fn()
        flat[i] = orig
        grads[k] = (plus - minus) / (2 * eps)
    return indices, grads


def sample_indices(size: int, max_entries: int, rng: np.random.Generator) -> np.ndarray:
    """All indices of a small tensor, or a seeded random subset of a large one."""
    if size <= max_entries:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_entries, replace=False))


@dataclass
class TensorCheck:
    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs_error: float
    max_rel_error: float  # the tensor's relative error, see relative_error()
    passed: bool


def check_network(
    network,
    loss,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float = 1e-6,
    threshold: float = DEFAULT_THRESHOLD,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    rng: np.random.Generator | None = None,
    weights: np.ndarray | None = None,
) -> list[TensorCheck]:
    """Compare backprop's dL/d(every parameter) and dL/dx with central differences.

    The network is put in evaluation mode (dropout off) so the loss is a deterministic function
    of the weights. Returns one ``TensorCheck`` per tensor, parameters first, then ``input``.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    was_training = network.training
    network.eval()
    try:
        x = np.array(x, dtype=np.float64)

        def loss_fn() -> float:
            return loss.value(network.forward(x), y, weights)

        pred = network.forward(x)
        network.zero_grad()
        dx = network.backward(loss.gradient(pred, y, weights))
        tensors = [(p.name, p.value, p.grad.copy()) for p in network.parameters()]
        tensors.append(("input", x, dx))
        results = []
        for name, value, analytic in tensors:
            idx = sample_indices(value.size, max_entries, rng)
            idx, numeric = numeric_gradient(loss_fn, value, idx, eps)
            a = analytic.reshape(-1)[idx]
            abs_err = float(np.abs(a - numeric).max(initial=0.0))
            rel_err = relative_error(a, numeric)
            results.append(TensorCheck(name, tuple(value.shape), len(idx), abs_err, rel_err,
                                       rel_err < threshold))
        return results
    finally:
        if was_training:
            network.train()


# ------------------------------------------------------------------------------------------
# checking the network a config builds, on its own data


@dataclass
class GradCheckReport:
    """The result of ``check_config``: one ``TensorCheck`` per tensor and how it was made."""

    checks: list[TensorCheck]
    rows: list[int]  # indices into the training split of the samples the loss is taken over
    eps: float
    threshold: float
    max_entries: int
    loss: str

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[TensorCheck]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "samples": len(self.rows),
            "rows": list(self.rows),
            "eps": self.eps,
            "threshold": self.threshold,
            "max_entries": self.max_entries,
            "loss": self.loss,
            "tensors": [{"name": c.name, "shape": list(c.shape), "checked": c.checked,
                         "max_abs_error": c.max_abs_error, "rel_error": c.max_rel_error,
                         "passed": c.passed} for c in self.checks],
        }


def check_config(
    cfg: dict,
    *,
    samples: int = 8,
    eps: float = 1e-6,
    threshold: float = DEFAULT_THRESHOLD,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    seed: int = 0,
) -> GradCheckReport:
    """Build the network a resolved config describes, on its training data, in float64, and
    check every parameter tensor and dL/dx on ``samples`` training rows.

    float64 whatever ``training.dtype`` says: in float32 a central difference carries rounding
    errors of ~1e-7 / eps, which would drown the check. The rows and the subset of entries of
    tensors larger than ``max_entries`` are drawn from a generator seeded with ``seed``, so a
    failure reproduces exactly. Dropout is off (evaluation mode) so the loss is deterministic.
    """
    from nnlearn.runs import (
        run as runs,  # runs needs the whole library; keep this module light to import
    )

    if samples < 1:
        raise ValueError("samples must be >= 1")
    cfg = json.loads(json.dumps(cfg))
    cfg["training"]["dtype"] = "float64"
    cfg["training"]["diagnostics"] = False
    prepared = runs.prepare(cfg)
    train = prepared.train
    rng = np.random.default_rng(seed)
    k = min(samples, len(train))
    rows = np.sort(rng.choice(len(train), size=k, replace=False))
    w = None if train.w is None else train.w[rows]
    checks = check_network(prepared.model.network, prepared.model.loss, train.x[rows],
                           train.y[rows], eps=eps, threshold=threshold, max_entries=max_entries,
                           rng=rng, weights=w)
    return GradCheckReport(checks, [int(r) for r in rows], eps, threshold, max_entries,
                           prepared.model.loss_name)


#: Above this step, the eps² error of central differences alone can exceed the threshold.
LARGE_EPS = 1e-3


def raise_if_failed(report: GradCheckReport) -> None:
    """Raise ``GradCheckFailed`` (exit 4) naming every tensor that failed."""
    failed = report.failed
    if not failed:
        return
    worst = max(failed, key=lambda c: c.max_rel_error)
    names = ", ".join(c.name for c in failed)
    raise GradCheckFailed(
        f"gradient check failed for {names}: relative error {worst.max_rel_error:.2e} in "
        f"{worst.name} exceeds {report.threshold:g}",
        hint=f"eps {report.eps:g} is large: central differences are off by about eps², so "
             "they, not backprop, may be wrong; try the default 1e-6" if report.eps > LARGE_EPS
        else "backprop disagrees with finite differences: check the backward of the layer "
             "that produces the first failing tensor (and every layer above it)")


def format_report(report: GradCheckReport) -> str:
    """One row per tensor: shape, entries checked, max abs error, relative error, PASS/FAIL."""
    header = ["tensor", "shape", "checked", "max abs error", "rel error", "result"]
    cells = [header]
    for c in report.checks:
        cells.append([c.name, "×".join(map(str, c.shape)), str(c.checked),
                      f"{c.max_abs_error:.2e}", f"{c.max_rel_error:.2e}",
                      "pass" if c.passed else "FAIL"])
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i in (0, 1, 5) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    verdict = ("all tensors pass" if report.passed
               else f"{len(report.failed)} of {len(report.checks)} tensors FAIL")
    lines += [
        "",
        f"{verdict}: relative error ||a - n|| / (||a|| + ||n||) < {report.threshold:g},",
        (f"a = backprop, n = central differences (eps {report.eps:g}), in float64, loss "
        f"{report.loss} over {len(report.rows)} training rows."),
        (f"Tensors with more than {report.max_entries} entries are checked on a seeded random "
        f"{report.max_entries} of them."),
    ]
    return "\n".join(lines)
