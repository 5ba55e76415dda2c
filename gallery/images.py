"""Input images for feature maps and attribution: read once, then fed as each model was trained.

A config names an image by a path (relative to the config file) or `sample:NAME`, one of the
photos scikit-image ships, so an atlas can show what a network sees without any download.
"""

from __future__ import annotations

import numpy as np
import skimage.data
from PIL import Image

from gallery.config import KeyPath, LoadedConfig
from gallery.models import LoadedModel
from gallery.pixels import from_uint8

MAX_PIXELS = 50_000_000  # an input image is resized to a network's input; a bigger one is a mistake or an attack


def read(source: str, config: LoadedConfig, key: KeyPath) -> np.ndarray:
    """The image's pixels as uint8, HxW or HxWx3 (alpha dropped); a one-line error at the config's
    `key` for a file that is missing, not an image, truncated or larger than MAX_PIXELS."""
    if source.startswith("sample:"):
        return np.asarray(getattr(skimage.data, source.removeprefix("sample:"))(), np.uint8)
    try:
        with Image.open(config.resolve(source)) as picture:
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise config.error(key, f"image {source} is {width}x{height} pixels, more than "
                                        f"{MAX_PIXELS // 1_000_000} million: resize it first")
            return np.asarray(picture.convert("L" if picture.mode in ("1", "L", "I;16", "I") else "RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())[:200]
        raise config.error(key, f"cannot read image {source}: {reason}") from None


def model_input(model: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels -> one input [H, W, C] in the model's own units, preprocessed as in its training.

    A model with its own preprocessing (EfficientNet-Lite0's resize and centre crop) gets that; any
    other a plain resize to its input size (grayscale where it has one channel) and pixels 0-255
    mapped onto its input range.
    """
    if model.preprocess is not None:
        return model.preprocess(pixels)
    height, width, channels = (int(d) for d in model.network.inputs[0].shape[1:])
    picture = Image.fromarray(pixels).convert("L" if channels == 1 else "RGB")
    resized = np.asarray(picture.resize((width, height), Image.Resampling.BICUBIC), np.float32)
    return from_uint8(resized.reshape(height, width, channels), model.input_range).astype(np.float32)
