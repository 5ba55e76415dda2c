"""Guided backprop (Springenberg et al. 2015): the input gradient through guided ReLUs, which pass a
gradient back only where it is positive and the ReLU itself was open."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from gallery.methods import MethodOptions
from gallery.renderers.attribution.base import GradientMethod, InputGradients


def guided(activation: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor]:
    """`activation` whose backward pass lets a gradient through only where it is positive and the
    activation itself passes gradient: Springenberg et al.'s guided ReLU, for any ReLU variant."""

    @tf.custom_gradient
    def forward(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = activation(x)
        return y, lambda upstream: tape.gradient(y, x, output_gradients=tf.nn.relu(upstream))

    return forward


def _is_relu(activation: Any) -> bool:
    return getattr(activation, "__name__", "") == "relu"


def guided_copy(network: Any) -> keras.Model:
    """A copy of `network`, same weights and layer names, whose ReLUs are guided (see `guided`).

    Replaced: layers built with `activation="relu"` (Conv2D, Dense, Activation, ...) and ReLU layers,
    with their max_value, negative_slope and threshold (so ReLU6 too), also inside nested models.
    Not replaced, so their gradients pass unguided: other activations (swish, GELU, hard-swish,
    LeakyReLU layers, ...) and ReLUs called inside a custom layer's own `call`.
    """

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, keras.layers.ReLU):
            relu = functools.partial(keras.activations.relu, negative_slope=config["negative_slope"],
                                     max_value=config["max_value"], threshold=config["threshold"])
            return keras.layers.Activation(guided(relu), name=layer.name)
        copy = layer.__class__.from_config(config)
        if _is_relu(getattr(layer, "activation", None)):
            copy.activation = guided(keras.activations.relu)
        return copy

    copy = keras.models.clone_model(network, clone_function=clone, recursive=True)
    copy.set_weights(network.get_weights())
    return copy


class GuidedBackprop(GradientMethod):
    @functools.cached_property
    def _gradients(self) -> InputGradients:
        """Built on first use: a second copy of the network, with guided ReLUs."""
        return InputGradients(guided_copy(self.explainer.network), self.explainer.batch_size)

    def batch_gradients(self, images: np.ndarray, classes: np.ndarray, options: MethodOptions) -> np.ndarray:
        return self._gradients(images, classes)
