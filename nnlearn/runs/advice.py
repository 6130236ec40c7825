"""Plain-words warnings about a finished run, read off its learning curves and final metrics.

Like scikit-learn's ConvergenceWarning, they say what the numbers mean and what to try:

- overshooting: the training loss ended higher than it began, a learning rate far too large;
- overfitting: the validation loss rose over the last epochs while the training loss fell;
- not converged: the loss was still falling clearly at the last epoch (and the training data
  is not yet classified without error);
- chance level: the accuracy is no better than always answering the most common class;
- look-alike classes: two class names that differ only in case (a typo makes a new class).

``run_warnings`` returns sentences; printing them is the caller's business.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

#: The last ``max(MIN_WINDOW, epochs // 10)`` epochs are the "end of the run" for the trends.
MIN_WINDOW = 3
#: A rise or fall smaller than this share of the loss is noise, not a trend.
TREND = 0.02
#: A training loss that ends more than this share above its first epoch's has overshot.
ROSE = 0.5
#: Accuracy within this of the most common class's share is "at chance level".
CHANCE_MARGIN = 0.02


def _series(history: Sequence[Mapping[str, float]], key: str) -> list[float]:
    return [float(row[key]) for row in history
            if key in row and isinstance(row[key], (int, float)) and math.isfinite(row[key])]


def _window(n: int) -> int:
    return max(MIN_WINDOW, n // 10)


def overshooting(history: Sequence[Mapping[str, float]]) -> str | None:
    """The training loss over the last epochs (their median) is well above the first epoch's
    (by more than ``ROSE``): the steps jump across the valley instead of descending into it. A
    finite loss, so training did not stop as diverged, but nothing else about the run can be
    trusted. (A run continued from trained weights starts low and wobbles by a few per cent;
    that is not this.)"""
    train = _series(history, "train_loss")
    n = len(train)
    k = _window(n)
    if n <= k:
        return None
    end = statistics.median(train[-k:])
    if end <= train[0] + ROSE * abs(train[0]):
        return None
    return (f"overshooting: the training loss rose, {train[0]:.4g} in the first epoch and "
            f"{end:.4g} (median) over the last {k}; the steps are too large to descend: lower "
            "training.learning_rate, e.g. by 10x")


def overfitting(history: Sequence[Mapping[str, float]]) -> str | None:
    """The validation loss rose over the last epochs (best epoch at least a window before the
    end, the last value clearly above the best) while the training loss kept falling."""
    val, train = _series(history, "val_loss"), _series(history, "train_loss")
    n = len(val)
    k = _window(n)
    if n != len(train) or n <= k:
        return None
    best = min(range(n), key=val.__getitem__)
    rose = n - 1 - best >= k and val[-1] > val[best] + TREND * abs(val[best])
    fell = train[-1] < train[-1 - k]
    if not (rose and fell):
        return None
    return (f"overfitting: the validation loss rose for the last {n - 1 - best} epochs "
            f"({val[best]:.4g} at epoch {best + 1}, {val[-1]:.4g} at the end) while the training "
            "loss fell; try early stopping (training.early_stopping), weight decay "
            "(training.weight_decay) or dropout (model.dropout)")


def not_converged(history: Sequence[Mapping[str, float]]) -> str | None:
    """The loss (validation loss when there is one) was at its lowest at the end and fell by
    more than ``TREND`` over the last window of epochs: more epochs would still help."""
    key = "val_loss" if _series(history, "val_loss") else "train_loss"
    values = _series(history, key)
    n = len(values)
    k = _window(n)
    if n <= k:
        return None
    start, end = values[-1 - k], values[-1]
    if not (end <= min(values) and start - end > TREND * abs(start)):
        return None
    return (f"not converged: {key} was still falling at the last epoch ({start:.4g} → "
            f"{end:.4g} over the last {k} epochs); train more epochs (training.epochs) or "
            "raise training.learning_rate")


def chance_level(metrics: Mapping[str, Any]) -> str | None:
    """Training accuracy no better than answering the most common class every time."""
    train = metrics.get("train") or {}
    matrix = train.get("confusion_matrix")
    if "accuracy" not in train or not matrix:
        return None
    counts = [sum(row) for row in matrix]
    if not sum(counts):
        return None
    share = max(counts) / sum(counts)
    if train["accuracy"] > share + CHANCE_MARGIN:
        return None
    return (f"accuracy at chance level: {train['accuracy']:.4g} on the training data, what "
            f"always answering the most common class gives ({share:.4g}); the network learned "
            "nothing: check training.learning_rate (too large or too small) and the features")


def look_alike_classes(metrics: Mapping[str, Any]) -> str | None:
    """Class names that are the same word in another case (``Setosa``, ``setosa``): almost
    always a typo in the data, which trains as a class of its own."""
    classes = [str(c) for c in (metrics.get("train") or {}).get("classes") or []]
    groups: dict[str, list[str]] = {}
    for c in classes:
        groups.setdefault(c.casefold(), []).append(c)
    alike = [names for names in groups.values() if len(names) > 1]
    if not alike:
        return None
    shown = "; ".join(" and ".join(repr(n) for n in names) for names in alike)
    return (f"look-alike classes: {shown} differ only in case, so they are trained as "
            "different classes; if that is a typo, fix the labels in the data")


def run_warnings(history: Sequence[Mapping[str, float]], metrics: Mapping[str, Any]) -> list[str]:
    """Every warning that applies to a finished run: its per-epoch ``history`` and the final
    ``metrics`` (metrics.json). A run whose best weights early stopping restored is not
    warned about overfitting: the model kept is the one from before the rise."""
    rose = overshooting(history)
    if rose:  # the trends below assume the loss descends; here they would mislead
        return [w for w in (rose, chance_level(metrics), look_alike_classes(metrics)) if w]
    out = []
    if metrics.get("restored_epoch") is None:
        out.append(overfitting(history))
    stopped = str(metrics.get("stopped") or "")
    # Once every training row is classified right, cross-entropy (on the validation rows too)
    # keeps falling mostly because the weights grow more confident: no reason to train longer.
    perfect = (metrics.get("train") or {}).get("accuracy") == 1.0
    if not stopped.startswith("early stopping") and not perfect:
        out.append(not_converged(history))
    out.append(chance_level(metrics))
    out.append(look_alike_classes(metrics))
    return [w for w in out if w]
