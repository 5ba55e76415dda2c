"""The convergence verdict on constructed curves, and `retry: auto` on real renders."""

from __future__ import annotations

import numpy as np
from conftest import tiny_conv

from gallery.config import Setting
from gallery.renderers import convergence
from gallery.renderers.activation_max import ActivationMaximizer


def curves(objective: np.ndarray, penalty: np.ndarray | None = None) -> dict[str, list[float]]:
    """Engine-style losses for an objective curve (to be raised) and a penalty curve."""
    penalty = np.zeros_like(objective) if penalty is None else penalty
    return {"activation": list(-objective), "lp_norm": list(penalty / 2), "tv": list(penalty / 2),
            "total": list(-objective + penalty)}


def test_convergence_verdicts_on_constructed_curves() -> None:
    steps = np.arange(200)
    rng = np.random.default_rng(8)
    levelled = 10 * (1 - np.exp(-steps / 20))
    assert convergence.classify(curves(levelled), 1.0) == "converged"
    assert convergence.classify(curves(levelled + rng.normal(0, 1.0, 200)), 1.0) == "converged"  # jittery plateau
    assert convergence.classify(curves(0.05 * steps), 1.0) == "rising"
    assert convergence.classify(curves(levelled + np.where(steps > 180, 2.0, 0.0)), 1.0) == "rising"  # late jump
    assert convergence.classify(curves(levelled[:2]), 1.0) == "rising"  # too short to tell
    # The objective fell while the penalty fell faster: the total improved, the unit did not.
    assert convergence.classify(curves(-0.01 * steps, 5 * np.exp(-steps / 10)), 1.0) == "regularizer-dominated"
    # A small gain bought with a larger penalty: the regularizers shaped the picture.
    small_gain = curves(0.5 * (1 - np.exp(-steps / 20)), np.full(200, 2.0))
    assert convergence.classify(small_gain, 1.0) == "regularizer-dominated"
    # The climbed (leaky) objective rose, but the real activation did not: a unit that never switched on.
    assert convergence.classify(curves(levelled), 0.0) == "regularizer-dominated"
    # A second stage that starts high and gives a little back is judged from the first stage's start.
    seeded = 10 - 0.5 * (1 - np.exp(-steps / 20))
    assert convergence.classify(curves(seeded, np.full(200, 1.0)), 1.0) == "regularizer-dominated"
    assert convergence.classify(curves(seeded, np.full(200, 1.0)), 1.0, start=0.0) == "converged"


def test_retry_auto_marks_and_fixes_unconverged_results() -> None:
    """Strong TV (100) and 30 steps: two ReLU channels still climbing, one never switched on."""
    engine = ActivationMaximizer(tiny_conv("relu"), "conv2", "channel")
    strong_tv = Setting(steps=30, tv_weight=100)
    firsts = list(engine.render([0, 1, 5], strong_tv, (0.0, 1.0)))
    assert [r.status for r in firsts] == ["regularizer-dominated", "rising", "rising"]
    assert firsts[0].activation == 0.0  # the flagged channel's picture does not drive it at all
    retried = list(engine.render([0, 1, 5], strong_tv.model_copy(update={"retry": "auto"}), (0.0, 1.0)))
    assert [r.retried_because for r in retried] == [r.status for r in firsts]
    assert [r.status for r in retried] == ["regularizer-dominated", "converged", "converged"]  # 0 stays flagged
    assert all(len(values) == 60 for r in retried for values in r.losses.values())  # both stages' steps
    # Converged results are returned as they are.
    (settled,) = engine.render([1], Setting(steps=100, retry="auto"), (0.0, 1.0))
    (plain,) = engine.render([1], Setting(steps=100), (0.0, 1.0))
    assert settled.status == "converged" and settled.retried_because is None
    np.testing.assert_array_equal(settled.image, plain.image)


def test_levelled_stops_a_saturated_curve_but_not_one_that_gains_with_every_doubling() -> None:
    steps = np.arange(1, 201, dtype=float)
    rng = np.random.default_rng(4)
    saturated = 10 * (1 - np.exp(-steps / 20))
    columns = np.stack([saturated, saturated + rng.normal(0, 0.3, 200), np.log(steps), 0.05 * steps], axis=1)
    assert convergence.levelled(columns).tolist() == [True, True, False, False]
    # The log curve is one the verdict calls converged: its last tenth gains little.
    assert convergence.classify(curves(np.log(steps)), 1.0) == "converged"
    assert convergence.levelled(columns[:30]).tolist() == [False, False, False, False]  # still climbing at 30
