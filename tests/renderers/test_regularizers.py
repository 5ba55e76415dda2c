"""Image priors against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gallery.renderers import regularizers


def test_total_variation_closed_forms() -> None:
    flat = tf.fill([1, 5, 5, 1], 0.7)
    assert float(regularizers.total_variation(flat, 2.0)[0]) == pytest.approx(0.0, abs=1e-9)
    # A horizontal ramp with slope 0.1: every (dx^2 + dy^2) over the 4x4 inner grid is 0.01.
    ramp = tf.constant(np.tile(np.arange(5) * 0.1, (5, 1))[None, :, :, None], tf.float32)
    expected = 16 * 0.01 / 25
    assert float(regularizers.total_variation(ramp, 2.0)[0]) == pytest.approx(expected, rel=1e-4)
    # beta = 1 sums gradient magnitudes instead: 16 * 0.1 / 25.
    assert float(regularizers.total_variation(ramp, 1.0)[0]) == pytest.approx(16 * 0.1 / 25, rel=1e-4)


@pytest.mark.parametrize("beta", [1.0, 2.0, 3.0, 2.5])
def test_total_variation_of_colour_images_against_numpy(beta: float) -> None:
    images = np.random.default_rng(2).random((2, 6, 5, 3)).astype(np.float32)
    down = images[:, 1:, :-1] - images[:, :-1, :-1]
    right = images[:, :-1, 1:] - images[:, :-1, :-1]
    expected = ((down**2 + right**2) ** (beta / 2)).sum(axis=(1, 2, 3)) / (6 * 5 * 3)
    np.testing.assert_allclose(regularizers.total_variation(tf.constant(images), beta).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.5, 3.0, 6.0, 2.7, 10.0])
def test_power_by_multiplication_matches_pow(exponent: float) -> None:
    values = np.random.default_rng(3).uniform(0, 2, 50).astype(np.float32)
    np.testing.assert_allclose(regularizers.power(tf.constant(values), exponent).numpy(), values**exponent, rtol=1e-5)


def test_lp_norm_closed_form() -> None:
    image = tf.fill([2, 4, 4, 3], 0.5)
    n = 4 * 4 * 3
    expected = (n * 0.5 ** 6) ** (1 / 6) / n
    np.testing.assert_allclose(regularizers.lp_norm(image, 6.0).numpy(), [expected, expected], rtol=1e-5)
