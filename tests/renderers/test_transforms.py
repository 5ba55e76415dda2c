"""Random transforms: exact geometry for given amounts, per-image amounts from seeds."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gallery.renderers import (
    transforms,
)


def test_jitter_is_a_per_image_roll() -> None:
    images = tf.constant(np.random.default_rng(0).random((3, 6, 7, 2)), tf.float32)
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]], tf.int64)
    shifted = transforms.jitter(images, 2, seeds).numpy()
    for i in range(3):
        shift = tf.random.stateless_uniform([2], seeds[i], -2, 3, dtype=tf.int32).numpy()
        np.testing.assert_array_equal(shifted[i], np.roll(images[i].numpy(), shift, axis=(0, 1)))
    np.testing.assert_array_equal(transforms.jitter(images, 0, seeds).numpy(), images.numpy())


def ramp(size: int = 5) -> tf.Tensor:
    return tf.constant(np.arange(size * size, dtype=np.float32).reshape(1, size, size, 1))


def test_rotation_by_90_degrees_is_rot90_and_0_is_identity() -> None:
    image = ramp()
    quarter = transforms.rotate(image, tf.constant([np.pi / 2])).numpy()[0, ..., 0]
    np.testing.assert_allclose(quarter, np.rot90(image.numpy()[0, ..., 0]), atol=1e-4)  # counter-clockwise
    np.testing.assert_allclose(transforms.rotate(image, tf.constant([0.0])).numpy(), image.numpy(), atol=1e-5)


def test_scale_zooms_about_the_centre() -> None:
    image = ramp()
    np.testing.assert_allclose(transforms.scale(image, tf.constant([1.0])).numpy(), image.numpy(), atol=1e-5)
    doubled = transforms.scale(image, tf.constant([2.0])).numpy()[0, ..., 0]
    assert doubled[2, 2] == pytest.approx(12.0)  # the centre stays
    # Output (row 0, col 0) reads the input half-way to the centre: (1, 1), value 6.
    assert doubled[0, 0] == pytest.approx(6.0) and doubled[0, 1] == pytest.approx(6.5)


def test_pad_then_crop_is_identity_and_pad_brings_in_the_fill_value() -> None:
    images = tf.constant(np.random.default_rng(2).random((2, 6, 7, 3)), tf.float32)
    padded = transforms.pad(images, 3, 0.5)
    assert padded.shape == (2, 12, 13, 3) and np.all(padded.numpy()[:, :3] == 0.5)
    np.testing.assert_array_equal(transforms.crop(padded, 6, 7).numpy(), images.numpy())
    # With a border as wide as the largest shift, a shifted image meets the border, not its own far edge.
    seeds = tf.constant([[1, 2], [3, 4]], tf.int64)
    shifted = transforms.robustness(3, 0.5, 3, None, 0.0, (6, 7))(images, seeds).numpy()
    wrapped = transforms.jitter(images, 3, seeds).numpy()
    for i in range(2):
        shift = tf.random.stateless_uniform([2], seeds[i], -3, 4, dtype=tf.int32).numpy()
        expected = np.roll(np.pad(images[i].numpy(), [(3, 3), (3, 3), (0, 0)], constant_values=0.5), shift, (0, 1))
        np.testing.assert_array_equal(shifted[i], expected[3:9, 3:10])
        if shift.any():
            assert not np.array_equal(shifted[i], wrapped[i])


def test_random_amounts_are_per_image_and_transforms_compose_in_order() -> None:
    seeds = tf.constant([[5, 6], [7, 8], [9, 10]], tf.int64)
    draws = transforms.uniform(seeds, 0.9, 1.1, salt=1).numpy()
    assert transforms.uniform(seeds[1:2], 0.9, 1.1, salt=1).numpy()[0] == draws[1]
    assert np.all((draws >= 0.9) & (draws < 1.1)) and len(set(draws)) == 3
    assert not np.array_equal(transforms.uniform(seeds, 0.9, 1.1, salt=2).numpy(), draws)
    image = tf.tile(ramp(9), [3, 1, 1, 1])
    rotated = transforms.robustness(0, 0.0, 0, None, 10.0, (9, 9))(image, seeds).numpy()
    angles = transforms.uniform(seeds, -np.radians(10), np.radians(10), salt=2)
    np.testing.assert_allclose(rotated, transforms.rotate(image, angles).numpy(), atol=1e-5)
