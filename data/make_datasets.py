"""Regenerate nnlearn's bundled CSV datasets under ``data/``.

This is a maintainer script, NOT part of nnlearn. It needs scikit-learn (``pip install
scikit-learn``) only to read the copies of iris, digits and diabetes that scikit-learn ships;
scikit-learn is not a runtime dependency of nnlearn. The synthetic sets (XOR, moons, spirals)
are generated here with numpy alone so that the generators can be read in a minute.

Usage, from the repository root::

    python data/make_datasets.py           # (re)write every CSV
    python data/make_datasets.py --check   # exit 1 if any committed CSV differs from a fresh run

Every random choice draws from a ``numpy.random.Generator`` made from the seed listed in
``SEEDS`` for that dataset, so a run is deterministic. Output format: a header line, no index
column, ``\\n`` newlines, comma separated.

Split rule (``stratified_split``): for classification, each class is permuted on its own and
``round(test_fraction * n_class)`` of its rows go to the test file, so both files keep the class
proportions. Regression (diabetes) uses a plain permutation. Rows of each split file are then
shuffled, because a file sorted by class is a trap for anyone who batches it without shuffling.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent

# One seed per dataset; each seeds a fresh Generator, so changing one dataset never changes
# another. For the synthetic sets the same Generator draws the points and then the split.
SEEDS: dict[str, int] = {
    "iris": 1936,
    "digits": 1998,
    "diabetes": 2004,
    "moons": 11,
    "spirals": 12,
}

TEST_FRACTION = 0.2

IRIS_SPECIES = ("setosa", "versicolor", "virginica")

Row = Sequence[str]


# ----------------------------------------------------------------------------- formatting


def fmt_exact(column: np.ndarray) -> list[str]:
    """Format a float column so that parsing the text gives back exactly the same float64.

    Whole-number columns (ages, pixel counts, the diabetes target) are written as integers;
    others use Python's shortest round-trip ``repr``, which reproduces the source files' text
    for these short decimals (``5.1``, ``101.0``, ``4.8598``).
    """
    if np.all(column == np.round(column)):
        return [str(int(v)) for v in column]
    return [repr(float(v)) for v in column]


def fmt_g6(column: np.ndarray) -> list[str]:
    """Format synthetic coordinates compactly; 6 significant digits is far below their noise."""
    return [f"{v:.6g}" for v in column]


def columns_to_rows(columns: Sequence[Sequence[str]]) -> list[list[str]]:
    """Transpose formatted columns, each of length n, into n rows."""
    return [list(r) for r in zip(*columns, strict=True)]


def render_csv(header: Sequence[str], rows: Sequence[Row]) -> str:
    """Return CSV text: header, one line per row, ``\\n`` line endings, trailing newline."""
    lines = [",".join(header)] + [",".join(r) for r in rows]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- splitting


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (train, test), keeping each class's share in both.

    labels: shape (n,). Returns two index arrays whose union is ``arange(n)``; each is in
    shuffled order. Per class, ``round(test_fraction * n_class)`` rows go to test.
    """
    train_parts, test_parts = [], []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_test = round(test_fraction * idx.size)
        test_parts.append(idx[:n_test])
        train_parts.append(idx[n_test:])
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return train, test


def random_split(
    n: int, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``arange(n)`` into (train, test) by one permutation; for regression targets."""
    idx = rng.permutation(n)
    n_test = round(test_fraction * n)
    return idx[n_test:], idx[:n_test]


def split_files(
    name: str, header: Sequence[str], rows: list[list[str]], train: np.ndarray, test: np.ndarray
) -> dict[str, str]:
    """Return ``{"<name>-train.csv": text, "<name>-test.csv": text}`` for the given indices."""
    return {
        f"{name}-train.csv": render_csv(header, [rows[i] for i in train]),
        f"{name}-test.csv": render_csv(header, [rows[i] for i in test]),
    }


# ----------------------------------------------------------------------------- real data


def make_iris() -> dict[str, str]:
    """Fisher's iris (scikit-learn's copy, which follows Fisher's paper): 150 rows, 3 classes."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    x, y = bunch.data, bunch.target
    header = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    rows = columns_to_rows([*(fmt_exact(c) for c in x.T), [IRIS_SPECIES[k] for k in y]])
    train, test = stratified_split(y, TEST_FRACTION, np.random.default_rng(SEEDS["iris"]))
    return {"iris.csv": render_csv(header, rows), **split_files("iris", header, rows, train, test)}


def make_digits() -> dict[str, str]:
    """8x8 handwritten digits: 1797 rows, 64 pixel counts in 0..16 (row-major), label 0..9."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.data, bunch.target
    header = [f"p{i}" for i in range(x.shape[1])] + ["digit"]
    pixels = x.astype(np.int64)
    if not np.array_equal(pixels, x) or pixels.min() < 0 or pixels.max() > 16:
        raise ValueError("digits pixels are expected to be integers in 0..16")
    rows = [[str(v) for v in px] + [str(int(lab))] for px, lab in zip(pixels, y, strict=True)]
    train, test = stratified_split(y, TEST_FRACTION, np.random.default_rng(SEEDS["digits"]))
    return split_files("digits", header, rows, train, test)


def make_diabetes() -> dict[str, str]:
    """Diabetes progression (Efron et al. 2004), raw unscaled features: 442 rows, regression."""
    from sklearn.datasets import load_diabetes

    # scaled=False gives the original units (age in years, bmi, ...), not the unit-norm columns.
    bunch = load_diabetes(scaled=False)
    x, y = bunch.data, bunch.target
    header = [*bunch.feature_names, "target"]
    rows = columns_to_rows([*(fmt_exact(c) for c in x.T), fmt_exact(y)])
    train, test = random_split(len(rows), TEST_FRACTION, np.random.default_rng(SEEDS["diabetes"]))
    return split_files("diabetes", header, rows, train, test)


# ----------------------------------------------------------------------------- synthetic data


def make_xor() -> dict[str, str]:
    """The four XOR points. The test file is the same four points: there is nothing else to ask."""
    header = ["x1", "x2", "label"]
    rows = [[str(a), str(b), str(a ^ b)] for a in (0, 1) for b in (0, 1)]
    text = render_csv(header, rows)
    return {"xor.csv": text, "xor-test.csv": text}


def two_moons(
    n_per_class: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles of radius 1 with isotropic gaussian noise.

    Class 0 is the upper arc (cos t, sin t); class 1 is the lower arc shifted right and down,
    (1 - cos t, 0.5 - sin t), with t ~ Uniform(0, pi). No straight line separates them, which is
    the point: a perceptron fails, one hidden layer succeeds.
    Returns x of shape (2 * n_per_class, 2) and integer labels of shape (2 * n_per_class,).
    """
    t0 = rng.uniform(0.0, np.pi, n_per_class)
    t1 = rng.uniform(0.0, np.pi, n_per_class)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    x = np.vstack([upper, lower]) + rng.normal(0.0, noise, (2 * n_per_class, 2))
    y = np.repeat([0, 1], n_per_class)
    return x, y


def two_spirals(
    n_per_class: int, turns: float, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved Archimedean spirals, the second rotated half a turn from the first.

    For s ~ Uniform(0.08, 1): radius r = s, angle = 2 pi * turns * s + pi * label. Points lie in
    the unit disc; arms of opposite class are 1 / (2 * turns) apart radially, so ``noise`` must
    stay well below that. Starting at s = 0.08 keeps the two arms from meeting at the origin.
    Returns x of shape (2 * n_per_class, 2) and integer labels of shape (2 * n_per_class,).
    """
    s = rng.uniform(0.08, 1.0, 2 * n_per_class)
    y = np.repeat([0, 1], n_per_class)
    angle = 2.0 * np.pi * turns * s + np.pi * y
    x = np.column_stack([s * np.cos(angle), s * np.sin(angle)])
    x = x + rng.normal(0.0, noise, x.shape)
    return x, y


def synthetic_files(
    name: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> dict[str, str]:
    """Format a 2-D synthetic set and split it stratified into train/test texts."""
    header = ["x1", "x2", "label"]
    rows = columns_to_rows([fmt_g6(x[:, 0]), fmt_g6(x[:, 1]), [str(int(v)) for v in y]])
    train, test = stratified_split(y, TEST_FRACTION, rng)
    return split_files(name, header, rows, train, test)


def make_moons() -> dict[str, str]:
    """1000 moons points (noise 0.15), split 800 / 200."""
    rng = np.random.default_rng(SEEDS["moons"])
    x, y = two_moons(500, 0.15, rng)
    return synthetic_files("moons", x, y, rng)


def make_spirals() -> dict[str, str]:
    """600 points on two spirals of 1.5 turns (noise 0.03), split 480 / 120."""
    rng = np.random.default_rng(SEEDS["spirals"])
    x, y = two_spirals(300, 1.5, 0.03, rng)
    return synthetic_files("spirals", x, y, rng)


MAKERS: tuple[Callable[[], dict[str, str]], ...] = (
    make_iris,
    make_digits,
    make_diabetes,
    make_xor,
    make_moons,
    make_spirals,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the files on disk; write nothing"
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory")
    args = parser.parse_args(argv)

    files: dict[str, str] = {}
    for make in MAKERS:
        files.update(make())

    stale = []
    for fname, text in sorted(files.items()):
        path = args.out / fname
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(fname)
            continue
        path.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {path} ({text.count(chr(10)) - 1} rows)")
    if stale:
        print("differs from a fresh run: " + ", ".join(stale), file=sys.stderr)
        return 1
    if args.check:
        print(f"all {len(files)} files match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
