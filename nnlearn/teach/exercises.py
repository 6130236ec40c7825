"""Graded exercises: check a student's backward (or step) part by part, with a hint per part.

Each exercise is a plugin file (``exercises/0N_*.py``) whose class is registered with
``@register``. :func:`check_exercise` loads the file as ``--plugin`` would, finds the class and
runs its parts in order: small, exact checks first (the formula on a few numbers, central
differences on the layer alone), then a gradient check of a whole network, then a short
training run. A part that cannot run because an earlier one failed is skipped, so the first
FAIL is the one to fix.

Every check is deterministic (seeded) and runs in well under a second.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnlearn.errors import GradCheckFailed, NnlearnError, shown_path
from nnlearn.nn.activations import Tanh
from nnlearn.nn.layers import Dense
from nnlearn.nn.losses import SoftmaxCrossEntropy
from nnlearn.nn.network import Sequential
from nnlearn.nn.optimizers import SGD
from nnlearn.runs.plugins import raised_in_plugin
from nnlearn.teach.gradcheck import check_network, numeric_gradient, relative_error

#: relative error below which an analytic gradient agrees with central differences
TOLERANCE = 1e-6
#: accuracy the short training run must reach on the four-blob XOR data
TARGET_ACCURACY = 0.9


class ExerciseFailed(GradCheckFailed):
    """At least one part of an exercise failed (exit 4, like a failed gradient check)."""


@dataclass
class Part:
    name: str
    status: str  # "pass", "FAIL" or "skip"
    detail: str
    hint: str | None = None


@dataclass
class ExerciseResult:
    number: int
    title: str
    path: str
    class_name: str
    registered_as: str
    parts: list[Part] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(p.status == "pass" for p in self.parts)


@dataclass
class Exercise:
    number: int
    title: str
    file: str          # the skeleton's name in exercises/
    kind: str          # what it registers: activation, layer, optimizer or loss
    check: Callable[[type], list[Part]]


# ------------------------------------------------------------------------------------------
# shared pieces


def xor_blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian blobs at (±1, ±1); the class is 1 where the signs differ (XOR).

    No straight line separates the classes, so a network needs its hidden layer to learn it.
    """
    rng = np.random.default_rng(seed)
    centres = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=np.float64)
    which = rng.integers(0, 4, size=n)
    x = centres[which] + 0.35 * rng.standard_normal((n, 2))
    y = (which >= 2).astype(np.int64)
    return x, y


def _calls(fn: Callable[[], Any]) -> tuple[Any, Part | None]:
    """Run ``fn``; a NotImplementedError or any other exception becomes a failed part."""
    try:
        return fn(), None
    except NotImplementedError as exc:
        return None, Part("", "FAIL", f"raises NotImplementedError({str(exc)!r})",
                          "write it where it says 'your code here'")
    except Exception as exc:  # noqa: BLE001 - a student's bug is a result, not a crash
        where = raised_in_plugin(exc)  # the student's line, when the error is in their file
        at = "" if where is None else f" at {_shown_where(where)}"
        return None, Part("", "FAIL", f"raises {type(exc).__name__}{at}: {exc}"[:300])


def _shown_where(where: str) -> str:
    """``/abs/path/file.py:LINE`` as the user would type the path."""
    path, _, line = where.rpartition(":")
    return f"{shown_path(path)}:{line}"


def _named(failed: Part, name: str, hint: str | None = None) -> Part:
    """Name a failed part, adding the exercise's own hint to the generic one."""
    failed.name = name
    if hint:
        failed.hint = f"{failed.hint}: {hint}" if failed.hint else hint
    return failed


def _compare(name: str, analytic: Any, numeric: np.ndarray, hint: str) -> Part:
    """A part comparing an analytic array with the expected one (shape, then values)."""
    if not isinstance(analytic, np.ndarray):
        return Part(name, "FAIL", f"expected an array, got {type(analytic).__name__}", hint)
    if analytic.shape != numeric.shape:
        return Part(name, "FAIL", f"shape {analytic.shape}, expected {numeric.shape}", hint)
    err = relative_error(analytic, numeric)
    if not np.isfinite(err) or err >= TOLERANCE:
        scale = ""
        a, n = analytic.ravel(), numeric.ravel()
        if np.dot(n, n) > 0:
            k = float(np.dot(a, n) / np.dot(n, n))
            if abs(k) > 1e-12 and relative_error(a / k, n) < TOLERANCE:
                scale = f"; it is {k:.4g} times the right answer"
        return Part(name, "FAIL", f"relative error {err:.2e} (must be < {TOLERANCE:g}){scale}",
                    hint)
    return Part(name, "pass", f"relative error {err:.1e}")


def _train(network: Sequential, loss, optimizer, steps: int) -> tuple[float, float, float]:
    """Full-batch gradient descent on the XOR blobs; (first loss, last loss, accuracy)."""
    x, y = xor_blobs()
    first = last = float("nan")
    for step in range(steps):
        pred = network.forward(x)
        last, grad = loss.value_and_gradient(pred, y)
        if step == 0:
            first = last
        network.backward(grad)
        optimizer.step()
    accuracy = float(np.mean(network.forward(x).argmax(axis=1) == y))
    return first, float(last), accuracy


def _training_part(build: Callable[[], tuple[Sequential, Any, Any]], steps: int,
                   hint: str) -> Part:
    name = "training"
    result, failed = _calls(lambda: _train(*build(), steps))
    if failed is not None:
        return _named(failed, name, hint)
    first, last, accuracy = result
    detail = (f"{steps} steps on 200 XOR points: loss {first:.3f} -> {last:.3f}, "
              f"accuracy {accuracy:.2f}")
    if not (np.isfinite(last) and last < first and accuracy >= TARGET_ACCURACY):
        return Part(name, "FAIL", f"{detail} (needs accuracy >= {TARGET_ACCURACY})", hint)
    return Part(name, "pass", detail)


def _network_gradcheck(network: Sequential, loss, hint: str) -> Part:
    name = "gradcheck in a network"
    x, y = xor_blobs(8, seed=1)
    checks, failed = _calls(lambda: check_network(network, loss, x, y, threshold=TOLERANCE))
    if failed is not None:
        return _named(failed, name, hint)
    bad = [c for c in checks if not c.passed]
    if bad:
        worst = max(bad, key=lambda c: c.max_rel_error)
        return Part(name, "FAIL", f"{', '.join(c.name for c in bad)} fail (relative error "
                    f"{worst.max_rel_error:.2e} in {worst.name})", hint)
    return Part(name, "pass", f"{len(checks)} tensors agree with central differences "
                f"(worst {max(c.max_rel_error for c in checks):.1e})")


def _skip_rest(parts: list[Part], names: list[str], reason: str) -> list[Part]:
    return parts + [Part(n, "skip", reason) for n in names]


def _layer_gradients(layer, x: np.ndarray, upstream: np.ndarray
                     ) -> tuple[Any, Part | None]:
    """forward then backward(upstream): the student's dL/dx for L = Σ upstream · layer(x)."""
    def run():
        layer.forward(x)
        return layer.backward(upstream)
    return _calls(run)


def _numeric(layer, x: np.ndarray, upstream: np.ndarray, array: np.ndarray) -> np.ndarray:
    """Central differences of L = Σ upstream · layer(x) with respect to ``array``."""
    def loss() -> float:
        return float(np.sum(upstream * layer.forward(x)))
    _, grad = numeric_gradient(loss, array)
    return grad.reshape(array.shape)


# ------------------------------------------------------------------------------------------
# the exercises


def check_sigmoid(cls: type) -> list[Part]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-4, 4, size=(6, 5))
    upstream = rng.standard_normal((6, 5))
    layer = cls()
    out, failed = _calls(lambda: layer.forward(x.copy()))
    if failed is not None:
        return _skip_rest([_named(failed, "forward")], ["backward", "gradcheck in a network", "training"],
                          "needs forward")
    parts = [_compare("forward", out, 1 / (1 + np.exp(-x)),
                      "forward should return 1 / (1 + exp(-x))")]
    dx, failed = _layer_gradients(layer, x.copy(), upstream)
    hint = "dL/dx = grad_out * y * (1 - y), with y = sigmoid(x) cached by forward"
    if failed is not None:
        return _skip_rest(parts + [_named(failed, "backward", hint)], ["gradcheck in a network", "training"],
                          "needs backward")
    xx = x.copy()
    parts.append(_compare("backward", dx, _numeric(layer, xx, upstream, xx), hint))
    if parts[-1].status != "pass":
        return _skip_rest(parts, ["gradcheck in a network", "training"], "needs backward")

    def network(seed: int = 0) -> Sequential:
        r = np.random.default_rng(seed)
        return Sequential([Dense(2, 8, rng=r, init="xavier", name="dense_1"), cls(),
                           Dense(8, 2, rng=r, init="xavier", name="dense_2")])

    parts.append(_network_gradcheck(network(), SoftmaxCrossEntropy(), hint))

    def build():
        net = network()
        return net, SoftmaxCrossEntropy(), SGD(net.parameters(), lr=2.0, momentum=0.9)

    parts.append(_training_part(build, 300, "the gradients pass but training does not learn: "
                                "does backward change anything it should not?"))
    return parts


def check_dense(cls: type) -> list[Part]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    upstream = rng.standard_normal((5, 4))
    layer, failed = _calls(lambda: cls(3, 4, rng=np.random.default_rng(1)))
    if failed is not None:
        hint = f"the checker builds {cls.__name__}(d_in, d_out, rng=generator)"
        return _skip_rest([_named(failed, "construct", hint)], ["dL/dx", "dL/dW", "dL/db", "gradcheck in a network",
                                     "training"], "needs the layer")
    W, b = layer.W.value, layer.b.value
    before = (W.copy(), b.copy())
    dx, failed = _layer_gradients(layer, x, upstream)
    if failed is not None:
        hint = ("set self.W.grad[...] = xᵀ · grad_out and self.b.grad[...] = grad_out summed "
                "over rows; return grad_out · Wᵀ")
        return _skip_rest([_named(failed, "backward", hint)], ["dL/dx", "dL/dW", "dL/db", "gradcheck in a network",
                                     "training"], "needs backward")
    analytic_W, analytic_b = layer.W.grad.copy(), layer.b.grad.copy()
    parts = [
        _compare("dL/dx", dx, _numeric(layer, x, upstream, x),
                 "return dL/dx = grad_out · Wᵀ, shape (n, d_in)"),
        _compare("dL/dW", analytic_W, _numeric(layer, x, upstream, W),
                 "set self.W.grad = xᵀ · grad_out (x cached by forward), shape (d_in, d_out)"),
        _compare("dL/db", analytic_b, _numeric(layer, x, upstream, b),
                 "set self.b.grad = grad_out summed over the rows (axis 0), shape (d_out,)"),
    ]
    if not (np.array_equal(W, before[0]) and np.array_equal(b, before[1])):
        parts.append(Part("weights unchanged", "FAIL", "backward changed W or b",
                          "backward only computes gradients; the optimizer changes weights"))
    if any(p.status != "pass" for p in parts):
        return _skip_rest(parts, ["gradcheck in a network", "training"], "needs backward")

    def network(seed: int = 0) -> Sequential:
        r = np.random.default_rng(seed)
        return Sequential([cls(2, 8, rng=r, name="layer_1"), Tanh(),
                           cls(8, 2, rng=r, name="layer_2")])

    parts.append(_network_gradcheck(network(), SoftmaxCrossEntropy(),
                                    "each layer must use its own cached x and W"))

    def build():
        net = network()
        return net, SoftmaxCrossEntropy(), SGD(net.parameters(), lr=0.5, momentum=0.9)

    parts.append(_training_part(build, 200, "are W.grad and b.grad set on every backward?"))
    return parts


class _Param:
    def __init__(self, name: str, value: np.ndarray) -> None:
        self.name, self.value, self.grad = name, value, np.zeros_like(value)


def _check_steps(cls: type, settings: dict[str, float],
                 update: Callable[[dict[str, Any], np.ndarray, np.ndarray, int], np.ndarray],
                 step_hint: str, first_hint: str, steps_hint: str,
                 train_lr: float) -> list[Part]:
    """An optimizer exercise: construct, the first step, four steps, a short training run.

    ``update(state, w, g, t)`` is the reference rule: the weights after step t (1, 2, ...)
    from w and the gradient g, keeping its own state in the dict ``state``.
    """
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(4)]
    param = _Param("w", w0.copy())
    args = ", ".join(f"{k}={v:g}" for k, v in settings.items())
    opt, failed = _calls(lambda: cls([param], **settings))
    if failed is not None:
        hint = f"the checker builds {cls.__name__}(params, {args})"
        return _skip_rest([_named(failed, "construct", hint)],
                          ["first step", "four steps", "training"], "needs the class")
    expected, state = w0.copy(), {}
    parts: list[Part] = []
    for t, g in enumerate(grads, start=1):
        param.grad[...] = g
        _, failed = _calls(opt.step)
        if failed is not None:
            return _skip_rest([_named(failed, "first step", step_hint)],
                              ["four steps", "training"], "needs step")
        expected = update(state, expected, g, t)
        if not np.array_equal(param.grad, g):
            return _skip_rest([Part("first step", "FAIL", "step changed p.grad",
                                    "step reads the gradient; it only changes p.value")],
                              ["four steps", "training"], "needs step")
        if t == 1:
            parts.append(_compare("first step", param.value.copy(), expected, first_hint))
            if parts[-1].status != "pass":
                return _skip_rest(parts, ["four steps", "training"], "needs the first step")
    parts.append(_compare("four steps", param.value.copy(), expected, steps_hint))
    if parts[-1].status != "pass":
        return _skip_rest(parts, ["training"], "needs step")

    def build():
        r = np.random.default_rng(0)
        net = Sequential([Dense(2, 8, rng=r, init="xavier", name="dense_1"), Tanh(),
                          Dense(8, 2, rng=r, init="xavier", name="dense_2")])
        return net, SoftmaxCrossEntropy(), cls(net.parameters(), **{**settings, "lr": train_lr})

    parts.append(_training_part(build, 200, "does step update every parameter in place "
                                "(p.value -= ...), not a copy?"))
    return parts


def check_momentum(cls: type) -> list[Part]:
    lr, mu = 0.1, 0.9

    def update(state: dict[str, Any], w: np.ndarray, g: np.ndarray, t: int) -> np.ndarray:
        state["v"] = mu * state.get("v", 0.0) + g
        return w - lr * state["v"]

    return _check_steps(
        cls, {"lr": lr, "momentum": mu}, update,
        step_hint="for each p and its v: v = momentum * v + p.grad, then p.value -= lr * v",
        first_hint="v starts at 0, so the first step is plain SGD: v = g, w = w - lr * v",
        steps_hint="keep v between steps (self.state['v'][i]) and update it in place: "
                   "v = momentum * v + g, then w = w - lr * v",
        train_lr=0.5)


def check_adam(cls: type) -> list[Part]:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8

    def update(state: dict[str, Any], w: np.ndarray, g: np.ndarray, t: int) -> np.ndarray:
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m_hat, v_hat = state["m"] / (1 - b1**t), state["v"] / (1 - b2**t)
        return w - lr * m_hat / (np.sqrt(v_hat) + eps)

    return _check_steps(
        cls, {"lr": lr}, update,
        step_hint="self.t += 1; for each p: m = beta1 m + (1 - beta1) g, "
                  "v = beta2 v + (1 - beta2) g², then the bias-corrected step",
        first_hint="on the first step m_hat = g and v_hat = g², so every weight moves by "
                   "about lr (w - lr * sign(g)): check the bias correction 1 - beta**t with t = 1",
        steps_hint="keep m and v between steps (self.state['m'][i], self.state['v'][i]), "
                   "count steps in self.t (starting from 1) and divide by 1 - beta1**t and "
                   "1 - beta2**t",
        train_lr=0.05)


def check_softmax_ce(cls: type) -> list[Part]:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 3)) * 2
    t = np.array([0, 2, 1, 2, 0])
    loss = cls()
    value, failed = _calls(lambda: loss.value(z.copy(), t))
    if failed is not None:
        return _skip_rest([_named(failed, "value")], ["gradient", "training"], "needs value")
    shifted = z - z.max(axis=1, keepdims=True)
    reference = float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(5), t]))
    parts = [_compare("value", np.asarray([value], dtype=np.float64), np.array([reference]),
                      "value is the mean over rows of log Σ_j e^{z_j} - z_t")]
    grad, failed = _calls(lambda: loss.gradient(z.copy(), t))
    hint = "dL/dz = (softmax(z) - onehot(t)) / n: subtract 1 at each row's true class"
    if failed is not None:
        return _skip_rest(parts + [_named(failed, "gradient", hint)], ["training"], "needs gradient")
    zz = z.copy()
    _, numeric = numeric_gradient(lambda: float(loss.value(zz, t)), zz)
    parts.append(_compare("gradient", grad, numeric.reshape(z.shape), hint))
    if parts[-1].status != "pass":
        return _skip_rest(parts, ["training"], "needs gradient")

    def build():
        r = np.random.default_rng(0)
        net = Sequential([Dense(2, 8, rng=r, init="xavier", name="dense_1"), Tanh(),
                          Dense(8, 2, rng=r, init="xavier", name="dense_2")])
        return net, cls(), SGD(net.parameters(), lr=0.5, momentum=0.9)

    parts.append(_training_part(build, 200, "does value_and_gradient (if you wrote one) agree "
                                "with value and gradient?"))
    return parts


EXERCISES: dict[int, Exercise] = {
    1: Exercise(1, "sigmoid backward", "01_sigmoid.py", "activation", check_sigmoid),
    2: Exercise(2, "a dense layer's backward (dW, db, dx)", "02_dense.py", "layer", check_dense),
    3: Exercise(3, "SGD with momentum", "03_momentum.py", "optimizer", check_momentum),
    4: Exercise(4, "softmax cross-entropy's gradient", "04_softmax_ce.py", "loss",
                check_softmax_ce),
    5: Exercise(5, "Adam", "05_adam.py", "optimizer", check_adam),
}


# ------------------------------------------------------------------------------------------
# running a check


def exercise(number: int) -> Exercise:
    if number not in EXERCISES:
        raise NnlearnError(f"there is no exercise {number}",
                           hint=f"the exercises are {', '.join(map(str, EXERCISES))}; "
                                "see: nnlearn exercise list")
    return EXERCISES[number]


def default_file(number: int, folder: str | os.PathLike = "exercises") -> Path:
    """``exercises/0N_name.py`` under the current folder."""
    path = Path(folder) / exercise(number).file
    if not path.is_file():
        raise NnlearnError(f"{path}: no such file (run from the folder that holds exercises/)",
                           hint=f"or name the file: nnlearn exercise check {number} FILE.py")
    return path


def check_exercise(number: int, path: str | os.PathLike | None = None) -> ExerciseResult:
    """Load the student's file as a plugin and check exercise ``number`` part by part.

    Raises PluginError (exit 2) for a file that does not load, NnlearnError for one that
    registers nothing of the kind the exercise needs; a wrong answer is a result, not an error.
    """
    from nnlearn.runs import extend
    from nnlearn.runs.plugins import load_plugin

    ex = exercise(number)
    path = Path(path) if path is not None else default_file(number)
    names = load_plugin(path)
    found = [(n, extend.REGISTERED[n][1]) for n in names if extend.REGISTERED[n][0] == ex.kind]
    if not found:
        raise NnlearnError(f"{path}: registers no {ex.kind} (exercise {number} checks "
                           f"one; it registers {', '.join(names)})",
                           hint="is this the right file for this exercise?")
    name, cls = found[0]
    result = ExerciseResult(number, ex.title, os.fspath(path), cls.__name__, name)
    result.parts = ex.check(cls)
    return result


def format_result(result: ExerciseResult) -> str:
    lines = [f"exercise {result.number}: {result.title}",
             f"{result.path}: class {result.class_name}, registered as {result.registered_as!r}",
             ""]
    width = max(len(p.name) for p in result.parts)
    for p in result.parts:
        lines.append(f"  {p.status.upper():4s}  {p.name.ljust(width)}  {p.detail}")
        if p.hint and p.status == "FAIL":
            lines.append(f"        {'':{width}}  hint: {p.hint}")
    passed = sum(p.status == "pass" for p in result.parts)
    lines += ["", f"{passed} of {len(result.parts)} parts pass"
              + (": well done." if result.passed else ".")]
    key = _CONFIG_KEY.get(EXERCISES[result.number].kind)
    if result.passed and key:
        import shlex

        command = ["nnlearn", "train", "configs/iris.yaml", "--plugin", result.path,
                   "--set", f"{key}={result.registered_as}"]
        lines += ["Now use it in a real run:", f"  {shlex.join(command)}"]
    return "\n".join(lines)


#: the config key that takes a registered name of each kind (layers are not placed by configs)
_CONFIG_KEY = {"activation": "model.activation", "loss": "training.loss",
               "optimizer": "training.optimizer"}


def raise_if_failed(result: ExerciseResult) -> None:
    """ExerciseFailed (exit 4) naming the first part that did not pass."""
    if result.passed:
        return
    first = next(p for p in result.parts if p.status != "pass")
    failing = [p.name for p in result.parts if p.status == "FAIL"]
    raise ExerciseFailed(f"exercise {result.number}: {', '.join(failing)} "
                         f"{'fails' if len(failing) == 1 else 'fail'}",
                         hint=f"start with {first.name!r}: its hint is in the table above")


def list_exercises() -> list[dict[str, Any]]:
    return [{"number": e.number, "title": e.title, "file": f"exercises/{e.file}",
             "implements": e.kind} for e in EXERCISES.values()]
