"""Parameterizations: the Fourier image's spectrum, round trips, colour decorrelation."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gallery.renderers import param


def radial_slope(image: np.ndarray) -> float:
    """Slope of log amplitude against log frequency, averaged over rings of the 2-D spectrum."""
    amplitude = np.abs(np.fft.fft2(image - image.mean()))
    rows, cols = np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij")
    radius = np.sqrt(rows**2 + cols**2)
    rings = np.linspace(2 / image.shape[0], 0.45, 12)
    centres = (rings[:-1] + rings[1:]) / 2
    means = [amplitude[(radius >= lo) & (radius < hi)].mean() for lo, hi in zip(rings[:-1], rings[1:])]
    return float(np.polyfit(np.log(centres), np.log(means), 1)[0])


def test_fourier_start_has_a_1_over_f_spectrum_and_any_params_stay_in_range() -> None:
    fourier = param.Fourier((64, 64, 3), (-1.0, 2.0))
    starts = tf.constant(np.stack([fourier.start(0, f) for f in range(4)]))
    images = fourier.images(starts).numpy()
    assert images.shape == (4, 64, 64, 3)
    assert abs(images.mean() - 0.5) < 0.05  # the sigmoid's middle: the range's middle
    slopes = [radial_slope(images[i, :, :, c]) for i in range(4) for c in range(3)]
    assert all(-1.3 < s < -0.7 for s in slopes), slopes  # amplitude ~ 1/f
    # White noise (slope about 0) is what the pixel parameterization starts from, for contrast.
    assert abs(radial_slope(param.Pixel((64, 64, 1), (0.0, 1.0)).start(0, 0)[..., 0])) < 0.3
    wild = fourier.images(tf.random.normal([2, *fourier.param_shape], stddev=100.0)).numpy()
    assert wild.min() >= -1.0 and wild.max() <= 2.0 and wild.std() > 0.5


@pytest.mark.parametrize("channels", [3, 1])
def test_fourier_round_trip_from_images(channels: int) -> None:
    fourier = param.Fourier((20, 15, channels), (0.0, 255.0))
    images = tf.constant(np.random.default_rng(0).uniform(5, 250, (2, 20, 15, channels)), tf.float32)
    np.testing.assert_allclose(fourier.images(fourier.from_images(images)).numpy(), images.numpy(), atol=0.02)


def test_colour_decorrelation_round_trip_and_mixing() -> None:
    colours = tf.constant(np.random.default_rng(1).normal(size=(2, 4, 4, 3)), tf.float32)
    np.testing.assert_allclose(param.correlate(param.decorrelate(colours)).numpy(), colours.numpy(), atol=1e-5)
    # One decorrelated channel moves all three colours: the first is ImageNet's luminance direction.
    luminance = param.decorrelate(tf.constant([[[[1.0, 0.0, 0.0]]]])).numpy().ravel()
    assert np.all(luminance > 0) and np.ptp(luminance) < 0.05
    assert np.linalg.norm(param.COLOR_MIXING, axis=0).max() == pytest.approx(1)
