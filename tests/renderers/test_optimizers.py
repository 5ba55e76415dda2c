"""Update rules climb a simple objective."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gallery.renderers.optimizers import OPTIMIZERS


@pytest.mark.parametrize("name", ["ascent", "adam"])
def test_both_update_rules_climb_a_simple_objective(name: str) -> None:
    target = tf.constant(np.random.default_rng(3).uniform(-1, 1, (2, 8, 8, 3)), tf.float32)
    optimizer = OPTIMIZERS[name](0.05)
    params = tf.zeros_like(target)
    state = optimizer.init(params)

    def loss(x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.square(x - target))

    start = float(loss(params))
    for step in range(100):
        with tf.GradientTape() as tape:
            tape.watch(params)
            value = loss(params)
        delta, state = optimizer.update(tape.gradient(value, params), state, tf.constant(step))
        params = params - delta
    assert float(loss(params)) < 0.02 * start
