"""Random transformations applied inside the compiled step, so the image must work under all of them."""

from __future__ import annotations

import tensorflow as tf


def jitter(images: tf.Tensor, max_shift: int, seeds: tf.Tensor) -> tf.Tensor:
    """Roll each image by its own random (dy, dx) in [-max_shift, max_shift], with wrap-around.

    Each image draws from its own stateless seed, so a filter's result does not depend on which
    other filters share its batch.
    """
    if max_shift == 0:
        return images
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    shifts = tf.map_fn(
        lambda seed: tf.random.stateless_uniform([2], seed, -max_shift, max_shift + 1, dtype=tf.int32),
        seeds, fn_output_signature=tf.int32,
    )
    rows = tf.math.floormod(tf.range(height)[None, :] - shifts[:, :1], height)
    cols = tf.math.floormod(tf.range(width)[None, :] - shifts[:, 1:], width)
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)
