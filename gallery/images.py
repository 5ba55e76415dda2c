"""Input images: read once, then fed to each model as it was trained.

A config names an image by a path (relative to the config file) or `sample:NAME`, one of the
photos scikit-image ships, so an atlas can show what a network sees without any download. An image
reaches a model with as many channels as its input has: 1 luminance, 2 luminance and alpha, 3 RGB,
4 RGBA as stored; a network with any other count takes a `.npy` array [height, width, channels]
already in its input units.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageOps

from gallery.config import KeyPath, LoadedConfig
from gallery.errors import GalleryError
from gallery.output import MARKER
from gallery.pixels import from_uint8

log = logging.getLogger(__name__)

MAX_PIXELS = 50_000_000  # an input image is resized to a network's input; a bigger one is a mistake or an attack
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # a network's input channels -> the picture mode it is fed
SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".npy"}


def _pixels(path: Path) -> np.ndarray:
    """uint8 HxW (gray) or HxWxC (gray and alpha, RGB, RGBA) as stored, or a .npy's float array."""
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False)
        if array.ndim != 3 or not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
            raise ValueError(f"a .npy image must be a finite array [height, width, channels], not {array.dtype} "
                             f"{array.shape}")
        return array.astype(np.float32)
    with Image.open(path) as opened:
        width, height = opened.size
        if width * height > MAX_PIXELS:
            raise ValueError(f"{width}x{height} pixels, more than {MAX_PIXELS // 1_000_000} million: resize it first")
        picture = ImageOps.exif_transpose(opened)  # upright, as a photo viewer shows it (EXIF orientation)
        if picture.mode.startswith("I;16") or picture.mode in ("I", "F"):
            return _deep_gray(np.asarray(picture), picture.mode)
        alpha = "A" in picture.getbands() or "transparency" in picture.info
        gray = picture.mode in ("1", "L", "LA")
        return np.asarray(picture.convert(("LA" if gray else "RGBA") if alpha else ("L" if gray else "RGB")))


def _deep_gray(values: np.ndarray, mode: str) -> np.ndarray:
    """A 16-bit, 32-bit or float gray image as 8 bits: 16-bit by its own scale (/257), the others by
    their range, where Pillow's convert would clip every value above 255 to white."""
    values = values.astype(np.float64)
    if mode.startswith("I;16"):
        return np.round(values / 257).astype(np.uint8)
    low, high = (float(values.min()), float(values.max())) if np.isfinite(values).all() else (0.0, 0.0)
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return np.round((values - low) / (high - low) * 255).astype(np.uint8)


def read(source: str, config: LoadedConfig, key: KeyPath) -> np.ndarray:
    """The image's pixels; a one-line error at the config's `key` for a file that is missing, not an
    image, truncated or larger than MAX_PIXELS."""
    if source.startswith("sample:"):
        return np.asarray(getattr(skimage.data, source.removeprefix("sample:"))(), np.uint8)
    try:
        return _pixels(config.resolve(source))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())[:200]
        raise config.error(key, f"cannot read image {source}: {reason}") from None


def image_files(root: Path) -> list[Path]:
    """Every image file under `root`, recursively, sorted by path. Hidden files and folders (a cache such
    as .gallery-cache, .thumbs) and sites gallery wrote (they hold its marker) are not the user's images:
    a folder of photos that also holds the atlas built from it must not feed on its own output."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders
                         if not name.startswith(".") and not (Path(folder) / name / MARKER).is_file()]
        found += [Path(folder) / name for name in files
                  if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES]
    return sorted(path for path in found if path.is_file())


def by_class(root: Path, paths: list[Path]) -> list[Path]:
    """`paths` under `root` taken in turn from each top-level subfolder (a class), so the first N
    of them hold every class alike rather than the first class only; files in `root` itself are one group."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        parts = path.relative_to(root).parts
        groups.setdefault(parts[0] if len(parts) > 1 else "", []).append(path)
    turns = itertools.zip_longest(*(groups[name] for name in sorted(groups)))
    return [path for turn in turns for path in turn if path is not None]


def readable(folder: Path, paths: list[Path], limit: int | None) -> Iterator[tuple[Path, np.ndarray]]:
    """The first `limit` (None: all) of `paths` under `folder` that read as images, with their pixels,
    one at a time (the plan only checks them: a folder of 100 photos is not held in memory); the
    others are skipped with one warning naming them, as a photo folder often holds a broken file."""
    found = 0
    skipped = []
    for path in paths:
        if found == limit:
            break
        try:
            pixels = _pixels(path)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            skipped.append(path.relative_to(folder).as_posix())
            continue
        found += 1
        yield path, pixels
    if skipped:
        log.warning("skipping %d unreadable image%s in %s: %s", len(skipped), "s" * (len(skipped) != 1), folder,
                    ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""))


def read_folder(folder: Path, limit: int | None) -> list[tuple[Path, np.ndarray]]:
    """The first `limit` (None: all) readable images under `folder` with their files, taken in turn from
    its class subfolders (`by_class`)."""
    if not folder.is_dir():
        raise GalleryError(f"data folder not found: {folder}")
    found = list(readable(folder, by_class(folder, image_files(folder)), limit))
    if not found:
        raise GalleryError(f"no readable images in {folder}")
    return found


def fit(pixels: np.ndarray, shape: tuple[int, ...], input_range: tuple[float, float]) -> np.ndarray:
    """uint8 pixels -> one input [H, W, C] in a model's units: resized to its input (bicubic), as many
    channels as it has (see MODES), pixels 0-255 mapped onto `input_range`. A float array (.npy) must
    already be the input itself."""
    height, width, channels = shape
    if pixels.dtype != np.uint8:
        if pixels.shape != (height, width, channels):
            raise GalleryError(f"a .npy image of shape {pixels.shape} for an input of shape "
                               f"{(height, width, channels)}")
        return pixels.astype(np.float32)
    if channels not in MODES:
        raise GalleryError(f"the network's input has {channels} channels: give its images as .npy arrays "
                           f"[{height}, {width}, {channels}] in its input units")
    picture = Image.fromarray(pixels).convert(MODES[channels])
    resized = np.asarray(picture.resize((width, height), Image.Resampling.BICUBIC), np.float32)
    return from_uint8(resized.reshape(height, width, channels), input_range).astype(np.float32)
