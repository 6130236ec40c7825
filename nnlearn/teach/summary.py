"""What a network is made of: one row per Dense (or plugin) layer, with the activation that
follows it, parameter counts, and the arithmetic one sample costs going forward and backward.

FLOP counting convention (per sample; a multiply and an add each count 1, so a multiply-add is 2):

- Dense forward, ``z = x·W + b``: each of the d_out outputs takes d_in multiplies and d_in - 1
  adds, plus the bias add: exactly ``2·d_in·d_out``.
- Dense backward: ``dL/dW += xᵀ·dL/dz`` is ``2·d_in·d_out`` (multiply, then accumulate over the
  batch), ``dL/db`` is ``d_out`` adds, and ``dL/dx = dL/dz·Wᵀ`` is ``2·d_in·d_out`` (counted the
  same way as forward). The first Dense layer skips dL/dx, as training does: nothing updates
  the data, so backward is about twice forward.
- Activations and dropout: 1 FLOP per unit forward (one evaluation of f, although exp or tanh
  cost more in practice) and 1 per unit backward (the multiply by f'(z)).
- Not counted: the loss and its gradient (a few operations per output), the optimizer's update
  (once per step, not per sample: about 2-10 FLOPs per parameter depending on the optimizer).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nnlearn.nn.layers import Dense, Dropout, Layer

#: how the fused loss turns the last layer's raw output into what it compares with the target
OUTPUT_FUNCTION = {
    "cross_entropy": "softmax (in the loss)",
    "bce": "sigmoid (in the loss)",
    "mse": "identity",
    "mae": "identity",
}

FLOP_CONVENTION = (
    "FLOPs per sample, a multiply and an add counting 1 each. Dense: forward 2·in·out; backward\n"
    "2·in·out for dL/dW + out for dL/db + 2·in·out for dL/dx (the first layer skips dL/dx, as\n"
    "training does). Activations, dropout: 1 per unit each way. Loss, optimizer: not counted."
)


@dataclass
class LayerRow:
    """One Dense (or plugin) layer and the elementwise layers after it (activation, dropout)."""

    name: str
    type: str
    activation: str
    inputs: int
    outputs: int
    weights: int
    biases: int
    params: int
    dropout: float
    flops_forward: int
    flops_backward: int


@dataclass
class Summary:
    n_inputs: int
    rows: list[LayerRow]
    loss: str | None
    convention: str = FLOP_CONVENTION
    totals: dict[str, int] = field(default_factory=dict)
    inputs: str | None = None  # what the inputs are, e.g. "4 numeric + 3 one-hot = 7 inputs"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _activation_name(layer: Layer) -> str:
    return layer.kind


def summarize(network, loss_name: str | None = None, *, inputs: str | None = None) -> Summary:
    """Group ``network.layers`` into Dense blocks and count parameters and FLOPs per sample.

    ``loss_name`` names the loss, so the output layer's row can say which function the loss
    fuses into it (softmax, sigmoid) or that the output is used as it is (regression).
    ``inputs`` says what the inputs are (the CSV columns encoded), printed under the table.
    """
    rows: list[LayerRow] = []
    first = True
    plugin_kinds: list[str] = []
    for layer in network.layers:
        if not isinstance(layer, Dense) and hasattr(layer, "d_in"):
            # a plugin's layer: nnlearn knows its parameters, not its arithmetic; it is counted
            # as products of its input with its weights (2 per weight), which a Dense is. Its
            # backward takes no need_input_grad, so it computes dL/dx even as the first layer.
            d_in, d_out = layer.d_in, layer.d_out
            sizes = [(p.value.ndim, p.value.size) for p in layer.parameters()]
            weights = sum(n for ndim, n in sizes if ndim != 1)
            biases = sum(n for ndim, n in sizes if ndim == 1)
            backward = 2 * weights + biases + 2 * weights
            rows.append(LayerRow(layer.name, layer.kind, "", d_in, d_out, weights, biases,
                                 weights + biases, 0.0, 2 * weights, backward))
            plugin_kinds += [layer.kind] if layer.kind not in plugin_kinds else []
            first = False
            continue
        if isinstance(layer, Dense):
            d_in, d_out = layer.d_in, layer.d_out
            backward = 2 * d_in * d_out + d_out + (0 if first else 2 * d_in * d_out)
            rows.append(LayerRow(layer.name, "Dense", "", d_in, d_out, layer.W.value.size,
                                 layer.b.value.size, layer.W.value.size + layer.b.value.size,
                                 0.0, 2 * d_in * d_out, backward))
            first = False
            continue
        if not rows:  # an elementwise layer before any Dense: count it against no block
            continue
        row = rows[-1]
        row.flops_forward += row.outputs
        row.flops_backward += row.outputs
        if isinstance(layer, Dropout):
            row.dropout = layer.rate
        else:
            row.activation = _activation_name(layer)
    if rows and not rows[-1].activation:
        rows[-1].activation = OUTPUT_FUNCTION.get(  # a plugin's loss: its own output()
            loss_name or "", f"{loss_name}.output (in the loss)" if loss_name else "identity")
    totals = {key: sum(getattr(r, key) for r in rows)
              for key in ("weights", "biases", "params", "flops_forward", "flops_backward")}
    totals["flops_train"] = totals["flops_forward"] + totals["flops_backward"]
    n_inputs = rows[0].inputs if rows else 0
    convention = FLOP_CONVENTION
    if plugin_kinds:
        convention += (f"\nPlugin layers ({', '.join(plugin_kinds)}): counted as a Dense is, "
                       "per weight (its arrays of 2 or more\ndimensions; 1-d arrays are biases); "
                       "dL/dx always, their backward computes it.")
    return Summary(n_inputs, rows, loss_name, convention, totals=totals, inputs=inputs)


def _human(n: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= 10 * size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def format_summary(summary: Summary) -> str:
    """The summary as an aligned text table, totals and the counting convention below it."""
    header = ["layer", "type", "activation", "in", "out", "weights", "biases", "params",
              "fwd FLOPs", "bwd FLOPs"]
    cells = [header, ["input", "", "", "", str(summary.n_inputs), "", "", "", "", ""]]
    for r in summary.rows:
        act = r.activation + (f" + dropout {r.dropout:g}" if r.dropout else "")
        cells.append([r.name, r.type, act, str(r.inputs), str(r.outputs), str(r.weights),
                      str(r.biases), str(r.params), str(r.flops_forward),
                      str(r.flops_backward)])
    t = summary.totals
    cells.append(["total", "", "", "", "", str(t["weights"]), str(t["biases"]), str(t["params"]),
                  str(t["flops_forward"]), str(t["flops_backward"])])
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    left = {0, 1, 2}
    lines = ["  ".join(c.ljust(w) if i in left else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in cells]
    rule = "-" * len(lines[0])
    lines.insert(1, rule)
    lines.insert(len(lines) - 1, rule)
    lines += [""] + ([f"Inputs: {summary.inputs}."] if summary.inputs else []) + [
        (f"{t['params']} trainable parameters. Per sample: {_human(t['flops_forward'])} FLOPs "
        f"forward + {_human(t['flops_backward'])} backward = {_human(t['flops_train'])} "
        "per training sample."),
        summary.convention,
    ]
    return "\n".join(lines)
