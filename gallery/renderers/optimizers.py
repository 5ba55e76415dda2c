"""Update rules for the compiled loop: state in, step out, no Keras optimizer objects.

Each optimizer is a pair of functions over plain tensors, so the whole optimization stays one
`tf.function` loop with its state as loop variables. `rate` is in parameter units (the
setting's learning rate times the parameterization's step unit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

EPSILON = 1e-7
RMS_DECAY = 0.95
ADAM_BETAS = (0.9, 0.999)

State = tuple[tf.Tensor, ...]  # each of the params' shape: `steps: auto` drops a stopped image's rows from it


class Optimizer(NamedTuple):
    init: Callable[[tf.Tensor], State]
    # (gradient of the loss, state, step index) -> (what to subtract from the parameters, state)
    update: Callable[[tf.Tensor, State, tf.Tensor], tuple[tf.Tensor, State]]


def _per_image_l2(gradient: tf.Tensor) -> tf.Tensor:
    axes = tf.range(1, tf.rank(gradient))
    return tf.sqrt(tf.reduce_sum(tf.square(gradient), axis=axes, keepdims=True))


def ascent(rate: float) -> Optimizer:
    """keras-vis's update: the gradient L2-normalized per image, then scaled RMSProp-style.

    The normalization makes the first steps the same size whatever the objective's scale.
    """

    def init(params: tf.Tensor) -> State:
        return (tf.zeros_like(params),)

    def update(gradient: tf.Tensor, state: State, step: tf.Tensor) -> tuple[tf.Tensor, State]:
        gradient = gradient / (_per_image_l2(gradient) + EPSILON)
        rms = RMS_DECAY * state[0] + (1 - RMS_DECAY) * tf.square(gradient)
        return rate * gradient / tf.sqrt(rms + EPSILON), (rms,)

    return Optimizer(init, update)


def adam(rate: float) -> Optimizer:
    """Adam (Kingma & Ba 2015), Lucid's default: per-parameter steps of about `rate`, with momentum."""
    beta1, beta2 = ADAM_BETAS

    def init(params: tf.Tensor) -> State:
        return tf.zeros_like(params), tf.zeros_like(params)

    def update(gradient: tf.Tensor, state: State, step: tf.Tensor) -> tuple[tf.Tensor, State]:
        first = beta1 * state[0] + (1 - beta1) * gradient
        second = beta2 * state[1] + (1 - beta2) * tf.square(gradient)
        t = tf.cast(step + 1, gradient.dtype)
        corrected = (first / (1 - beta1**t)) / (tf.sqrt(second / (1 - beta2**t)) + EPSILON)
        return rate * corrected, (first, second)

    return Optimizer(init, update)


OPTIMIZERS = {"ascent": ascent, "adam": adam}
