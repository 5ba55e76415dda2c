"""The one conversion between displayable pixels (uint8, 0-255) and a network's input units.

A rendered image must map back to exactly the pixels the network saw, and an input image must
reach the network exactly as its pixels say; every stage converts through these two functions.
They use only arithmetic operators, so they work on NumPy arrays and TensorFlow tensors alike, in
the caller's precision (float32 in the engine, float64 for attribution overlays).
"""

from __future__ import annotations

from typing import Any

import numpy as np

InputRange = tuple[float, float]


def from_uint8(pixels: Any, input_range: InputRange) -> Any:
    """Pixels 0-255 (as floats) -> the same image in `input_range` units."""
    low, high = input_range
    return low + pixels / 255.0 * (high - low)


def to_uint8(values: Any, input_range: InputRange) -> np.ndarray:
    """Values in `input_range` units -> uint8 pixels, rounded and clipped (NumPy arrays)."""
    low, high = input_range
    return np.round((values - low) / (high - low) * 255.0).clip(0, 255).astype(np.uint8)


def shown(pixels: np.ndarray) -> np.ndarray:
    """uint8 [H, W, C] as a person sees it, RGB [H, W, 3]: channel 0 as gray for one or two channels
    (gray and alpha), the first three channels for three or more (RGBA's alpha, a fourth band, dropped)."""
    return np.repeat(pixels[..., :1], 3, axis=-1) if pixels.shape[-1] < 3 else pixels[..., :3]


def channels_shown(channels: int) -> str:
    """What a page says of a picture of an input with `channels` channels."""
    if channels in (1, 3):
        return ""
    if channels == 2:
        return "This network's input has 2 channels: pictures show the first as gray."
    return f"This network's input has {channels} channels: pictures show the first three as RGB."
