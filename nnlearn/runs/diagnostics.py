"""Training diagnostics: per Dense layer and epoch, the numbers that say whether gradients flow
and whether the learning rate fits, and plain-language warnings drawn from them.

Measured once per epoch, after its last step; nothing is computed per batch:

    weight_norm         ||W||
    grad_norm           ||dL/dW|| of the epoch's last step (the gradient left in ``.grad``)
    update_ratio        ||W_now - W_epoch_before|| / ||W_epoch_before||: how much the epoch moved W
    step_ratio          update_ratio / steps per epoch: roughly the relative change of one step
    dead_fraction       ReLU layers: units that output 0 for every probe row (they get no
                        gradient, so they never learn again)
    saturated_fraction  sigmoid/tanh layers: activations in the flat tails (tanh |a| > 0.99,
                        sigmoid a < 0.01 or > 0.99), where f'(z) ~ 0 stops the gradient

The two activation fractions come from one forward pass, in evaluation mode, on a fixed *probe*
batch (up to 128 training rows, drawn with a generator of its own): cheap next to the epoch, and
it leaves training's generator, weights and optimizer alone, so a run with diagnostics produces
bit-identical weights to a run without.
"""

from __future__ import annotations

import csv
import io
import math
import warnings

import numpy as np

from nnlearn.nn.layers import Dense, Dropout
from nnlearn.nn.training import Callback, Split

METRICS = ("weight_norm", "grad_norm", "update_ratio", "step_ratio", "dead_fraction",
           "saturated_fraction")
COLUMNS = ("epoch", "layer", "activation", *METRICS)
_M = {name: i for i, name in enumerate(METRICS)}

#: thresholds behind the warnings (rules of thumb; see ``Diagnostics.warnings``)
EXPLODING_GROWTH = 10.0      # grad norm grew this many times while the loss rose
STEP_TOO_LARGE = 0.3         # a step changes a layer's weights by 30 % of their size
STEP_TOO_SMALL = 1e-5        # a step changes every layer's weights by 0.001 % of their size
VANISHING_RATIO = 1e-3       # first layer's relative gradient / last layer's
DEAD_FRACTION = 0.5          # half of a ReLU layer's units dead
SATURATED_FRACTION = 0.5     # half of a sigmoid/tanh layer's activations saturated
EARLY_EPOCHS = 5             # the learning-rate rules look at the first few epochs


def _pct(fraction: float) -> str:
    if not math.isfinite(fraction):
        return "an unbounded amount"
    return f"{100 * fraction:.0f}%" if fraction >= 0.1 else f"{100 * fraction:.2g}%"


class Diagnostics(Callback):
    """Records ``METRICS`` per Dense layer at the end of every epoch; ``to_csv`` and
    ``warnings`` report them. ``train`` is the training split (the probe is drawn from it)."""

    def __init__(self, train: Split, *, probe_size: int = 128, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)  # its own generator: training's stays untouched
        n = len(train)
        rows = np.sort(rng.choice(n, size=min(probe_size, n), replace=False))
        self.x = train.x[rows]
        self.n_train = n
        self.layers: list[tuple[str, str]] = []   # (Dense name, activation after it)
        self.records: list[np.ndarray] = []       # per epoch: (n_layers, len(METRICS))
        self.epochs: list[int] = []
        self.losses: list[float] = []
        self._prev: dict[str, np.ndarray] | None = None
        self.steps_per_epoch = 1

    # -- recording ----------------------------------------------------------------------------
    def on_train_begin(self, trainer) -> None:
        net = trainer.network
        self.layers = []
        after_dense = False  # a plugin's layer (placed with d_in) is not watched, nor what follows
        for layer in net.layers:
            if isinstance(layer, Dense):
                self.layers.append((layer.name, ""))
                after_dense = True
            elif hasattr(layer, "d_in"):
                after_dense = False
            elif after_dense and not isinstance(layer, Dropout):
                self.layers[-1] = (self.layers[-1][0], layer.kind)
        b = self.n_train if trainer.batch_size is None else min(trainer.batch_size, self.n_train)
        self.steps_per_epoch = max(1, math.ceil(self.n_train / max(b, 1)))
        if self._prev is None:
            self._prev = self._weights(net)

    @staticmethod
    def _weights(net) -> dict[str, np.ndarray]:
        return {layer.name: layer.W.value.copy() for layer in net.layers
                if isinstance(layer, Dense)}

    def on_epoch_end(self, trainer, logs) -> None:
        net = trainer.network
        was_training = net.training
        net.eval()
        acts: dict[str, np.ndarray] = {}
        try:
            h, current = self.x, None
            for layer in net.layers:
                h = layer.forward(h)
                if isinstance(layer, Dense):
                    current = layer.name
                elif hasattr(layer, "d_in"):
                    current = None
                elif not isinstance(layer, Dropout) and current is not None:
                    acts[current] = h
        finally:
            if was_training:
                net.train()
        dense = [layer for layer in net.layers if isinstance(layer, Dense)]
        rec = np.full((len(dense), len(METRICS)), np.nan)
        for i, layer in enumerate(dense):
            w_now, w_prev = layer.W.value, self._prev[layer.name]
            rec[i, _M["weight_norm"]] = np.linalg.norm(w_now)
            rec[i, _M["grad_norm"]] = np.linalg.norm(layer.W.grad)
            prev_norm = np.linalg.norm(w_prev)
            ratio = np.linalg.norm(w_now - w_prev) / prev_norm if prev_norm > 0 else np.nan
            rec[i, _M["update_ratio"]] = ratio
            rec[i, _M["step_ratio"]] = ratio / self.steps_per_epoch
            kind = self.layers[i][1]
            a = acts.get(layer.name)
            if a is not None and kind == "relu":
                rec[i, _M["dead_fraction"]] = np.mean(np.all(a <= 0, axis=0))
            elif a is not None and kind == "tanh":
                rec[i, _M["saturated_fraction"]] = np.mean(np.abs(a) > 0.99)
            elif a is not None and kind == "sigmoid":
                rec[i, _M["saturated_fraction"]] = np.mean((a < 0.01) | (a > 0.99))
        self.records.append(rec)
        self.epochs.append(int(logs["epoch"]))
        self.losses.append(float(logs["train_loss"]))
        self._prev = self._weights(net)

    # -- resume -------------------------------------------------------------------------------
    def state_dict(self):
        arrays = {f"prev/{k}": v for k, v in (self._prev or {}).items()}
        if self.records:
            arrays["records"] = np.stack(self.records)
        return arrays, {"epochs": list(self.epochs), "losses": list(self.losses)}

    def load_state_dict(self, arrays, meta) -> None:
        self._prev = {k[5:]: v.copy() for k, v in arrays.items() if k.startswith("prev/")} or None
        self.records = list(arrays["records"].copy()) if "records" in arrays else []
        self.epochs = [int(e) for e in meta["epochs"]]
        self.losses = [math.nan if v is None else float(v) for v in meta["losses"]]

    # -- reporting ----------------------------------------------------------------------------
    def metric(self, name: str) -> np.ndarray:
        """(epochs, layers) array of one metric."""
        if not self.records:
            return np.empty((0, len(self.layers)))
        return np.stack(self.records)[:, :, _M[name]]

    def to_csv(self) -> str:
        """One row per epoch and Dense layer; empty cells where a metric does not apply."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for epoch, rec in zip(self.epochs, self.records):
            for (name, act), values in zip(self.layers, rec):
                writer.writerow([epoch, name, act or "output",
                                 *["" if math.isnan(v) else f"{v:.6g}" for v in values]])
        return buf.getvalue()

    def warnings(self) -> list[str]:
        """Plain-language warnings, at most one per kind (and layer); empty when all is well."""
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN columns: rules that do not apply
            return self._warnings()

    def _warnings(self) -> list[str]:
        if not self.records:
            return []
        out: list[str] = []
        names = [name for name, _ in self.layers]
        grad = self.metric("grad_norm")
        step = self.metric("step_ratio")
        losses = np.array(self.losses)
        early = slice(0, min(EARLY_EPOCHS, len(self.records)))
        last = len(self.records) - 1

        # exploding: gradients growing by an order of magnitude while the loss rises
        finite = np.isfinite(grad).all() and np.isfinite(losses).all()
        if not finite:
            out.append("exploding gradients: gradients or the loss became inf/NaN; lower "
                       "training.learning_rate (e.g. 10x) or set training.clip_grad_norm")
        elif len(self.records) >= 2 and losses[-1] > losses[0]:
            first, peak = grad[0], grad.max(axis=0)
            growth = np.where(first > 0, peak / first, 0.0)
            worst = int(np.argmax(growth))
            if growth[worst] >= EXPLODING_GROWTH:
                out.append(
                    f"exploding gradients: the gradient norm of {names[worst]} grew "
                    f"{growth[worst]:.3g}x (from {first[worst]:.3g} to {peak[worst]:.3g}) while "
                    f"the training loss rose from {losses[0]:.4g} to {losses[-1]:.4g}; lower "
                    "training.learning_rate (e.g. 10x) or set training.clip_grad_norm")

        # the learning rate: how far one step moves the weights, relative to their size
        biggest = np.nanmax(step[early], axis=0)
        typical = np.nanmedian(step[early], axis=0)
        if np.nanmax(biggest) > STEP_TOO_LARGE:
            i = int(np.nanargmax(biggest))
            out.append(
                f"learning rate far too large: in the first epochs one step changed "
                f"{names[i]}'s weights by about {_pct(biggest[i])} of their size (healthy "
                "is well under 10%); lower training.learning_rate")
        elif np.nanmax(typical) < STEP_TOO_SMALL:
            out.append(
                f"learning rate far too small: one step changes the weights by at most "
                f"{_pct(np.nanmax(typical))} of their size (healthy is around 0.1%); the "
                "network will barely move: raise training.learning_rate (e.g. 10x)")

        # vanishing: the first layer learns orders of magnitude slower than the last
        if len(names) >= 3:
            wn = self.metric("weight_norm")
            rel = grad / wn
            ratio = np.nanmedian(rel[early, 0] / rel[early, -1])
            if ratio < VANISHING_RATIO:
                out.append(
                    f"vanishing gradients: relative to its weights, {names[0]}'s gradient is "
                    f"{ratio:.2g} times the output layer's, so the first layers barely learn; "
                    "try relu or leaky_relu (with He init) or fewer layers")

        dead = self.metric("dead_fraction")[last]
        for i, frac in enumerate(dead):
            if np.isfinite(frac) and frac >= DEAD_FRACTION:
                out.append(
                    f"dead ReLUs: {100 * frac:.0f}% of {names[i]}'s units output 0 for every "
                    "probe row, so they get no gradient and never recover; lower "
                    "training.learning_rate, or use leaky_relu or elu")
        # saturation late in a run that learned is confidence, not a problem: look at the start
        sat = np.nanmedian(self.metric("saturated_fraction")[early], axis=0)
        for i, frac in enumerate(sat):
            if np.isfinite(frac) and frac >= SATURATED_FRACTION:
                out.append(
                    f"saturated {self.layers[i][1]}: {100 * frac:.0f}% of {names[i]}'s "
                    "activations sit in the flat tails where f'(z) ~ 0, so little gradient gets "
                    "through; standardize the inputs (data.standardize), use xavier init, or "
                    "lower training.learning_rate")
        return out
