"""A network as a build holds it: the Keras model with what its source knows about it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gallery.architecture import ModelInfo
from gallery.config import ModelSpec
from gallery.errors import GalleryError
from gallery.fingerprints import digest, key
from gallery.images import fit
from gallery.models.describe import describe


@dataclass
class LoadedModel:
    spec: ModelSpec
    network: Any  # keras.Model, functional, its input in the units `input_range` names
    weights_hash: str
    input_range: tuple[float, float]
    description: str
    data_source: str | None = None
    reference_image: str = "test image"  # a user's `data: {dir}` images are "reference images" on pages
    test_accuracy: float | None = None
    test_images: np.ndarray | None = None  # the bar for activation ratios, the pool of dataset examples
    history: dict[str, list[float]] = field(default_factory=dict)
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # layer -> a name per unit (classes)
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None  # pixels -> input, where not a resize

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def computation(self) -> str:
        """What cache keys call the network: its weights' hash, with the preprocessing a config put into
        its graph (`preprocess`: layers without weights, so a changed mode must still render again)."""
        preprocess = getattr(self.spec, "preprocess", None)
        if preprocess is None:
            return self.weights_hash
        return key({"weights": self.weights_hash, "preprocess": preprocess.model_dump()})

    @functools.cached_property
    def test_digest(self) -> str:
        """The test images' content hash, computed once: cache keys of what is computed from them."""
        return digest(self.test_images) if self.test_images is not None else ""

    def input_of(self, pixels: np.ndarray) -> np.ndarray:
        """An image as this model takes it [H, W, C], preprocessed as in its training (images.fit unless
        the model has its own, as EfficientNet-Lite0's resize and centre crop)."""
        if self.preprocess is not None:
            return self.preprocess(pixels)
        return fit(pixels, tuple(int(d) for d in self.network.inputs[0].shape[1:]), self.input_range)

    def inputs_of(self, read: list[tuple[Path, np.ndarray]]) -> np.ndarray:
        """Images read from files as one batch of inputs; one that does not fit (a .npy of another
        shape) is refused naming its file, which a folder of many would otherwise leave to guess."""
        fitted = []
        for path, pixels in read:
            try:
                fitted.append(self.input_of(pixels))
            except GalleryError as exc:
                raise GalleryError(f"{path}: {exc}") from None
        return np.stack(fitted)

    @functools.cached_property
    def info(self) -> ModelInfo:
        """What the plan and the site know of this model: plain facts, no Keras."""
        return describe(self.id, self.network, self.labels, weights_hash=self.weights_hash,
                        description=self.description, data_source=self.data_source,
                        reference_image=self.reference_image,
                        test_accuracy=self.test_accuracy, history=self.history)
