"""What to maximize: a network truncated at the target layer, and how its output becomes one number.

The truncated model is built with the functional API from the original graph, so only the layers
that feed the target run at every step. Each image optimizes one channel (or unit), so the target
layer itself computes only that one (`own_units`): for a conv layer this removes almost all of
its forward and input-gradient work, which is a fifth of VGG16's up to block3_conv3.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from gallery.models.describe import is_squashing


def truncated(network: Any, layer_name: str) -> keras.Model:
    """`network` cut at `layer_name`, with two outputs: the layer before and after its activation.

    Gradient ascent runs on the pre-activation (see `surrogate`). For a softmax/sigmoid output the
    pre-activation is also what gets reported: maximizing a softmax can be done by lowering the
    other classes, so keras-vis and the seed report swap it for linear.
    """
    layer = network.get_layer(layer_name)
    if isinstance(layer, keras.layers.Softmax):  # a softmax of its own: its input is the pre-activation
        return keras.Model(network.inputs, [layer.input, layer.input])
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


def reported(network: Any, layer_name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """What gets reported, given the pre-activation: the layer's own activation, except that a
    softmax or sigmoid output is reported linear (as `truncated` does). Cheap enough for every step."""
    layer = network.get_layer(layer_name)
    activation = getattr(layer, "activation", None)
    if activation is None or is_squashing(layer):
        return lambda features: features
    return activation


def own_units(layer: Any) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None:
    """The layer's pre-activation for each image's own channel or unit only, from the layer's input.

    (inputs [B, ...], filters [B]) -> [B, H, W] for a Conv2D, [B] for a Dense on vectors; None
    for any other layer, which then runs whole (`own_channel`). A conv is run as one depthwise
    convolution over (image, input channel) pairs with each image's own kernel, then summed over
    input channels: the same arithmetic as the layer's, for 1/filters of its cost.
    """
    if type(layer) is keras.layers.Dense and len(layer.input.shape) == 2:
        def dense(inputs: tf.Tensor, filters: tf.Tensor) -> tf.Tensor:
            columns = tf.transpose(tf.gather(layer.kernel, filters, axis=1))  # [B, inputs]
            return tf.reduce_sum(inputs * columns, axis=1) + _bias(layer, filters)
        return dense
    if (type(layer) is not keras.layers.Conv2D or layer.groups != 1 or layer.data_format != "channels_last"
            or layer.strides[0] != layer.strides[1] or layer.padding not in ("same", "valid")):
        return None
    rows, cols = layer.kernel_size

    def conv(inputs: tf.Tensor, filters: tf.Tensor) -> tf.Tensor:
        batch, height, width, channels = tf.unstack(tf.shape(inputs))
        stacked = tf.reshape(tf.transpose(inputs, [1, 2, 0, 3]), [1, height, width, batch * channels])
        kernels = tf.transpose(tf.gather(layer.kernel, filters, axis=3), [0, 1, 3, 2])  # [rows, cols, B, C]
        kernels = tf.reshape(kernels, [rows, cols, batch * channels, 1])
        out = tf.nn.depthwise_conv2d(stacked, kernels, [1, *layer.strides, 1], layer.padding.upper(),
                                     dilations=layer.dilation_rate)
        out_height, out_width = tf.shape(out)[1], tf.shape(out)[2]
        summed = tf.reduce_sum(tf.reshape(out, [out_height, out_width, batch, channels]), axis=-1)
        return tf.transpose(summed, [2, 0, 1]) + _bias(layer, filters)[:, None, None]

    return conv


def _bias(layer: Any, filters: tf.Tensor) -> tf.Tensor:
    return tf.gather(layer.bias, filters) if layer.use_bias else tf.zeros(tf.shape(filters), layer.kernel.dtype)


def own_channel(features: tf.Tensor, filters: tf.Tensor) -> tf.Tensor:
    """Each image's own channel of a whole layer's output: [B, H, W, C] -> [B, H, W], [B, C] -> [B]."""
    return tf.gather(features, filters, axis=len(features.shape) - 1, batch_dims=1)


def channel_mean(maps: tf.Tensor) -> tf.Tensor:
    """A channel's spatial mean: [B, H, W] -> [B]."""
    return tf.reduce_mean(maps, axis=[1, 2])


def dense_unit(values: tf.Tensor) -> tf.Tensor:
    """A dense layer's unit: already one number per image."""
    return values


def neuron(row: int, col: int) -> Callable[[tf.Tensor], tf.Tensor]:
    """One position of a channel: a single unit, which sees only its receptive field."""

    def objective(maps: tf.Tensor) -> tf.Tensor:
        return maps[:, row, col]

    return objective


def diversity(features: tf.Tensor, copies: int) -> tf.Tensor:
    """Per image, the mean cosine similarity of its Gram matrix to those of the other copies of its filter.

    Olah et al. 2017 ("Diversity"; Lucid's `objectives.diversity`): a feature often responds to
    several things, and a batch of images optimized for it shows more than one of them when they
    are penalized for sharing a style, the channel correlations that Gram matrices describe
    whatever the spatial arrangement. `features` [F * copies, ...]: the copies (2 or more) of a
    filter are adjacent. The result [F * copies] is 1 for identical copies and 0 for orthogonal Gram
    matrices; summed over a filter's copies it is Lucid's value times copies / (copies - 1), so
    the weight means the same for any number of copies. Vectors (a dense layer's input) have no
    positions to abstract from: their own cosine is used (a single position's Gram matrix would
    be their outer product, with the square of that cosine, at channels^2 memory).
    """
    batch = tf.shape(features)[0]
    if len(features.shape) == 2:
        descriptors = features
    else:
        positions = tf.reshape(features, [batch, -1, features.shape[-1]])
        descriptors = tf.reshape(tf.matmul(positions, positions, transpose_a=True), [batch, -1])
    unit = tf.math.l2_normalize(descriptors, axis=1, epsilon=1e-10)
    groups = tf.reshape(unit, [-1, copies, tf.shape(unit)[1]])
    similarity = tf.matmul(groups, groups, transpose_b=True)  # [F, copies, copies]
    to_others = tf.reduce_sum(similarity, axis=2) - tf.linalg.diag_part(similarity)
    return tf.reshape(to_others, [-1]) / (copies - 1)


OBJECTIVES = {"channel": channel_mean, "unit": dense_unit}
