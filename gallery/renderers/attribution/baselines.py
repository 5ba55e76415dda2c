"""The reference images that Integrated Gradients starts its path from and occlusion pastes in.

`black`: every pixel at the low end of the input range. `blurred`: the image under a Gaussian blur
of standard deviation 1/16 of its larger side, which removes the detail a map should find but
keeps the colours, so the reference is not far outside what the network has seen (Sturmfels et al.
2020, "Visualizing the Impact of Feature Attribution Baselines"). A separable blur in NumPy: a few
lines, exact, and the same in every process.
"""

from __future__ import annotations

import numpy as np

BLUR_SHARE = 1 / 16  # the blur's standard deviation as a share of the image's larger side


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """`image` [H, W, C] blurred along both axes, edges reflected."""
    radius = max(1, int(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    blurred = np.asarray(image, np.float64)
    for axis in (0, 1):
        padded = np.pad(blurred, [(radius, radius) if a == axis else (0, 0) for a in range(blurred.ndim)], "reflect")
        blurred = sum(weight * np.take(padded, np.arange(blurred.shape[axis]) + radius + offset, axis=axis)
                      for weight, offset in zip(kernel, offsets))
    return blurred.astype(image.dtype)


def blurred(image: np.ndarray, share: float = BLUR_SHARE) -> np.ndarray:
    """`image` [H, W, C] under a blur of `share` of its larger side (default: the `blurred` baseline)."""
    return gaussian_blur(image, max(image.shape[:2]) * share)


def baseline(image: np.ndarray, kind: str, input_range: tuple[float, float]) -> np.ndarray:
    """The `kind` ("black" or "blurred") reference of `image` [H, W, C], in its units and dtype."""
    return np.full_like(image, input_range[0]) if kind == "black" else blurred(image)
