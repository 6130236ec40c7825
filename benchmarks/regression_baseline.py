"""Measure configs/diabetes.yaml against scikit-learn's MLPRegressor on the same split.

Needs scikit-learn (``pip install -e '.[bench]'``). Prints test R² for nnlearn (the bundled
config, seeds 0-4) and for MLPRegressor with one hidden layer of 16 ReLU units on the same
standardised features: scikit-learn's defaults (Adam), and SGD with the config's settings
(lr 0.01, momentum 0.9, batch 32) with and without a standardised target.

    python benchmarks/regression_baseline.py
"""

from __future__ import annotations

import statistics
import tempfile
import warnings
from pathlib import Path

import numpy as np

from nnlearn.runs import run as runs
from nnlearn.runs.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def nnlearn_r2(seed: int) -> float:
    cfg = load_config(ROOT / "configs" / "diabetes.yaml", [f"seed={seed}"])
    with tempfile.TemporaryDirectory() as tmp:
        return runs.train(cfg, out=Path(tmp) / "run").metrics["test"]["r2"]


def sklearn_r2(seed: int, solver: str, scale_target: bool) -> float:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = np.loadtxt(ROOT / "data" / "diabetes-train.csv", delimiter=",", skiprows=1)
    test = np.loadtxt(ROOT / "data" / "diabetes-test.csv", delimiter=",", skiprows=1)
    kwargs = {"hidden_layer_sizes": (16,), "random_state": seed, "max_iter": 2000}
    if solver == "sgd":
        kwargs.update(solver="sgd", learning_rate_init=0.01, momentum=0.9,
                      nesterovs_momentum=False, batch_size=32, early_stopping=True,
                      validation_fraction=0.2, n_iter_no_change=15)
    model = make_pipeline(StandardScaler(), MLPRegressor(**kwargs))
    if scale_target:
        model = TransformedTargetRegressor(model, transformer=StandardScaler())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        model.fit(train[:, :-1], train[:, -1])
        return float(model.score(test[:, :-1], test[:, -1]))


def main() -> None:
    seeds = range(5)
    rows = {
        "nnlearn configs/diabetes.yaml": [nnlearn_r2(s) for s in seeds],
        "MLPRegressor(16) adam, defaults": [sklearn_r2(s, "adam", False) for s in seeds],
        "MLPRegressor(16) sgd as config, scaled target": [sklearn_r2(s, "sgd", True) for s in seeds],
        "MLPRegressor(16) sgd as config, raw target": [sklearn_r2(s, "sgd", False) for s in seeds],
    }
    print(f"{'model':48s} {'seed 0':>8s} {'median':>8s}  all seeds")
    for name, values in rows.items():
        shown = " ".join(f"{v:.3f}" if abs(v) < 1e3 else "diverged" for v in values)
        print(f"{name:48s} {values[0]:8.3f} {statistics.median(values):8.3f}  {shown}")


if __name__ == "__main__":
    main()
