"""Image priors, each a function of a batch of images returning one penalty per image.

Both are normalized by the number of input values, as keras-vis does, so their weights mean the
same thing at any image size.
"""

from __future__ import annotations

import tensorflow as tf


def _values_per_image(images: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.reduce_prod(tf.shape(images)[1:]), images.dtype)


def lp_norm(images: tf.Tensor, p: float) -> tf.Tensor:
    """Keeps pixel values small: (sum |x|^p)^(1/p) per image."""
    total = tf.reduce_sum(tf.pow(tf.abs(images), p), axis=[1, 2, 3])
    return tf.pow(total + 1e-12, 1.0 / p) / _values_per_image(images)


def total_variation(images: tf.Tensor, beta: float) -> tf.Tensor:
    """Favours blobby images: sum over pixels of (dx^2 + dy^2)^(beta/2)."""
    down = images[:, 1:, :-1, :] - images[:, :-1, :-1, :]
    right = images[:, :-1, 1:, :] - images[:, :-1, :-1, :]
    # The small constant keeps the gradient finite where beta < 2 and the image is flat.
    squared = tf.square(down) + tf.square(right) + 1e-12
    return tf.reduce_sum(tf.pow(squared, beta / 2.0), axis=[1, 2, 3]) / _values_per_image(images)
