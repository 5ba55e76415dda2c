"""Parameterizations: what the optimizer changes, and how that becomes an image in the input range.

As in Lucid's `optvis.param`, the optimizer never needs to know which one it climbs: it sees a
tensor of parameters, `images` turns them into a batch of images inside `input_range`, `project`
keeps them valid after a step, and `from_images` starts them from given images (a first pass's
result). `step_unit` is how far one unit of `learning_rate` moves a parameter.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Square root of the ImageNet colour correlation matrix, from Lucid (optvis/param/color.py).
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02],
                                       [0.27, 0.00, -0.05],
                                       [0.27, -0.09, 0.03]], np.float32)
# Scaled so that no colour direction is stretched: the largest column has norm 1.
COLOR_MIXING = COLOR_CORRELATION_SVD_SQRT / np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0).max()
START_NOISE = 0.05  # keras-vis: uniform noise this wide (of the range) around the middle
SPECTRUM_NOISE = 0.01  # Lucid: the start spectrum's standard deviation
SQUASH_MARGIN = 1e-3  # start images at the range's ends map to finite logits


def decorrelate(images: tf.Tensor) -> tf.Tensor:
    """Decorrelated colour channels -> RGB: a step in one channel moves colours the way ImageNet varies."""
    return tf.tensordot(images, tf.constant(COLOR_MIXING.T), axes=1)


def correlate(images: tf.Tensor) -> tf.Tensor:
    """RGB -> decorrelated channels, the inverse of `decorrelate`."""
    return tf.tensordot(images, tf.constant(np.linalg.inv(COLOR_MIXING.T)), axes=1)


def spectrum_scale(height: int, width: int, decay: float = 1.0) -> np.ndarray:
    """Per frequency of a real 2-D FFT, 1/f^decay (times sqrt(pixels)), as Lucid's `fft_image`.

    Every parameter then has the same effect on the image's energy at its own frequency, so the
    optimizer does not favour the high frequencies that make pixel-space ascent noisy.
    """
    rows = np.fft.fftfreq(height)[:, None]
    cols = np.fft.rfftfreq(width)[None, :]
    frequency = np.sqrt(rows**2 + cols**2)
    return (np.sqrt(height * width) / np.maximum(frequency, 1.0 / max(height, width)) ** decay).astype(np.float32)


class Pixel:
    """keras-vis's parameterization: the pixels themselves, clipped back into the range after each step."""

    def __init__(self, shape: tuple[int, int, int], input_range: tuple[float, float]):
        self.shape = shape
        self.low, self.high = input_range
        self.param_shape = shape
        self.step_unit = self.high - self.low

    def start(self, seed: int, filter_index: int) -> np.ndarray:
        """keras-vis's start: uniform noise 5% of the range wide around its middle."""
        noise = np.random.default_rng([seed, filter_index]).random(self.shape) - 0.5
        return ((self.low + self.high) / 2 + noise * START_NOISE * (self.high - self.low)).astype(np.float32)

    def images(self, params: tf.Tensor) -> tf.Tensor:
        return params

    def project(self, params: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(params, self.low, self.high)

    def from_images(self, images: tf.Tensor) -> tf.Tensor:
        return self.project(images)


class Fourier:
    """Olah et al. 2017: a 1/f-scaled spectrum, colour-decorrelated (RGB only), squashed into the range.

    params [batch, 2 (real, imaginary), channels, height, width // 2 + 1] -> inverse real FFT,
    divided by 4 (Lucid) -> `decorrelate` -> sigmoid -> `input_range`. The sigmoid keeps every
    image inside the range without clipping, so no step is lost against a bound.
    """

    def __init__(self, shape: tuple[int, int, int], input_range: tuple[float, float], decay: float = 1.0):
        self.shape = shape
        self.low, self.high = input_range
        height, width, channels = shape
        self.scale = tf.constant(spectrum_scale(height, width, decay))
        self.param_shape = (2, channels, height, width // 2 + 1)
        self.step_unit = 1.0  # Lucid's Adam step of 0.05 per parameter

    def start(self, seed: int, filter_index: int) -> np.ndarray:
        """Lucid's start: a faint random spectrum, an almost flat mid-range image with 1/f noise."""
        spectrum = np.random.default_rng([seed, filter_index]).normal(size=self.param_shape) * SPECTRUM_NOISE
        return spectrum.astype(np.float32)

    def images(self, params: tf.Tensor) -> tf.Tensor:
        height, width, channels = self.shape
        spectrum = tf.complex(params[:, 0], params[:, 1]) * tf.complex(self.scale, 0.0)
        logits = tf.transpose(tf.signal.irfft2d(spectrum, fft_length=[height, width]), [0, 2, 3, 1]) / 4.0
        if channels == 3:
            logits = decorrelate(logits)
        return self.low + (self.high - self.low) * tf.sigmoid(logits)

    def project(self, params: tf.Tensor) -> tf.Tensor:
        return params

    def from_images(self, images: tf.Tensor) -> tf.Tensor:
        """The parameters whose image is `images` (values at the range's ends move in by a hair)."""
        height, width, channels = self.shape
        fraction = tf.clip_by_value((images - self.low) / (self.high - self.low), SQUASH_MARGIN, 1 - SQUASH_MARGIN)
        logits = tf.math.log(fraction) - tf.math.log1p(-fraction)
        if channels == 3:
            logits = correlate(logits)
        spectrum = tf.signal.rfft2d(tf.transpose(logits * 4.0, [0, 3, 1, 2]), fft_length=[height, width])
        spectrum = spectrum / tf.complex(self.scale, 0.0)
        return tf.stack([tf.math.real(spectrum), tf.math.imag(spectrum)], axis=1)


PARAMS = {"pixel": Pixel, "fourier": Fourier}
