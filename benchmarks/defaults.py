"""nnlearn's defaults against scikit-learn's, on small tabular sets.

A practitioner's first run names the data and the target and nothing else. This script trains
nnlearn exactly so (a config holding only ``data.train``, ``data.test``, ``data.target`` and the
seed) and scikit-learn's ``make_pipeline(StandardScaler(), MLPClassifier())`` (or
``MLPRegressor()``) with every argument at its default but ``random_state``, on the same CSV
files, and prints the test accuracy (classification) or R² (regression), each the mean over the
seeds, with the median wall and CPU seconds of one whole run (nnlearn: read the CSVs, train,
evaluate, write the run folder; scikit-learn: read the CSVs with pandas, fit, score).

The sets: the bundled ones with their own train/test files (all but xor, whose four points are
its own test set), and generated ones (scikit-learn's ``make_*``, made once with a fixed seed),
split 75/25 afresh for every seed (stratified for classification) and written as CSV files to a
temporary folder.

Both run on one BLAS thread (threadpoolctl), so the seconds compare like with like; on a shared,
loaded machine the wall seconds grow with the load, and the CPU seconds are the better guide to
what a run takes on an idle one. Needs the ``bench`` extra: ``pip install scikit-learn pandas``.

    python benchmarks/defaults.py                       # every set, seeds 0-4
    python benchmarks/defaults.py --only circles --only digits --seeds 2
    python benchmarks/defaults.py --set training.epochs=100   # try a candidate default

``--set`` adds config keys to nnlearn's otherwise empty config (to try a default before
changing it); scikit-learn's results do not depend on it and can be kept between runs with
``--cache FILE`` (a JSON file of its scores and seconds, keyed by set and seed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nnlearn, not an installed one

from nnlearn.runs import run as runs
from nnlearn.runs.config import apply_overrides, resolve

DATA = ROOT / "data"
TARGET = "y"  # the target column of the generated sets


@dataclass
class DataSet:
    name: str
    task: str  # "classification" or "regression"
    target: str
    files: Callable[[int, Path], tuple[Path, Path]]  # (seed, folder) -> (train.csv, test.csv)
    rows: int  # training + test rows


def _bundled(name: str, target: str, task: str) -> DataSet:
    train, test = DATA / f"{name}-train.csv", DATA / f"{name}-test.csv"
    rows = sum(1 for _ in train.open()) + sum(1 for _ in test.open()) - 2
    return DataSet(name, task, target, lambda seed, folder: (train, test), rows)


def _generated(name: str, task: str, make: Callable[[], tuple[np.ndarray, np.ndarray]]) -> DataSet:
    """A set made once by ``make`` and split 75/25 by each seed into CSV files."""
    X, y = make()

    def files(seed: int, folder: Path) -> tuple[Path, Path]:
        import pandas as pd
        from sklearn.model_selection import train_test_split

        tr, te = train_test_split(np.arange(len(X)), test_size=0.25, random_state=seed,
                                  stratify=y if task == "classification" else None)
        paths = []
        for part, idx in (("train", tr), ("test", te)):
            frame = pd.DataFrame(X[idx], columns=[f"x{i}" for i in range(X.shape[1])])
            frame[TARGET] = y[idx]
            path = folder / f"{name}-s{seed}-{part}.csv"
            frame.to_csv(path, index=False)
            paths.append(path)
        return paths[0], paths[1]

    return DataSet(name, task, TARGET, files, len(X))


def data_sets() -> list[DataSet]:
    from sklearn import datasets as sk

    return [
        _bundled("iris", "species", "classification"),
        _bundled("digits", "digit", "classification"),
        _bundled("moons", "label", "classification"),
        _bundled("spirals", "label", "classification"),
        _bundled("diabetes", "target", "regression"),
        # 10 % of the labels flipped at random; 6 informative, 4 redundant, 10 noise features
        _generated("noisy-clf", "classification", lambda: sk.make_classification(
            n_samples=3000, n_features=20, n_informative=6, n_redundant=4, n_classes=3,
            n_clusters_per_class=2, flip_y=0.1, random_state=0)),
        _generated("circles", "classification", lambda: sk.make_circles(
            n_samples=1000, noise=0.1, factor=0.5, random_state=0)),
        # 9 to 1, two classes, 2 % label noise
        _generated("imbalanced", "classification", lambda: sk.make_classification(
            n_samples=2000, n_features=10, n_informative=4, n_redundant=2,
            weights=[0.9, 0.1], flip_y=0.02, random_state=0)),
        _generated("friedman2", "regression", lambda: sk.make_friedman2(
            n_samples=1000, noise=50.0, random_state=0)),
        _generated("friedman3", "regression", lambda: sk.make_friedman3(
            n_samples=1000, noise=0.1, random_state=0)),
        _generated("regression", "regression", lambda: sk.make_regression(
            n_samples=2000, n_features=20, n_informative=10, noise=20.0, random_state=0)),
    ]


def run_nnlearn(ds: DataSet, seed: int, train: Path, test: Path, overrides: list[str],
                folder: Path) -> tuple[float, float, float, int]:
    """(test score, seconds, CPU seconds, epochs) of one nnlearn run on defaults (plus
    ``overrides``)."""
    raw = {"seed": seed, "data": {"train": str(train), "test": str(test), "target": ds.target}}
    cfg = resolve(apply_overrides(raw, overrides), base_dir=folder)
    started, cpu = time.perf_counter(), time.process_time()
    result = runs.train(cfg, out=folder / f"run-{ds.name}-s{seed}")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    metric = "accuracy" if ds.task == "classification" else "r2"
    return float(result.metrics["test"][metric]), seconds, cpu, result.epochs


def run_sklearn(ds: DataSet, seed: int, train: Path, test: Path) -> tuple[float, float, float]:
    """(test score, seconds, CPU seconds) of scikit-learn's default MLP behind a StandardScaler."""
    import pandas as pd
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started, cpu = time.perf_counter(), time.process_time()
    tr, te = pd.read_csv(train), pd.read_csv(test)
    mlp = (MLPClassifier if ds.task == "classification" else MLPRegressor)(random_state=seed)
    model = make_pipeline(StandardScaler(), mlp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=200 is the default
        model.fit(tr.drop(columns=ds.target), tr[ds.target])
    score = float(model.score(te.drop(columns=ds.target), te[ds.target]))
    return score, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--only", action="append", default=[], metavar="SET",
                        help="run only this set (repeatable)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="add a key to nnlearn's config (repeatable)")
    parser.add_argument("--cache", type=Path, help="JSON file keeping scikit-learn's results")
    args = parser.parse_args()

    import sklearn
    from threadpoolctl import threadpool_limits

    sets = [ds for ds in data_sets() if not args.only or ds.name in args.only]
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.is_file() else {}
    print(f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, 1 BLAS thread, "
          f"seeds 0-{args.seeds - 1}" + (f", nnlearn --set {' '.join(args.overrides)}"
                                         if args.overrides else ""))
    header = (f"{'set':<11} {'task':<6} {'rows':>5} {'nnlearn':>8} {'sklearn':>8} "
              f"{'diff':>7} {'worst':>7} {'nn s':>6} {'nn cpu':>6} {'sk s':>6} {'sk cpu':>6} "
              f"{'epochs':>6}")
    print(header)
    print("-" * len(header))
    diffs, slowest, slowest_cpu = [], 0.0, 0.0
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for ds in sets:
            nn, sk, nn_s, nn_cpu, sk_s, sk_cpu, epochs = [], [], [], [], [], [], []
            for seed in range(args.seeds):
                train, test = ds.files(seed, folder)
                score, seconds, cpu, n_epochs = run_nnlearn(ds, seed, train, test,
                                                            args.overrides, folder)
                nn.append(score)
                nn_s.append(seconds)
                nn_cpu.append(cpu)
                epochs.append(n_epochs)
                key = f"{ds.name}/{seed}"
                if key not in cache:
                    cache[key] = run_sklearn(ds, seed, train, test)
                sk.append(cache[key][0])
                sk_s.append(cache[key][1])
                sk_cpu.append(cache[key][-1])
            diff = statistics.mean(nn) - statistics.mean(sk)
            worst = min(a - b for a, b in zip(nn, sk))
            diffs.append(diff)
            if ds.rows >= 1000:
                slowest = max(slowest, statistics.median(nn_s))
                slowest_cpu = max(slowest_cpu, statistics.median(nn_cpu))
            print(f"{ds.name:<11} {ds.task[:5] + '.':<6} {ds.rows:>5} "
                  f"{statistics.mean(nn):>8.4f} {statistics.mean(sk):>8.4f} {diff:>+7.4f} "
                  f"{worst:>+7.4f} {statistics.median(nn_s):>6.2f} "
                  f"{statistics.median(nn_cpu):>6.2f} {statistics.median(sk_s):>6.2f} "
                  f"{statistics.median(sk_cpu):>6.2f} {statistics.median(epochs):>6.0f}",
                  flush=True)
    if args.cache:
        args.cache.write_text(json.dumps(cache, indent=1))
    print("-" * len(header))
    by_task = {task: [d for d, ds in zip(diffs, sets) if ds.task == task]
               for task in ("classification", "regression")}
    print(f"mean difference {statistics.mean(diffs):+.4f} ("
          + ", ".join(f"{task} {statistics.mean(d):+.4f}" for task, d in by_task.items() if d)
          + f"); smallest {min(diffs):+.4f}; {sum(d >= -0.01 for d in diffs)} of {len(diffs)} "
          f"sets within 0.01 of scikit-learn or better; slowest median nnlearn run on "
          f">= 1000 rows {slowest:.2f} s ({slowest_cpu:.2f} s CPU)")


if __name__ == "__main__":
    main()
