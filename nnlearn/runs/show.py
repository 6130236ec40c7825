"""`nnlearn config show`: a resolved config as YAML, with every value a run will use written
out, and a comment beside each one that was decided for the user (``auto``, derived, drawn).

``dump_config`` keeps derived values as ``auto``/null so that its output stays an editable
input; this shows what they resolve to instead. Deciding the task (and so the loss) needs the
training data's target column, which is read here when the config leaves them ``auto``. The
result is still a valid config: it trains the same run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlearn.errors import NnlearnError, shown_path
from nnlearn.runs.config import dump_config


def _data_facts(cfg: dict[str, Any]) -> tuple[str, int | None, str]:
    """(task, number of classes or None, where that came from) read from the training data."""
    from nnlearn.data import LabelEncoder, infer_task
    from nnlearn.runs.run import read_training_table

    d = cfg["data"]
    table = read_training_table(cfg)
    task = d["task"] if d["task"] != "auto" else infer_task(table.y)
    where = f"column {d['target']!r} of {shown_path(table.path)}"
    if task != "classification":
        return task, None, where
    classes = LabelEncoder().fit(table.y, table.lines, table.path, column=d["target"]).classes_
    return task, len(np.asarray(classes)), where


def _decisions(cfg: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """{(section, key): (value to show, comment)} for every value decided for the user."""
    from nnlearn.runs.run import choose_loss

    d, m, t = cfg["data"], cfg["model"], cfg["training"]
    out: dict[tuple[str, str], tuple[str, str]] = {}
    if cfg.get("seed") is None:
        out[("", "seed")] = ("null", "drawn at random by each run, and written to its config.yaml")
    if d["task"] == "auto" or t["loss"] == "auto":
        try:
            task, k, where = _data_facts(cfg)
        except NnlearnError as exc:
            why = f"decided from the data when training (cannot read it now: {exc})"
            for section, key in (("data", "task"), ("training", "loss")):
                if (d if section == "data" else t)[key] == "auto":
                    out[(section, key)] = ("auto", why)
        else:
            kind = "numbers" if k is None else f"{k} classes"
            if d["task"] == "auto":
                out[("data", "task")] = (task, f"auto, from the target's values ({where}: {kind})")
            if t["loss"] == "auto":
                loss = choose_loss("auto", task, k)
                why = "regression" if k is None else f"{task} with {k} classes"
                out[("training", "loss")] = (loss, f"auto, for {why}")
    if m["init"] == "auto":
        # a plugin layer whose constructor takes no init has none: it draws its own weights
        inits = {layer["init"] for layer in m["layers"] or [] if "init" in layer}
        if len(inits) == 1:
            acts = sorted({layer["activation"] for layer in m["layers"] if "init" in layer})
            out[("model", "init")] = (inits.pop(), (f"auto, for {', '.join(acts)} (he for the "
                                      "ReLU family, xavier otherwise)"))
        else:
            out[("model", "init")] = ("auto", ("per layer: he for the ReLU family, xavier "
                                      "otherwise (see layers)"))
    size = t["batch_size"]
    out[("training", "batching")] = (t["batching"], f"auto, from batch_size {size}")
    if t.get("threads") is None:
        out[("training", "threads")] = ("null", ("$NNLEARN_THREADS, else the BLAS library's "
                                        "own choice"))
    return out


def show_config(cfg: dict[str, Any]) -> str:
    """YAML text of a resolved config with the decided values filled in and commented."""
    decisions = _decisions(cfg)
    lines = dump_config(cfg).splitlines()
    out, section = [], ""
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        key, sep, value = line.strip().partition(":")
        if indent == 0:
            section = key if not value.strip() else ""
        where = ("", key) if indent == 0 else (section, key)
        if sep and indent in (0, 2) and where in decisions and value.strip() in (
                "auto", "null", decisions[where][0]):
            shown, comment = decisions[where]
            line = f"{' ' * indent}{key}: {shown}  # {comment}"
        out.append(line)
    if cfg["model"].get("layers"):  # written as null because hidden & co. give them
        out = [f"{line}  # one per hidden width, from hidden, activation, dropout and init"
               if line == "  layers: null" else line for line in out]
    return "\n".join(out) + "\n"
