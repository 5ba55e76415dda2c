"""Random transformations applied inside the compiled step, so the image must work under all of them.

Transformation robustness (Olah et al. 2017): an image that keeps a unit high while it is
shifted, scaled and rotated a little cannot rely on pixel-exact high-frequency patterns. The
geometric functions take explicit per-image amounts (so their geometry can be checked exactly);
`uniform` draws those amounts from each image's own stateless seed, so a filter's result does
not depend on which other filters share its batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

Transform = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (images [B, H, W, C], seeds [B, 2]) -> images


def uniform(seeds: tf.Tensor, low: float, high: float, salt: int) -> tf.Tensor:
    """One number in [low, high) per image, from its seed folded with `salt` (one salt per transform)."""
    return tf.map_fn(
        lambda seed: tf.random.stateless_uniform([], tf.random.experimental.stateless_fold_in(seed, salt), low, high),
        seeds, fn_output_signature=tf.float32,
    )


def jitter(images: tf.Tensor, max_shift: int, seeds: tf.Tensor) -> tf.Tensor:
    """Roll each image by its own random (dy, dx) in [-max_shift, max_shift], with wrap-around."""
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


def pad(images: tf.Tensor, width: int, value: float) -> tf.Tensor:
    """A border of `value` on every side: shifted, shrunk or rotated content then meets a neutral
    border instead of wrapping around or smearing its own edge."""
    return tf.pad(images, [[0, 0], [width, width], [width, width], [0, 0]], constant_values=value)


def crop(images: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """The centre `height` x `width`: back to the network's input size after `pad`."""
    top = (tf.shape(images)[1] - height) // 2
    left = (tf.shape(images)[2] - width) // 2
    return images[:, top:top + height, left:left + width, :]


def _affine(images: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor) -> tf.Tensor:
    """Each image mapped by its own [[cos, -sin], [sin, cos]] about its centre (bilinear, edges reflected).

    ImageProjectiveTransformV3 reads, for output pixel (x, y), the input at
    (a0 x + a1 y + a2, b0 x + b1 y + b2): the inverse map, as Keras's RandomRotation builds it.
    """
    height, width = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
    x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2
    y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2
    zeros = tf.zeros_like(cos)
    matrices = tf.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=matrices, output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT",
    )


def scale(images: tf.Tensor, factors: tf.Tensor) -> tf.Tensor:
    """Each image zoomed about its centre by its own factor (> 1 enlarges)."""
    return _affine(images, 1.0 / factors, tf.zeros_like(factors))


def rotate(images: tf.Tensor, radians: tf.Tensor) -> tf.Tensor:
    """Each image rotated about its centre by its own angle (positive: counter-clockwise as displayed)."""
    return _affine(images, tf.cos(radians), tf.sin(radians))


def compose(transforms: list[Transform]) -> Transform:
    """The transforms applied in order, each with the same per-image seeds."""

    def apply(images: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
        for transform in transforms:
            images = transform(images, seeds)
        return images

    return apply


def robustness(pad_width: int, fill: float, max_shift: int, scales: tuple[float, float] | None,
               max_degrees: float, shape: tuple[int, int]) -> Transform:
    """Lucid's order: pad, jitter, scale, rotate; then back to `shape`. Absent amounts are skipped."""
    chosen: list[Transform] = []
    if pad_width:
        chosen.append(lambda images, seeds: pad(images, pad_width, fill))
    if max_shift:
        chosen.append(lambda images, seeds: jitter(images, max_shift, seeds))
    if scales is not None:
        chosen.append(lambda images, seeds: scale(images, uniform(seeds, scales[0], scales[1], salt=1)))
    if max_degrees:
        limit = math.radians(max_degrees)
        chosen.append(lambda images, seeds: rotate(images, uniform(seeds, -limit, limit, salt=2)))
    if pad_width:
        chosen.append(lambda images, seeds: crop(images, *shape))
    return compose(chosen)
