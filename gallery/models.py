"""Models: build, train (once, cached by content) or load each configured network.

Every network is a Keras 3 functional model, because truncating a model at a layer (what the
renderers do) needs a graph of symbolic tensors, which Sequential models do not reliably have.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gallery import datasets
from gallery.config import LoadedConfig, ModelSpec
from gallery.errors import GalleryError
from gallery.files import atomic_path, write_json

log = logging.getLogger(__name__)
ARCHITECTURE_VERSION = {"mnist_cnn": 1}


@dataclass(frozen=True)
class LayerInfo:
    name: str
    type: str
    output_shape: str
    params: int
    units: int | None  # channels of a conv map or units of a dense layer: what can be visualized


@dataclass
class LoadedModel:
    spec: ModelSpec
    network: Any  # keras.Model
    weights_hash: str
    input_range: tuple[float, float]
    description: str
    data_source: str | None = None
    test_accuracy: float | None = None
    test_images: np.ndarray | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)  # layer -> a name per unit (classes)

    @property
    def id(self) -> str:
        return self.spec.id

    def caption(self, layer: str, index: int) -> str:
        """`282 tiger cat` where the unit has a name, else just the index."""
        names = self.labels.get(layer)
        return f"{index} {names[index]}" if names and index < len(names) else str(index)

    def layers(self) -> list[LayerInfo]:
        return layer_table(self.network)


def layer_table(network: Any) -> list[LayerInfo]:
    rows = []
    for layer in network.layers:
        shape = tuple(layer.output.shape)
        spatial_or_dense = len(shape) in (2, 4) and layer.__class__.__name__ != "InputLayer"
        rows.append(LayerInfo(
            name=layer.name,
            type=layer.__class__.__name__,
            output_shape="(" + ", ".join("None" if d is None else str(d) for d in shape) + ")",
            params=int(layer.count_params()) if layer.built else 0,
            units=int(shape[-1]) if spatial_or_dense and shape[-1] is not None else None,
        ))
    return rows


def _mnist_cnn() -> Any:
    """The seed report's MNIST CNN, layer for layer, with the report's layer names."""
    import keras
    from keras import layers

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


BUILTINS = {"mnist_cnn": _mnist_cnn}


def architecture(spec: ModelSpec, config: LoadedConfig) -> Any:
    """The network with its layers but not necessarily its trained weights: enough to check a config."""
    if spec.source == "builtin":
        return BUILTINS[spec.builtin]()
    if spec.source == "file":
        return _load_file(config.resolve(spec.path))
    return _keras_application(spec, config, weights=None)


def _load_file(path: Path) -> Any:
    import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files; all mean "cannot use this file"
        raise GalleryError(f"{path}: cannot load model: {str(exc).splitlines()[0]}") from None


def _keras_application(spec: ModelSpec, config: LoadedConfig, weights: str | None) -> Any:
    import keras

    constructor = getattr(keras.applications, spec.name or "", None)
    if constructor is None:
        index = config.config.models.index(spec)
        raise config.error(("models", index, "name"), f"keras.applications has no model '{spec.name}'")
    kwargs: dict[str, Any] = {"weights": weights}
    if spec.input_shape is not None:
        kwargs.update(input_shape=spec.input_shape, include_top=False)
    return constructor(**kwargs)


def weights_hash(network: Any) -> str:
    digest = hashlib.sha256()
    for array in network.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def load(spec: ModelSpec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    """Build, train or load one model; trained builtins are cached so a second build trains nothing."""
    if spec.source == "builtin":
        return _trained_builtin(spec, cache_dir)
    if spec.source == "file":
        network = _load_file(config.resolve(spec.path))
        description = f"loaded from {spec.path}"
        default_range = (0.0, 1.0)
    else:
        weights = spec.weights
        if weights not in (None, "imagenet"):
            weights = str(config.resolve(weights))
        network = _keras_application(spec, config, weights)
        description = f"keras.applications.{spec.name}, weights: {spec.weights or 'random (none)'}"
        default_range = (0.0, 255.0)
    return LoadedModel(spec, network, weights_hash(network), spec.input_range or default_range, description)


def _trained_builtin(spec: ModelSpec, cache_dir: Path) -> LoadedModel:
    import keras

    data = datasets.mnist(spec.data.source, spec.data.test_fraction, spec.train.seed)
    key_text = json.dumps({
        "architecture": f"{spec.builtin}/v{ARCHITECTURE_VERSION[spec.builtin]}",
        "data": data.fingerprint,
        "train": spec.train.model_dump(),
        "keras": keras.__version__.split(".")[0],
    }, sort_keys=True)
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    weights_file = cache_dir / "models" / f"{spec.builtin}-{key}.keras"
    meta_file = weights_file.with_suffix(".json")
    if weights_file.is_file() and meta_file.is_file():
        log.info("%s: reusing trained weights %s", spec.id, weights_file.name)
        network = keras.models.load_model(weights_file, safe_mode=True)
        meta = json.loads(meta_file.read_text())
    else:
        network, meta = _train(spec, data)
        with atomic_path(weights_file) as temp:
            network.save(temp)
        write_json(meta_file, meta)
    log.info("%s: test accuracy %.4f on %s", spec.id, meta["test_accuracy"], data.description)
    return LoadedModel(
        spec, network, weights_hash(network), spec.input_range or (0.0, 1.0),
        description=f"builtin {spec.builtin}, trained {spec.train.epochs} epochs",
        data_source=data.description, test_accuracy=meta["test_accuracy"],
        test_images=data.x_test, history=meta["history"],
        labels={"preds": [f"digit {d}" for d in range(10)]},
    )


def _train(spec: ModelSpec, data: datasets.Dataset) -> tuple[Any, dict[str, Any]]:
    import keras

    from gallery.progress import KerasProgress

    keras.utils.set_random_seed(spec.train.seed)
    network = BUILTINS[spec.builtin]()
    y_train = keras.utils.to_categorical(data.y_train, data.classes)
    y_test = keras.utils.to_categorical(data.y_test, data.classes)
    history = network.fit(
        data.x_train, y_train, batch_size=spec.train.batch_size, epochs=spec.train.epochs,
        validation_data=(data.x_test, y_test), verbose=0,
        callbacks=[KerasProgress(f"training {spec.id}")],
    )
    _, accuracy = network.evaluate(data.x_test, y_test, verbose=0)
    history_lists = {name: [float(v) for v in values] for name, values in history.history.items()}
    return network, {"test_accuracy": float(accuracy), "history": history_lists, "data": data.description}
