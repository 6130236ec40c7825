"""Learning-rate schedules: every value against its formula, and Plateau's bookkeeping."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnlearn.errors import ConfigError
from nnlearn.nn.schedules import (
    SCHEDULES,
    Constant,
    Cosine,
    Exponential,
    InvScaling,
    Plateau,
    Schedule,
    Step,
    make_schedule,
)
from nnlearn.runs.config import check_settings

BASE = 0.1
EPOCHS = range(40)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


# ---------------------------------------------------------------------------------------
# Stateless schedules: lr_at(e) is the formula
# ---------------------------------------------------------------------------------------
def test_constant_is_base_every_epoch():
    s = Constant(BASE)
    assert all(s.lr_at(e) == BASE for e in EPOCHS)


def test_step_multiplies_by_gamma_every_step_size_epochs():
    s = Step(BASE, step_size=3, gamma=0.5)
    for e in EPOCHS:
        assert close(s.lr_at(e), BASE * 0.5 ** (e // 3)), e
    # Worked by hand: epochs 0-2 at base, 3-5 at base/2, 6 at base/4.
    assert [round(s.lr_at(e) / BASE, 12) for e in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]


def test_exponential_multiplies_by_gamma_every_epoch():
    s = Exponential(BASE, gamma=0.9)
    for e in EPOCHS:
        assert close(s.lr_at(e), BASE * 0.9**e), e


def test_invscaling_divides_by_epoch_plus_one_to_the_power_t():
    s = InvScaling(BASE, power_t=0.5)
    for e in EPOCHS:
        assert close(s.lr_at(e), BASE / (e + 1) ** 0.5), e
    assert s.lr_at(0) == BASE  # no decay during the first epoch (sklearn's would have)
    assert close(s.lr_at(3), BASE / 2)


@pytest.mark.parametrize("warmup", [0, 1, 5])
@pytest.mark.parametrize("min_lr", [0.0, 0.01])
def test_cosine_with_warmup_matches_formula(warmup, min_lr):
    total = 30
    s = Cosine(BASE, total_epochs=total, warmup_epochs=warmup, min_lr=min_lr)
    for e in range(total):
        if e < warmup:
            expected = BASE * (e + 1) / warmup
        else:
            expected = min_lr + 0.5 * (BASE - min_lr) * (
                1 + math.cos(math.pi * (e - warmup) / (total - warmup))
            )
        assert close(s.lr_at(e), expected), e


def test_cosine_shape_warms_up_peaks_then_decays_to_min_lr():
    s = Cosine(BASE, total_epochs=20, warmup_epochs=4, min_lr=0.01)
    lrs = [s.lr_at(e) for e in range(20)]
    assert close(lrs[0], BASE / 4)
    assert close(lrs[3], BASE) and close(lrs[4], BASE)  # end of warm-up, start of cosine
    assert all(a < b for a, b in pairwise(lrs[:4]))  # rising during warm-up
    assert all(a > b for a, b in pairwise(lrs[4:]))  # falling after
    assert lrs[-1] > 0.01  # the last epoch is still above min_lr
    # Training extended past total_epochs stays at min_lr instead of climbing back up.
    assert close(s.lr_at(20), 0.01) and close(s.lr_at(35), 0.01)


@given(
    total=st.integers(1, 200),
    warmup_frac=st.floats(0, 0.9),
    min_frac=st.floats(0, 1),
    epoch=st.integers(0, 400),
)
def test_cosine_stays_between_min_lr_and_base(total, warmup_frac, min_frac, epoch):
    warmup = int(warmup_frac * total) if total > 1 else 0
    s = Cosine(BASE, total_epochs=total, warmup_epochs=warmup, min_lr=min_frac * BASE)
    lr = s.lr_at(epoch)
    assert 0 <= lr <= BASE * (1 + 1e-12)
    if epoch < total:
        assert lr > 0  # only the epochs past the end may reach min_lr = 0
    if epoch >= warmup:
        assert lr >= s.min_lr * (1 - 1e-12)


@pytest.mark.parametrize(
    "sched",
    [Constant(BASE), Step(BASE, 2, 0.5), Exponential(BASE, 0.8), InvScaling(BASE, 0.7),
     Cosine(BASE, 10, 2, 0.001)],
    ids=lambda s: type(s).__name__,
)
def test_step_returns_the_rate_for_the_next_epoch(sched: Schedule):
    assert sched.lr == sched.lr_at(0)
    for e in range(12):
        assert sched.step(e, {"train_loss": 1.0}) == sched.lr_at(e + 1)
        assert sched.lr == sched.lr_at(e + 1)


def test_stateless_schedule_state_round_trip():
    s = Exponential(BASE, 0.8)
    for e in range(5):
        s.step(e, {})
    state = json.loads(json.dumps(s.state_dict()))
    r = Exponential(BASE, 0.8)
    r.load_state_dict(state)
    assert r.lr == s.lr == s.lr_at(5)
    assert r.step(5, {}) == s.step(5, {})


# ---------------------------------------------------------------------------------------
# Plateau
# ---------------------------------------------------------------------------------------
def run_plateau(s: Plateau, values, monitor: str = "val_loss", start: int = 0) -> list[float]:
    """Feed one metric value per epoch; return the lr handed out after each."""
    return [s.step(start + e, {monitor: v, "train_loss": 0.0}) for e, v in enumerate(values)]


def test_plateau_reduces_once_bad_epochs_exceed_patience():
    s = Plateau(BASE, factor=0.5, patience=2, min_delta=0.0)
    assert s.lr == BASE
    # e0 sets the best (1.0); e1 improves (0.9); e2, e3 are bad epochs 1 and 2 (tolerated);
    # e4 is bad epoch 3 > patience -> halve; count restarts, so e5, e6 tolerated, e7 halves.
    lrs = run_plateau(s, [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95])
    h = BASE / 2
    assert lrs == [BASE, BASE, BASE, BASE, h, h, h, h / 2]


def test_plateau_improvement_resets_the_bad_count():
    s = Plateau(BASE, factor=0.5, patience=1, min_delta=0.0)
    # bad, improve, bad, improve ...: never two bad epochs in a row, never a reduction.
    lrs = run_plateau(s, [1.0, 1.1, 0.8, 0.85, 0.7, 0.75, 0.6])
    assert lrs == [BASE] * 7


def test_plateau_min_delta_is_an_absolute_threshold():
    s = Plateau(BASE, factor=0.5, patience=0, min_delta=0.1)
    # 0.95 is lower than 1.0 but not by more than 0.1: a bad epoch -> reduce (patience 0).
    assert run_plateau(s, [1.0, 0.95]) == [BASE, BASE / 2]
    s = Plateau(BASE, factor=0.5, patience=0, min_delta=0.1)
    assert run_plateau(s, [1.0, 0.85]) == [BASE, BASE]


def test_plateau_cooldown_ignores_bad_epochs_after_a_reduction():
    s = Plateau(BASE, factor=0.5, patience=0, cooldown=2, min_delta=0.0)
    # e1 bad -> reduce and start a 2-epoch cooldown; e2, e3 bad but ignored; e4 reduces again.
    lrs = run_plateau(s, [1.0, 2.0, 2.0, 2.0, 2.0])
    assert lrs == [BASE, BASE / 2, BASE / 2, BASE / 2, BASE / 4]
    no_cooldown = Plateau(BASE, factor=0.5, patience=0, cooldown=0, min_delta=0.0)
    assert run_plateau(no_cooldown, [1.0, 2.0, 2.0]) == [BASE, BASE / 2, BASE / 4]


def test_plateau_never_goes_below_min_lr():
    s = Plateau(BASE, factor=0.1, patience=0, min_lr=0.003, min_delta=0.0)
    lrs = run_plateau(s, [1.0] + [2.0] * 5)
    assert lrs[1] == pytest.approx(0.01)
    assert lrs[2:] == [0.003] * 4


def test_plateau_mode_max_for_accuracy():
    s = Plateau(BASE, factor=0.5, patience=0, monitor="val_accuracy", min_delta=0.0)
    assert s.mode == "max"
    assert run_plateau(s, [0.5, 0.6, 0.7], monitor="val_accuracy") == [BASE] * 3
    assert run_plateau(s, [0.65], monitor="val_accuracy", start=3) == [BASE / 2]


@pytest.mark.parametrize(
    "monitor,mode",
    [("val_loss", "min"), ("train_loss", "min"), ("mse", "min"), ("val_mae", "min"),
     ("rmse", "min"), ("val_accuracy", "max"), ("r2", "max"), ("val_f1", "max")],
)
def test_plateau_auto_mode(monitor, mode):
    assert Plateau(BASE, monitor=monitor).mode == mode
    assert Plateau(BASE, monitor=monitor, mode="max").mode == "max"


def test_plateau_nan_metric_counts_as_bad():
    s = Plateau(BASE, factor=0.5, patience=0, min_delta=0.0)
    assert run_plateau(s, [1.0, float("nan")]) == [BASE, BASE / 2]
    # A NaN first epoch must not become the best (nothing would ever beat it):
    # e0 bad, e1 the first real value is the best, e2 improves on it.
    s = Plateau(BASE, factor=0.5, patience=1, min_delta=0.0)
    assert run_plateau(s, [float("nan"), 1.0, 0.9]) == [BASE] * 3


def make_plateau() -> Plateau:
    return Plateau(BASE, factor=0.5, patience=1, cooldown=2, min_lr=0.01, min_delta=0.0)


PLATEAU_VALUES = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.98, 0.97, 0.8, 0.85, 0.9, 0.91, 0.92]


@pytest.mark.parametrize("cut", range(1, len(PLATEAU_VALUES)))
def test_plateau_state_round_trip_continues_identically(cut):
    # Saving after ANY epoch (mid-cooldown, mid-patience, after a reduction) must resume
    # exactly as if training had not stopped.
    s = make_plateau()
    run_plateau(s, PLATEAU_VALUES[:cut])
    text = json.dumps(s.state_dict(), allow_nan=False)  # strict JSON
    r = make_plateau()
    r.load_state_dict(json.loads(text))
    assert r.lr == s.lr
    rest = PLATEAU_VALUES[cut:]
    assert run_plateau(r, rest, start=cut) == run_plateau(s, rest, start=cut)


def test_plateau_round_trip_cut_points_cover_all_state():
    # Guards the test above: the cut points pass through every kind of state.
    seen = {"cooldown": False, "bad": False, "reduced": False}
    s = make_plateau()
    for e, v in enumerate(PLATEAU_VALUES):
        s.step(e, {"val_loss": v})
        seen["cooldown"] |= s.cooldown_counter > 0
        seen["bad"] |= s.num_bad_epochs > 0
        seen["reduced"] |= s.lr < BASE
    assert all(seen.values()), seen


def test_plateau_fresh_instance_would_differ_after_resume():
    # Guards the round-trip test: without the state, the continuation is different.
    values = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.8, 0.85, 0.9]
    s = Plateau(BASE, factor=0.5, patience=1, min_delta=0.0)
    run_plateau(s, values[:5])
    fresh = Plateau(BASE, factor=0.5, patience=1, min_delta=0.0)
    assert run_plateau(fresh, values[5:], start=5) != run_plateau(s, values[5:], start=5)


def test_make_schedule_builds_each_registered_schedule():
    assert set(SCHEDULES) == {"constant", "step", "exponential", "cosine", "invscaling", "plateau"}
    for name, cls in SCHEDULES.items():
        assert type(make_schedule({"name": name}, BASE, 50)) is cls


def test_make_schedule_passes_settings_and_total_epochs():
    s = make_schedule({"name": "cosine", "warmup_epochs": 5, "min_lr": 0.001}, BASE, 50)
    assert isinstance(s, Cosine)
    assert (s.total_epochs, s.warmup_epochs, s.min_lr, s.base_lr) == (50, 5, 0.001, BASE)
    p = make_schedule({"name": "plateau", "monitor": "train_loss", "patience": 3}, BASE, 50)
    assert isinstance(p, Plateau) and p.monitor == "train_loss" and p.patience == 3
    assert isinstance(make_schedule("step", BASE, 10), Step)


@pytest.mark.parametrize(
    "spec,key",
    [
        ({"name": "step", "step_size": 0}, "training.schedule.step_size"),
        ({"name": "step", "step_size": 2.5}, "training.schedule.step_size"),
        ({"name": "exponential", "gamma": 0.0}, "training.schedule.gamma"),
        ({"name": "cosine", "warmup_epochs": 10}, "training.schedule.warmup_epochs"),
        ({"name": "cosine", "min_lr": 1.0}, "training.schedule.min_lr"),
        ({"name": "invscaling", "power_t": -1}, "training.schedule.power_t"),
        ({"name": "plateau", "factor": 1.0}, "training.schedule.factor"),
        ({"name": "plateau", "mode": "up"}, "training.schedule.mode"),
        ({"name": "plateau", "patience": True}, "training.schedule.patience"),
    ],
)
def test_the_config_refuses_bad_settings_before_a_schedule_is_built(spec, key):
    # The classes trust their settings; the config's rules are what stands before them.
    with pytest.raises(ConfigError) as err:
        check_settings({"training": {"schedule": spec, "learning_rate": BASE, "epochs": 10}})
    assert err.value.key == key

