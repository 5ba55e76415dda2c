"""Image priors, each a function of a batch of images returning one penalty per image, and their registry.

Both are normalized by the number of input values, as keras-vis does, so their weights mean the
same thing at any image size. A new prior is one function here, one `REGULARIZERS` line and its
weight (and parameters) as keys of `config.Setting`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from gallery.config import Setting


def _values_per_image(images: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.reduce_prod(tf.shape(images)[1:]), images.dtype)


def power(values: tf.Tensor, exponent: float) -> tf.Tensor:
    """`values ** exponent` for values >= 0, by multiplications (and one square root for a half) when
    the exponent is a multiple of 1/2 up to 8: several times cheaper per step than pow's exp(log)."""
    if not 0 < exponent <= 8 or 2 * exponent != round(2 * exponent):
        return tf.pow(values, exponent)
    result = tf.sqrt(values) if round(2 * exponent) % 2 else None
    base, whole = values, int(exponent)
    while whole:
        if whole & 1:
            result = base if result is None else result * base
        whole >>= 1
        if whole:
            base = base * base
    return result


def lp_norm(images: tf.Tensor, p: float) -> tf.Tensor:
    """Keeps pixel values small: (sum |x|^p)^(1/p) per image."""
    total = tf.reduce_sum(power(tf.abs(images), p), axis=[1, 2, 3])
    return tf.pow(total + 1e-12, 1.0 / p) / _values_per_image(images)


def total_variation(images: tf.Tensor, beta: float) -> tf.Tensor:
    """Favours blobby images: sum over pixels of (dx^2 + dy^2)^(beta/2).

    Both differences come from one depthwise convolution, a fourth of the cost of slicing the
    image four ways (forward and gradient, every step).
    """
    channels = images.shape[-1]
    kernel = np.zeros((2, 2, channels, 2), np.float32)  # per channel: [down, right] differences
    kernel[0, 0] = -1.0
    kernel[1, 0, :, 0] = kernel[0, 1, :, 1] = 1.0
    differences = tf.nn.depthwise_conv2d(images, tf.constant(kernel), [1, 1, 1, 1], "VALID")
    pairs = tf.reshape(tf.square(differences), tf.concat([tf.shape(differences)[:3], [channels, 2]], axis=0))
    # The small constant keeps the gradient finite where beta < 2 and the image is flat.
    squared = tf.reduce_sum(pairs, axis=-1) + 1e-12
    return tf.reduce_sum(power(squared, beta / 2.0), axis=[1, 2, 3]) / _values_per_image(images)


@dataclass(frozen=True)
class Regularizer:
    """An image prior the engine adds to every step: `penalty` of images in input-range units, one
    number per image, times the setting's value of `weight` (0 leaves it out of the graph).

    The engine, the convergence verdict and the loss charts read this registry; none names a prior.
    """

    name: str  # the loss series it adds, in results and on charts
    weight: str  # the Setting key holding its weight
    penalty: Callable[[tf.Tensor, Setting], tf.Tensor]


REGULARIZERS = (
    Regularizer("lp_norm", "lp_norm_weight", lambda images, setting: lp_norm(images, setting.lp_p)),
    Regularizer("tv", "tv_weight", lambda images, setting: total_variation(images, setting.tv_beta)),
)
