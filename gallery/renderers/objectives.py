"""What to maximize: a network truncated at the target layer, and how its output becomes one number.

The truncated model is built with the functional API from the original graph, so only the layers
that feed the target run at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf


def truncated(network: Any, layer_name: str) -> keras.Model:
    """`network` cut at `layer_name`, with two outputs: the layer before and after its activation.

    Gradient ascent runs on the pre-activation (see `surrogate`). For a softmax/sigmoid output the
    pre-activation is also what gets reported: maximizing a softmax can be done by lowering the
    other classes, so keras-vis and the seed report swap it for linear.
    """
    layer = network.get_layer(layer_name)
    activation = getattr(layer, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return keras.Model(network.inputs, [layer.output, layer.output])
    linear = layer.__class__.from_config({**layer.get_config(), "activation": "linear", "name": f"{layer.name}_linear"})
    pre_activation = linear(layer.input)
    linear.set_weights(layer.get_weights())
    reported = pre_activation if is_squashing(layer) else layer.output
    return keras.Model(network.inputs, [pre_activation, reported])


def surrogate(network: Any, layer_name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """What the optimizer climbs, given the pre-activation.

    Through a ReLU, a channel that is zero everywhere on the start image has zero gradient and
    never moves; a leaky ReLU keeps a gradient there and agrees with ReLU about what is better.
    """
    activation = getattr(network.get_layer(layer_name), "activation", None)
    if getattr(activation, "__name__", "") == "relu":
        return lambda features: tf.nn.leaky_relu(features, alpha=0.1)
    return lambda features: features


def is_squashing(layer: Any) -> bool:
    """Softmax and sigmoid outputs, which are reported (and visualized) as linear scores."""
    return getattr(getattr(layer, "activation", None), "__name__", "") in ("softmax", "sigmoid")


def channel_mean(features: tf.Tensor, filters: tf.Tensor) -> tf.Tensor:
    """Spatial mean of each image's own channel: `features` [B, H, W, C], `filters` [B]."""
    means = tf.reduce_mean(features, axis=[1, 2])
    return tf.reduce_sum(means * tf.one_hot(filters, tf.shape(features)[-1], dtype=features.dtype), axis=1)


def dense_unit(features: tf.Tensor, filters: tf.Tensor) -> tf.Tensor:
    """Each image's own unit of a dense output: `features` [B, units], `filters` [B]."""
    return tf.reduce_sum(features * tf.one_hot(filters, tf.shape(features)[-1], dtype=features.dtype), axis=1)


OBJECTIVES = {"channel": channel_mean, "unit": dense_unit}
