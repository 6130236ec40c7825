"""One real training step, walked layer by layer with every number (or, for big arrays, their
statistics): what backpropagation computes and what the optimizer does with it.

``explain_step`` runs the *real* ``training.train_step`` on the network, loss and optimizer that
``runs.prepare`` built for training, with each layer's ``forward`` and ``backward`` wrapped (on
the instance, for this one call) to record what goes in and out. So the numbers it reports are
the numbers training uses: the default batch is even the first mini-batch ``nnlearn train`` would
draw, from the same seeded generator, and the weights afterwards are the weights after training's
first step. ``format_explanation`` turns the record into text; nothing here prints.

Notation (rows are samples): for each Dense layer, x is its input (n, d_in), W (d_in, d_out),
b (d_out,), z = x·W + b (n, d_out) and a = f(z) the activation. Backward, from the loss down:
dL/da arrives from the layer above; dL/dz = dL/da ⊙ f'(z); dL/dW = xᵀ·dL/dz; dL/db = the column
sums of dL/dz; dL/dx = dL/dz·Wᵀ is handed to the layer below as its dL/da.
"""

from __future__ import annotations

import contextlib
import math
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnlearn.errors import NnlearnError
from nnlearn.nn.layers import Dense, Dropout, Layer
from nnlearn.nn.optimizers import SGD
from nnlearn.nn.training import train_step

#: f'(z), written the way each activation layer computes it in backward
LOCAL_DERIVATIVE = {
    "relu": "f'(z) = 1 if z > 0 else 0",
    "leaky_relu": "f'(z) = 1 if z > 0 else alpha",
    "sigmoid": "f'(z) = a(1 − a)",
    "tanh": "f'(z) = 1 − a²",
    "identity": "f'(z) = 1",
    "elu": "f'(z) = 1 if z > 0 else a + alpha",
    "gelu": "f'(z) = GELU' (see layers.GELU)",
    "softplus": "f'(z) = sigmoid(z)",
}

#: the loss, per row, and the gradient that starts backprop (already divided by n)
LOSS_TEXT = {
    "bce": ("−[t·log p + (1 − t)·log(1 − p)], p = sigmoid(z)",
            "dL/dz = (p − t) / n   (sigmoid and cross-entropy fused: their derivatives cancel)"),
    "cross_entropy": ("−log p[t], p = softmax(z)",
                      "dL/dz = (p − onehot(t)) / n   (softmax and cross-entropy fused)"),
    "mse": ("(z − t)², and over the k outputs", "dL/dz = 2·(z − t) / (n·k)"),
    "mae": ("|z − t|, and over the k outputs", "dL/dz = sign(z − t) / (n·k)"),
}


@dataclass
class Block:
    """One Dense layer and the elementwise layers after it, as one step saw them.

    Forward: ``x`` (n, d_in) → ``z = x·W + b`` (n, d_out) → ``a = f(z)`` (→ ``a·mask`` with
    dropout). Backward: ``dL_da`` (None for the output layer, whose dL/dz comes from the loss),
    ``fprime`` = f'(z), ``dL_dz``, ``dL_dW`` = xᵀ·dL/dz, ``dL_db``, ``dL_dx`` = dL/dz·Wᵀ (None for
    the first layer: training skips it, nothing updates the data). W and b are the values
    *before* the step; dL/dW and dL/db are straight from backward (before any clipping).
    """

    name: str
    activation: str | None
    x: np.ndarray
    W: np.ndarray
    b: np.ndarray
    z: np.ndarray
    a: np.ndarray | None = None
    dropout: float = 0.0
    mask: np.ndarray | None = None
    dL_da: np.ndarray | None = None
    fprime: np.ndarray | None = None
    dL_dz: np.ndarray | None = None
    dL_dW: np.ndarray | None = None
    dL_db: np.ndarray | None = None
    dL_dx: np.ndarray | None = None
    # a plugin's layer in place of the Dense: its name ("low_rank"), and per parameter (name,
    # value before the step, dL/d(parameter)) -- W and b are then empty, z is its output
    kind: str = "dense"
    params: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)


def _is_plugin_layer(layer: Layer) -> bool:
    """A layer with weights from a plugin: placed with its widths, unlike an activation."""
    return hasattr(layer, "d_in") and not isinstance(layer, Dense)


@dataclass
class WeightUpdate:
    """One weight before and after the step: ``after`` is read back from the network."""

    name: str              # e.g. "dense_1.W"
    index: tuple[int, ...]
    before: float
    grad: float            # the dL/dW entry the optimizer used (after clipping, if any)
    after: float
    formula: str           # e.g. "0.41200 − 0.5 × 0.1370 = 0.34350"

    @property
    def label(self) -> str:
        return f"{self.name}[{','.join(map(str, self.index))}]"


@dataclass
class StepExplanation:
    seed: int
    rows: list[int]             # indices into the training split
    lines: list[int]            # their line numbers in the training CSV (header = line 1)
    data_path: str
    batch_note: str
    n_train: int
    loss_name: str
    target: np.ndarray
    sample_weights: np.ndarray | None
    output: np.ndarray | None   # probabilities the fused loss compares with t (classification)
    blocks: list[Block]
    loss_before: float          # train_step's own value: the loss before the update
    loss_after: float           # the same batch, same mode, after the update
    optimizer: str
    lr: float
    rule: str
    updates: list[WeightUpdate]
    clipped: bool = False
    notes: list[str] = field(default_factory=list)
    n_params: int = 0
    raw_x: np.ndarray | None = None     # the rows as the CSV has them, when x is standardised
    classes: list[str] | None = None    # class names, t holds their indices (classification)
    raw_target: np.ndarray | None = None  # the target in its own units, when t is standardised
    # the first row as the CSV has it (column, cell) and as the network reads it (input, value)
    raw_row: list[tuple[str, str]] = field(default_factory=list)
    input_row: list[tuple[str, float]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------
# running and recording the step


@contextlib.contextmanager
def _recording(layers: list[Layer], records: list[dict[str, Any]]) -> Iterator[None]:
    """Wrap each layer's forward/backward (on the instance only) to copy what passes through."""

    def wrap(layer: Layer, rec: dict[str, Any]) -> None:
        fwd, bwd = layer.forward, layer.backward

        def forward(x, *args, **kwargs):
            out = fwd(x, *args, **kwargs)
            rec["in"], rec["out"] = x.copy(), out.copy()
            return out

        def backward(grad, *args, **kwargs):
            rec["grad_out"] = grad.copy()
            res = bwd(grad, *args, **kwargs)
            rec["grad_in"] = None if res is None else res.copy()
            if isinstance(layer, Dense):
                rec["dW"], rec["db"] = layer.W.grad.copy(), layer.b.grad.copy()
            elif _is_plugin_layer(layer):
                rec["grads"] = {p.name: p.grad.copy() for p in layer.parameters()}
            return res

        layer.forward = forward  # type: ignore[method-assign]
        layer.backward = backward  # type: ignore[method-assign]

    try:
        for layer, rec in zip(layers, records):
            wrap(layer, rec)
        yield
    finally:
        for layer in layers:
            layer.__dict__.pop("forward", None)
            layer.__dict__.pop("backward", None)


def _choose_rows(trainer, n: int, sample: int | None, batch: int | None) -> tuple[np.ndarray, str]:
    if sample is not None:
        if not 0 <= sample < n:
            raise NnlearnError(f"--sample {sample}: the training split has {n} rows "
                               f"(0 to {n - 1})")
        return np.array([sample]), f"training row {sample} alone (stochastic: one example)"
    # The first mini-batch of epoch 1, drawn exactly as Trainer.train_epoch draws it: the same
    # generator (so dropout masks drawn afterwards match training's too) and the same order.
    order = trainer.rng.permutation(n) if trainer.shuffle else np.arange(n)
    if batch is not None:
        if not 1 <= batch <= n:
            raise NnlearnError(f"--batch {batch}: expected 1 to {n} (the training split has "
                               f"{n} rows)")
        return order[:batch], f"the first {batch} rows of epoch 1's order"
    size = n if trainer.batch_size is None else min(trainer.batch_size, n)
    if size == n:
        return order, f"all {n} training rows (full batch), the first step `nnlearn train` takes"
    return order[:size], (f"the first mini-batch of epoch 1 ({size} of {n} rows), the first "
                          "step `nnlearn train` takes")


def _blocks(network, records: list[dict[str, Any]], before: dict[str, np.ndarray]) -> list[Block]:
    blocks: list[Block] = []
    for layer, rec in zip(network.layers, records):
        if isinstance(layer, Dense):
            blocks.append(Block(layer.name, None, rec["in"], before[layer.W.name],
                                before[layer.b.name], rec["out"], dL_dz=rec["grad_out"],
                                dL_dW=rec["dW"], dL_db=rec["db"], dL_dx=rec["grad_in"]))
            continue
        if _is_plugin_layer(layer):
            params = [(p.name, before[p.name], rec["grads"][p.name]) for p in layer.parameters()]
            blocks.append(Block(layer.name, None, rec["in"], np.empty(0), np.empty(0),
                                rec["out"], dL_dz=rec["grad_out"], dL_dx=rec["grad_in"],
                                kind=layer.kind, params=params))
            continue
        if not blocks:
            continue
        blk = blocks[-1]
        # the elementwise layers are stateless apart from their forward caches, which still
        # hold this step's forward: backward(ones) is their local derivative, elementwise
        local = layer.backward(np.ones_like(rec["out"]))
        blk.dL_da = rec["grad_out"]  # the last elementwise layer's: dL/d(block output)
        if isinstance(layer, Dropout):
            blk.dropout, blk.mask = layer.rate, local
        else:
            blk.activation, blk.fprime, blk.a = layer.kind, local, rec["out"]
    return blocks


def _short(name: str, blk: Block) -> str:
    """A plugin layer's parameter without its layer's name: ``low_rank_1.U`` -> ``U``."""
    return name.removeprefix(f"{blk.name}.")


def _decimals(delta: float) -> int:
    """Decimals that show ``delta`` (the change of a weight) to 3 significant digits."""
    if delta == 0 or not math.isfinite(delta):
        return 3
    return max(3, min(10, 2 - math.floor(math.log10(abs(delta)))))


def _signed(v: float, fmt: str = ".4g") -> str:
    """A factor in a product: negative numbers in parentheses, so ``0.5 × (-0.063)`` reads right."""
    return f"({v:{fmt}})" if v < 0 else f"{v:{fmt}}"


def _rule(opt) -> tuple[str, float | None]:
    """The optimizer's rule in words, and the factor c with ``step = c × g`` on a first step
    (None when the step depends on running statistics that a formula line cannot show)."""
    if type(opt) is SGD and (opt.momentum == 0 or opt.t == 1):
        if opt.momentum == 0:
            return "SGD: W ← W − learning_rate × dL/dW", opt.lr
        if not opt.nesterov:
            return (f"SGD with momentum {opt.momentum:g}: v ← {opt.momentum:g}·v + dL/dW, "
                    "W ← W − learning_rate × v; v starts at 0, so on this first step "
                    "v = dL/dW"), opt.lr
        return (f"SGD with Nesterov momentum {opt.momentum:g}: v ← {opt.momentum:g}·v + dL/dW, "
                f"W ← W − learning_rate × (dL/dW + {opt.momentum:g}·v); on this first step "
                f"v = dL/dW, so W ← W − learning_rate × {1 + opt.momentum:g} × dL/dW"), \
            opt.lr * (1 + opt.momentum)
    doc = (type(opt).__doc__ or type(opt).__name__).strip().splitlines()[0]
    return f"{doc} The step Δ below is the optimizer's (see nnlearn/nn/optimizers.py).", None


def _updates(network, before: dict[str, np.ndarray], opt, k: int) -> list[WeightUpdate]:
    """The ``k`` weights with the largest changes, taken in turn from each weight matrix (a
    Dense layer's W, a plugin layer's arrays of 2 or more dimensions)."""
    rule_factor = _rule(opt)[1]
    wd = opt.weight_decay
    ranked = []
    for p in network.parameters():
        if p.value.ndim < 2:  # biases
            continue
        delta = np.abs(before[p.name] - p.value).reshape(-1)
        ranked.append((p, list(np.argsort(-delta, kind="stable"))))
    chosen: list[tuple[Any, int]] = []
    depth = 0
    while len(chosen) < k and any(depth < len(r) for _, r in ranked):
        for p, order in ranked:
            if depth < len(order) and len(chosen) < k:
                chosen.append((p, int(order[depth])))
        depth += 1
    out = []
    for p, flat in chosen:
        idx = tuple(int(i) for i in np.unravel_index(flat, p.value.shape))
        w0, g, w1 = float(before[p.name][idx]), float(p.grad[idx]), float(p.value[idx])
        d = _decimals(w0 - w1)
        if rule_factor is not None:
            g_text = (_signed(g) if wd == 0
                      else f"({g:.4g} + {wd:g} × {_signed(w0, f'.{d}f')})")
            lr_text = f"{opt.lr:g}" if rule_factor == opt.lr else f"{opt.lr:g} × {1 + opt.momentum:g}"
            formula = f"{w0:.{d}f} − {lr_text} × {g_text} = {w1:.{d}f}"
        else:
            formula = f"{w0:.{d}f} − {_signed(w0 - w1)} = {w1:.{d}f}   (dL/dW = {g:.4g})"
        out.append(WeightUpdate(p.name, idx, w0, g, w1, formula))
    return out


def explain_step(prepared, *, sample: int | None = None, batch: int | None = None,
                 n_weights: int = 3) -> StepExplanation:
    """Run one real ``train_step`` on ``prepared`` (from ``runs.prepare``) and record it.

    ``sample``: that row of the training split alone; ``batch``: the first ``batch`` rows of
    epoch 1's shuffled order; neither: exactly the first mini-batch ``nnlearn train`` uses.
    The network's weights and the optimizer's state change: this *is* the step.
    """
    if sample is not None and batch is not None:
        raise NnlearnError("give --sample or --batch, not both")
    trainer = prepared.trainer
    net, loss, opt = trainer.network, trainer.loss, trainer.optimizer
    train = prepared.train
    rows, note = _choose_rows(trainer, len(train), sample, batch)
    x, y = train.x[rows], train.y[rows]
    w = None if train.w is None else train.w[rows]
    net.train()
    notes = []
    has_dropout = any(isinstance(layer, Dropout) and layer.rate > 0 for layer in net.layers)
    before = net.get_weights()
    lr = opt.lr
    records: list[dict[str, Any]] = [{} for _ in net.layers]
    with np.errstate(over="ignore", invalid="ignore"), _recording(net.layers, records):
        loss_before = train_step(net, loss, opt, x, y, w, clip_norm=trainer.clip_norm,
                                 clip_value=trainer.clip_value)
    blocks = _blocks(net, records, before)
    clipped = any(not np.array_equal(rec["dW"], layer.W.grad)
                  for layer, rec in zip(net.layers, records) if isinstance(layer, Dense))
    if clipped:
        notes.append("gradient clipping changed dL/dW before the update (training.clip_grad_*): "
                     "the update lines use the clipped values")
    with np.errstate(over="ignore", invalid="ignore"):
        if has_dropout:
            # compare like with like: dropout off, before (from the saved weights) and after
            after_w = net.get_weights()
            net.set_weights(before)
            loss_before = loss.value(net.predict(x), y, w)
            net.set_weights(after_w)
            notes.append("dropout is on in the step itself; the two losses below are measured "
                         "with dropout off")
        loss_after = loss.value(net.predict(x), y, w)
    out_z = blocks[-1].z
    output = None
    if loss.task == "classification":
        probs = loss.output(out_z)
        output = probs[:, 1:] if loss.name == "bce" else probs
    table = prepared.train_table
    at = prepared.train_idx[rows]
    lines = [int(v) for v in table.lines[at]]
    model = prepared.model
    raw_target = None
    if getattr(model, "target_scaler", None) is not None:
        raw_target = model.target_scaler.inverse_transform(np.asarray(y, dtype=np.float64))
    raw_row, input_row = _first_row(prepared, int(prepared.train_idx[rows[0]]), x[0])
    # With one-hot columns the table's numbers are not x's columns: the encoded row shows them.
    encoded = model.encoding is not None and model.encoding.encodes
    return StepExplanation(
        seed=int(prepared.cfg["seed"]), rows=[int(r) for r in rows], lines=lines,
        data_path=str(table.path), batch_note=note, n_train=len(train), loss_name=loss.name,
        target=y, sample_weights=w, output=output, blocks=blocks, loss_before=float(loss_before),
        loss_after=float(loss_after), optimizer=type(opt).__name__, lr=lr, rule=_rule(opt)[0],
        updates=_updates(net, before, opt, n_weights), clipped=clipped, notes=notes,
        n_params=net.n_params(),
        raw_x=(None if model.scaler is None or encoded
               else np.asarray(table.X[at], dtype=np.float64)),
        classes=None if model.task != "classification" else [str(c) for c in model.classes],
        raw_target=raw_target, raw_row=raw_row, input_row=input_row)


def _first_row(prepared, r: int, x: np.ndarray) -> tuple[list[tuple[str, str]],
                                                         list[tuple[str, float]]]:
    """Row ``r`` of the training table as its cells, and ``x``, the network's input for it."""
    table, model = prepared.train_table, prepared.model
    if model.encoding is None or not model.encoding.encodes:
        return [], []  # the inputs are the columns themselves: FORWARD shows them as x
    raw = []
    for c in model.feature_names:
        if c in table.text:
            cell = str(table.text[c][r])
        else:
            value = float(table.X[r, table.feature_names.index(c)])
            cell = "" if math.isnan(value) else f"{value:g}"
        raw.append((c, cell or "(empty)"))
    return raw, list(zip(model.encoding.names, map(float, x)))


# ------------------------------------------------------------------------------------------
# text


def _num_format(arr: np.ndarray) -> str:
    finite = arr[np.isfinite(arr)]
    big = float(np.abs(finite).max()) if finite.size else 0.0
    if big == 0:
        return ".3f"
    if big < 1e6 and np.array_equal(finite, np.round(finite)):
        return ".0f"  # class labels, 0/1 inputs
    if big >= 1e5 or big < 1e-6:
        return ".2e"
    return f".{max(3, min(6, 2 - math.floor(math.log10(big))))}f"


def _matrix(title: str, arr: np.ndarray, max_rows: int, max_cols: int) -> list[str]:
    """A titled block of lines: every value when small, else shape and statistics."""
    a = np.asarray(arr, dtype=np.float64)
    shape = "×".join(map(str, a.shape))
    if a.ndim == 1:
        a = a.reshape(1, -1)
    head = f"{title} ({shape})"
    if a.shape[0] > max_rows or a.shape[1] > max_cols:
        mean = a.mean()
        if abs(mean) < 1e-12 * max(np.abs(a).max(), 1e-300):
            mean = 0.0  # a sum that cancels exactly, up to rounding
        return [head, f"  mean {mean:.3g}  std {a.std():.3g}",
                f"  min {a.min():.3g}  max {a.max():.3g}"]
    fmt = _num_format(a)
    cells = [[format(v, fmt) for v in row] for row in a]
    width = max(len(c) for row in cells for c in row)
    return [head] + ["  " + " ".join(c.rjust(width) for c in row) for row in cells]


def _target_blocks(ex: StepExplanation, n: int, max_rows: int, max_cols: int) -> list[list[str]]:
    """The target: class indices with their names, or the standardised target beside the raw
    one, so ``t = 0`` reads as ``setosa`` and ``t = -1.269`` as the value in the CSV."""
    t = np.asarray(ex.target).reshape(n, -1)
    named = ex.classes is not None and any(c != str(k) for k, c in enumerate(ex.classes))
    if named:
        ids = t[:, 0].astype(int)
        if n > max_rows:
            named = ", ".join(f"{k} = {c}" for k, c in enumerate(ex.classes))
            return [_matrix("target t", t, max_rows, max_cols), ["classes", f"  {named}"]]
        return [[f"target t ({n}×1)", *(f"  {k} {ex.classes[k]}" for k in ids)]]
    if ex.raw_target is not None:
        raw = np.asarray(ex.raw_target).reshape(n, -1)
        return [_matrix("target, from the CSV", raw, max_rows, max_cols),
                _matrix("t = (target − mean) / std", t, max_rows, max_cols)]
    return [_matrix("target t", t, max_rows, max_cols)]


def _show_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it (shorter, portable)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def _loss(v: float) -> str:
    return f"{v:.6f}" if math.isfinite(v) and 1e-3 <= abs(v) < 1e3 else f"{v:.6g}"


def _flow(blocks: list[list[str]], width: int, gap: int = 4) -> list[str]:
    """Blocks side by side, as many per band as fit in ``width``; bands one under another."""
    out: list[str] = []
    band: list[list[str]] = []

    def flush() -> None:
        if not band:
            return
        widths = [max(len(s) for s in b) for b in band]
        for i in range(max(len(b) for b in band)):
            parts = [(b[i] if i < len(b) else "").ljust(w) for b, w in zip(band, widths)]
            out.append((" " * gap).join(parts).rstrip())
        band.clear()

    used = 0
    for b in blocks:
        w = max(len(s) for s in b)
        if band and used + gap + w > width:
            flush()
            used = 0
        used = w if not band else used + gap + w
        band.append(b)
    flush()
    return out


def format_explanation(ex: StepExplanation, *, max_rows: int = 8, max_cols: int = 8,
                       width: int = 100) -> str:
    """The step as text: forward, loss, backward (last layer first), update, loss after.

    Arrays up to ``max_rows`` × ``max_cols`` are shown in full, larger ones as statistics;
    blocks are laid side by side within ``width`` columns.
    """
    def m(title: str, arr) -> list[str]:
        return _matrix(title, arr, max_rows, max_cols)

    def flow(parts: list[list[str]]) -> list[str]:
        return ["  " + s if s else s for s in _flow(parts, width - 2)]

    n = len(ex.rows)
    rows = "s" if n > 1 else ""
    if n == 1:
        where = f"Training row {ex.rows[0]} of {ex.n_train}: line {ex.lines[0]} of "
    elif n <= 16:
        where = f"Training rows {' '.join(map(str, ex.rows))} of {ex.n_train}, from "
    else:
        where = f"{n} of the {ex.n_train} training rows, from "
    out = [
        *textwrap.wrap(f"One training step, seed {ex.seed}: {ex.batch_note}.", width),
        f"{where}{_show_path(ex.data_path)}.",
        "Rows are samples: x is (n, inputs), W (inputs, units), b (units), z and a (n, units).",
    ]
    for note in ex.notes:
        out += textwrap.wrap(f"Note: {note}.", width, subsequent_indent="  ")
    if ex.raw_x is not None:
        out += textwrap.wrap("Inputs are standardised: x = (raw − mean) / std, with each "
                             "feature's mean and std over the training split "
                             "(data.standardize).", width)
    if ex.raw_row:
        def listed(pairs: list[tuple[str, str]]) -> str:
            more = f", ... ({len(pairs)} in all)" if len(pairs) > 8 else ""
            return ", ".join(f"{k}: {v}" for k, v in pairs[:8]) + more

        # a cell filled with the training mean standardises to 0 up to rounding (1e-16): show 0
        shown = [(k, f"{0.0 if abs(v) < 1e-12 else v:.3g}") for k, v in ex.input_row]
        out += textwrap.wrap(
            f"Input, line {ex.lines[0]}: {listed(ex.raw_row)}  →  x (encoded, standardised): "
            f"{listed(shown)}", width, subsequent_indent="  ")
    out += ["", f"FORWARD  (input → output), n = {n}"]
    last_i = len(ex.blocks) - 1
    for i, blk in enumerate(ex.blocks):
        below = ex.blocks[i - 1] if i else None
        x_from = "" if below is None else (
            f", x = a of {below.name}" if below.mask is None else f", x = a ⊙ mask of {below.name}")
        kind = "the output layer" if i == last_i else f"a = {blk.activation}(z)"
        z_is = "z = x·W + b" if blk.kind == "dense" else f"z = {blk.kind}(x)"
        out.append(f"{blk.name}: {z_is}, {kind}{x_from}")
        parts = ([m("W", blk.W), m("b", blk.b)] if blk.kind == "dense"
                 else [m(_short(name, blk), value) for name, value, _ in blk.params])
        if i == 0 and ex.raw_x is not None:
            parts += [m("raw x, from the CSV", ex.raw_x), m("x = (raw − mean) / std", blk.x)]
        elif i == 0:
            parts.append(m("x", blk.x))
        parts.append(m(z_is, blk.z))
        if i != last_i:
            parts.append(m(f"a = {blk.activation}(z)", blk.a))
        if blk.mask is not None:
            parts.append(m(f"dropout mask (rate {blk.dropout:g})", blk.mask))
        if i == last_i and ex.output is not None:
            parts.append(m("p = sigmoid(z)" if ex.loss_name == "bce" else "p = softmax(z)",
                           ex.output))
        if i == last_i:
            parts += _target_blocks(ex, n, max_rows, max_cols)
        out += flow(parts)
    # a plugin's loss: nnlearn knows only its value() and gradient(), not their formulas
    per_row, grad_text = LOSS_TEXT.get(ex.loss_name, (f"the per-row {ex.loss_name} loss",
                                                      "dL/dz from the loss's gradient()"))
    weighted = " (each row times its sample weight)" if ex.sample_weights is not None else ""
    out += ["", f"LOSS  {ex.loss_name}: L = mean over the {n} row{rows} of {per_row}{weighted}",
            f"  L = {_loss(ex.loss_before)}", "",
            "BACKWARD  (the chain rule, last layer first)"]
    for i in range(last_i, -1, -1):
        blk = ex.blocks[i]
        if i == last_i:
            out.append(f"{blk.name}: {grad_text}")
            parts = [m("dL/dz", blk.dL_dz)]
        else:
            out.append(f"{blk.name}: dL/da is the dL/dx {ex.blocks[i + 1].name} handed down")
            deriv = LOCAL_DERIVATIVE.get(blk.activation or "", "f'(z)")
            mask = " ⊙ mask" if blk.mask is not None else ""
            parts = [m("dL/da", blk.dL_da), m(deriv, blk.fprime)]
            if blk.mask is not None:
                parts.append(m("mask", blk.mask))
            parts.append(m(f"dL/dz = dL/da ⊙ f'(z){mask}", blk.dL_dz))
        if blk.kind == "dense":
            parts += [m("dL/dW = xᵀ·dL/dz", blk.dL_dW), m("dL/db = Σ rows of dL/dz", blk.dL_db)]
        else:  # a plugin's backward: nnlearn shows what it set, not how
            parts += [m(f"dL/d{_short(name, blk)}, from its backward", grad)
                      for name, _, grad in blk.params]
        dx_is = "dL/dx = dL/dz·Wᵀ" if blk.kind == "dense" else "dL/dx, from its backward,"
        out += flow(parts)
        if blk.dL_dx is None:
            out.append("  dL/dx: not computed; x is the data, which nothing updates "
                       "(training skips this product)")
        elif i == 0:
            out += flow([m(dx_is.rstrip(","), blk.dL_dx)])
        else:
            shape = "×".join(map(str, blk.dL_dx.shape))
            out.append(f"  {dx_is} ({shape}) goes down to {ex.blocks[i - 1].name} "
                       "as its dL/da")
    out += ["", f"UPDATE  learning rate {ex.lr:g}"]
    out += textwrap.wrap(ex.rule, width - 2, initial_indent="  ", subsequent_indent="  ")
    for u in ex.updates:
        out.append(f"  {u.label} = {u.formula}")
    out.append(f"  (the largest changes per layer; all {ex.n_params} weights and biases move "
               "by the same rule)")
    change = ex.loss_after - ex.loss_before
    direction = "down" if change < 0 else "up"
    out += ["", (f"LOSS ON THE SAME {n} ROW{rows.upper()}  before the step {_loss(ex.loss_before)}, after "
            f"{_loss(ex.loss_after)}  ({direction} {abs(change):.3g})")]
    return "\n".join(out)
