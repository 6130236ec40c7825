"""Property tests: whatever mapping, YAML text or override arrives, the config either resolves or
raises ConfigError — never any other exception — and what resolves survives dump/load."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlearn.errors import ConfigError
from nnlearn.runs.config import (
    ACTIVATION_NAMES,
    MONITOR_NAMES,
    OPTIMIZER_PARAMS,
    SCHEDULE_PARAMS,
    apply_overrides,
    dump_config,
    load_config,
    resolve,
    set_dotted,
    yaml_load,
)

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BASE_DIR = Path("/cfg")

# ---------------------------------------------------------------------------------- strategies

# Built only when drawn: hypothesis prints strategies (older releases as soon as one is made),
# and Python refuses str() of a 5000-digit int, so no strategy holds such an int as an element.
huge_ints = st.tuples(st.sampled_from([400, 5000, 63]), st.sampled_from([10, -10, 2])).map(
    lambda ab: (abs(ab[1]) ** ab[0]) * (1 if ab[1] > 0 else -1))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), huge_ints,
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.binary(max_size=4),
)
keys = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none(),
                 st.sampled_from(["data", "model", "training", "seed", "name", "units",
                                  "momentum", "monitor", "train", "target", "layers"]))
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)

names = st.sampled_from(["relu", "tanh", "adam", "sgd", "step", "plateau", "auto", "full",
                         "balanced", "val_loss", "val_accuracy", "classification",
                         "regression", "mse", "bce", "float32", "he", "cosine", ""])
numbers = st.one_of(st.integers(-3, 200), st.floats(-1, 2), st.sampled_from([0, 1, 0.5, 1e-3]))
plausible = st.one_of(numbers, names, st.booleans(), st.none(),
                      st.lists(st.integers(0, 20), max_size=3))
fraction = st.one_of(st.floats(0, 0.99), st.just(0))
positive = st.one_of(st.floats(1e-6, 10), st.integers(1, 5))
columns = st.sampled_from(["a", "b", "y", "w", "1e3", "yes", "ü"])


def named(specs: dict, param: st.SearchStrategy) -> st.SearchStrategy:
    """A name or a {name, params...} mapping from an OPTIMIZER_PARAMS-like table."""
    return st.one_of(
        st.sampled_from(sorted(specs)),
        st.sampled_from(sorted(specs)).flatmap(lambda n: st.fixed_dictionaries(
            {"name": st.just(n)},
            optional={p: st.one_of(st.just(d), param) for p, d in specs[n].items()})))


def config_strategy(noisy: bool) -> st.SearchStrategy:
    """Config-shaped mappings. With ``noisy`` every value may also be junk and stray keys
    appear; without it the values are individually plausible (cross-key rules may still fail),
    so a good share resolves and the round-trip property has something to chew on."""

    def v(good: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(good, plausible, junk) if noisy else good

    def section(fields: dict, required: dict | None = None) -> st.SearchStrategy:
        optional = {k: v(g) for k, g in fields.items()}
        if noisy:
            optional.update({"stray": junk, "epochz": numbers})
        return st.fixed_dictionaries({k: v(g) for k, g in (required or {}).items()},
                                     optional=optional)

    small = st.one_of(fraction, st.just(0.1))
    layer = st.fixed_dictionaries(
        {"units": v(st.integers(1, 5))},
        optional={"activation": v(st.sampled_from(ACTIVATION_NAMES)), "dropout": v(fraction),
                  "init": v(st.sampled_from(["auto", "he", "xavier"]))})
    top = {
        "seed": v(st.one_of(st.none(), st.integers(0, 2**70))),
        "model": section({
            "hidden": st.lists(st.integers(1, 30), max_size=3),
            "activation": st.sampled_from(ACTIVATION_NAMES), "dropout": fraction,
            "init": st.sampled_from(["auto", "he", "xavier"]),
            "layers": st.one_of(st.none(), st.lists(layer, max_size=3))}),
        "training": section({
            "epochs": st.integers(1, 500), "batch_size": st.one_of(st.integers(1, 64),
                                                                   st.just("full")),
            "batching": st.sampled_from([None, "full", "minibatch", "stochastic"]),
            "learning_rate": st.floats(1e-3, 1), "weight_decay": st.floats(0, 1),
            "optimizer": named(OPTIMIZER_PARAMS, st.one_of(small, st.booleans())),
            "schedule": named(SCHEDULE_PARAMS, st.one_of(small, st.integers(1, 5),
                                                         st.sampled_from(MONITOR_NAMES))),
            "loss": st.sampled_from(["auto", "cross_entropy", "bce", "mse", "mae"]),
            "clip_grad_norm": st.one_of(st.none(), positive),
            "clip_grad_value": st.one_of(st.none(), positive),
            "early_stopping": st.one_of(st.booleans(), st.none(), st.fixed_dictionaries(
                {}, optional={"monitor": st.sampled_from(MONITOR_NAMES),
                              "mode": st.sampled_from(["auto", "min", "max"]),
                              "patience": st.integers(0, 9), "min_delta": fraction,
                              "restore_best_weights": st.booleans()})),
            "class_weight": st.one_of(st.none(), st.just("balanced"), st.dictionaries(
                st.one_of(columns, st.integers(0, 3)), positive, min_size=1, max_size=3)),
            "checkpoint_every": st.integers(0, 5),
            "dtype": st.sampled_from(["float32", "float64"]), "diagnostics": st.booleans(),
            "shuffle": st.booleans(), "threads": st.one_of(st.none(), st.integers(1, 8))}),
        "output": section({"dir": st.one_of(st.none(), st.just("out"), st.just("/abs/o"))}),
    }
    if noisy:
        top["extra"] = junk
    data = section(
        {"test": st.one_of(st.none(), st.just("t2.csv")),
         "task": st.sampled_from(["auto", "classification", "regression"]),
         "features": st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "c"]),
                                                   min_size=1, max_size=3, unique=True)),
         "val_fraction": fraction, "standardize": st.booleans(),
         "sample_weight": st.one_of(st.none(), st.just("w"))},
        required={"train": st.sampled_from(["t.csv", "/abs/t.csv", "~/x.csv", "../d/t.csv"]),
                  "target": columns})
    return st.fixed_dictionaries({"data": data}, optional=top)


config_like = st.one_of(config_strategy(noisy=False), config_strategy(noisy=True))


def resolve_or_config_error(raw) -> dict | None:
    try:
        return resolve(raw, base_dir=BASE_DIR, source="cfg.yaml")
    except ConfigError:
        return None


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("props")


def load_text_or_config_error(folder: Path, text: str) -> dict | None:
    path = folder / "cfg.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        return load_config(path)
    except ConfigError:
        return None


# ---------------------------------------------------------------------------------- properties


@SETTINGS
@given(raw=st.one_of(junk, st.dictionaries(keys, junk, max_size=6)))
def test_any_value_resolves_or_raises_config_error(raw) -> None:
    resolve_or_config_error(raw)


@SETTINGS
@given(raw=config_like)
def test_config_like_mappings_resolve_idempotently_and_round_trip(raw) -> None:
    cfg = resolve_or_config_error(raw)
    if cfg is None:
        return
    assert resolve(cfg, base_dir=Path("/elsewhere")) == cfg
    assert resolve(yaml_load(dump_config(cfg), "dump"), base_dir=Path("/elsewhere")) == cfg


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_text_loads_or_raises_config_error(folder: Path, text: str) -> None:
    try:
        yaml_load(text, "t")
    except ConfigError:
        pass
    load_text_or_config_error(folder, text)


yamlish = st.lists(st.sampled_from(list("ab:-[]{},&*!|>'\"#?%@` \n\t.01e+") +
                                   ["data", "train", "target", "model", "training", "  ",
                                    "\n  ", ": ", "- ", "!!int ", "!!binary ", "<<: ", "*a",
                                    "&a ", "!!python/object ", "!!timestamp ", "!!float "]),
                   max_size=40).map("".join)


@SETTINGS
@given(text=yamlish)
def test_yaml_shaped_text_loads_or_raises_config_error(folder: Path, text: str) -> None:
    load_text_or_config_error(folder, "data:\n  train: t.csv\n  target: y\n" + text)
    load_text_or_config_error(folder, text)


@SETTINGS
@given(raw=config_like, cut=st.integers(0, 10_000), insert=st.text(max_size=3))
def test_mutated_dumps_load_or_raise_config_error(folder: Path, raw, cut: int,
                                                  insert: str) -> None:
    cfg = resolve_or_config_error(raw)
    text = dump_config(cfg) if cfg is not None else "data: {train: t.csv, target: y}\n"
    cut %= len(text) + 1
    load_text_or_config_error(folder, text[:cut] + insert + text[cut + 1:])


override_text = st.one_of(
    st.text(max_size=30),
    st.tuples(
        st.sampled_from(["seed", "training.epochs", "training.optimizer.momentum",
                         "training.optimizer", "model.hidden", "trainig.epochs", "model.layers.0",
                         "training.class_weight.x", "training.early_stopping.patience", "",
                         "data", "training.schedule.gamma", "output.dir.x", "data.target"]),
        st.sampled_from(["=", "", "==", " = "]),
        st.one_of(st.text(max_size=15), st.sampled_from(["1e-3", "[8,8]", "{name: adam}", "",
                                                         "true", "null", "[", "a: b: c"])),
    ).map("".join),
)


@SETTINGS
@given(raw=st.one_of(config_like, junk), overrides=st.lists(override_text, max_size=3))
def test_overrides_apply_or_raise_config_error(raw, overrides: list[str]) -> None:
    try:
        changed = apply_overrides(raw, overrides)
    except ConfigError:
        return
    resolve_or_config_error(changed)


@SETTINGS
@given(raw=st.one_of(config_like, junk), key=st.one_of(override_text, junk), value=junk)
def test_set_dotted_sets_or_raises_config_error(raw, key, value) -> None:
    try:
        changed = set_dotted(raw, key, value)
    except ConfigError:
        return
    resolve_or_config_error(changed)
