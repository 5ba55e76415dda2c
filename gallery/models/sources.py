"""Model sources: one loader class per `source` of a config's model (config.ModelSpec).

Every network comes out as a Keras 3 functional model whose input is in pixel units (or an affine
map of them, stated by its input range), because truncating a model at a layer (what the renderers
do) needs one flat graph of symbolic tensors, and a rendered image must map back to displayable
pixels. Keras applications get their own preprocessing as the first operations of that graph.
"""

from __future__ import annotations

import re
import types
import warnings
import zipfile
from pathlib import Path
from typing import Any, Generic, TypeVar

import h5py
import keras

from gallery import datasets
from gallery.config import (
    ApplicationModel,
    BuiltinModel,
    FileModel,
    LoadedConfig,
    ModelSpec,
)
from gallery.errors import GalleryError, suggest
from gallery.fingerprints import weights_digest
from gallery.models.builtins import BUILTINS, imagenet_labels
from gallery.models.loaded import LoadedModel

Spec = TypeVar("Spec", bound=ModelSpec)


def model_error(spec: ModelSpec, config: LoadedConfig, key: str, message: str) -> GalleryError:
    return config.error(("models", config.config.models.index(spec), key), message)


class Source(Generic[Spec]):
    """How one kind of model spec becomes a network: its architecture alone (to check a config, no
    training and no download), its unit names, and the loaded model."""

    def architecture(self, spec: Spec, config: LoadedConfig) -> Any:
        raise NotImplementedError

    def labels(self, spec: Spec, network: Any) -> dict[str, tuple[str, ...]]:
        return {}

    def load(self, spec: Spec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
        raise NotImplementedError


class BuiltinSource(Source[BuiltinModel]):
    def architecture(self, spec: BuiltinModel, config: LoadedConfig) -> Any:
        return BUILTINS[spec.builtin].build()

    def labels(self, spec: BuiltinModel, network: Any) -> dict[str, tuple[str, ...]]:
        return BUILTINS[spec.builtin].labels()

    def load(self, spec: BuiltinModel, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
        builtin = BUILTINS[spec.builtin]
        try:
            return builtin.load(builtin, spec, config, cache_dir)
        except datasets.DataError as exc:
            raise model_error(spec, config, "data", str(exc)) from None


MAX_UNPACKED = 4 << 30  # bytes a .keras archive may unpack to: the largest keras.applications are under 1 GB


def _not_a_model(path: Path) -> str | None:
    """Why `path` is not a model file Keras can read, found before Keras unpacks anything; None when it may be."""
    if path.stat().st_size == 0:
        return "an empty file, not a Keras model"
    suffix = path.suffix.lower()
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            return "not a Keras model file (a .keras file is a zip archive; this one is not)"
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
        if unpacked > MAX_UNPACKED:
            return (f"its archive claims {unpacked / 2**30:.1f} GB unpacked, more than {MAX_UNPACKED >> 30} GB: "
                    "refused before unpacking")
        return None
    if suffix in (".h5", ".hdf5"):
        return None if h5py.is_hdf5(path) else "not a Keras model file (an .h5 file is HDF5; this one is not)"
    return f"not a Keras model file: gallery reads .keras and .h5 files, not '{suffix or 'no suffix'}'"


def _reason(exc: Exception) -> str:
    """What a Keras load failure means, in one line: the custom class it needs, or its own first words."""
    text = " ".join(str(exc).split())
    custom = re.search(r"Could not (?:locate|deserialize) (class|function) '([^']+)'", text)
    if custom:
        return (f"it needs the custom {custom.group(1)} '{custom.group(2)}', which is not registered: gallery "
                "loads models in safe mode with Keras's own layers only")
    return text[:300] or type(exc).__name__


class FileSource(Source[FileModel]):
    def architecture(self, spec: FileModel, config: LoadedConfig) -> Any:
        path = config.resolve(spec.path)
        problem = _not_a_model(path)
        if problem:
            raise model_error(spec, config, "path", f"{spec.path}: {problem}")
        with warnings.catch_warnings():  # old files make Keras warn about how they were saved
            warnings.simplefilter("ignore")
            try:
                return keras.models.load_model(path, compile=False, safe_mode=True)
            except Exception as exc:  # Keras raises many types for bad files; all mean "cannot use this file"
                raise model_error(spec, config, "path", f"cannot load {path.name}: {_reason(exc)}") from None

    def load(self, spec: FileModel, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
        network = self.architecture(spec, config)
        return LoadedModel(spec, network, weights_digest(network.get_weights()), spec.input_range or (0.0, 1.0),
                           f"loaded from {spec.path}")


# The constructors keras.applications offers: public, capitalised, callable (not `__class__` or a submodule).
APPLICATIONS = sorted(name for name, value in vars(keras.applications).items()
                      if name[:1].isupper() and callable(value) and not isinstance(value, types.ModuleType))


def _application_module(name: str) -> types.ModuleType:
    """The keras.applications submodule that defines `name`, for its preprocess_input."""
    for module in vars(keras.applications).values():
        if isinstance(module, types.ModuleType) and hasattr(module, name) and hasattr(module, "preprocess_input"):
            return module
    raise KeyError(name)


class ApplicationSource(Source[ApplicationModel]):
    """An application whose input is RGB pixels 0-255: its own preprocessing runs inside the graph."""

    def architecture(self, spec: ApplicationModel, config: LoadedConfig) -> Any:
        return self._network(spec, config, None)

    def labels(self, spec: ApplicationModel, network: Any) -> dict[str, tuple[str, ...]]:
        """ImageNet class names for a 1000-class application built with its top."""
        if spec.input_shape is None and network.outputs[0].shape[-1] == 1000:
            return imagenet_labels(network.layers[-1].name)
        return {}

    def load(self, spec: ApplicationModel, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
        weights = spec.weights
        if weights not in (None, "imagenet"):
            weights = str(config.resolve(weights))
        network = self._network(spec, config, weights)
        return LoadedModel(spec, network, weights_digest(network.get_weights()), spec.input_range or (0.0, 255.0),
                           f"keras.applications.{spec.name}, weights: {spec.weights or 'random (none)'}",
                           labels=self.labels(spec, network))

    @staticmethod
    def _network(spec: ApplicationModel, config: LoadedConfig, weights: str | None) -> Any:
        if spec.name not in APPLICATIONS:
            raise model_error(spec, config, "name", f"keras.applications has no model '{spec.name}'"
                              + suggest(spec.name, APPLICATIONS, " (e.g. VGG16, ResNet50, MobileNetV2)"))
        constructor = getattr(keras.applications, spec.name)
        shape = spec.input_shape
        if shape is None:
            default = constructor(weights=None)  # only to read the application's own input shape
            shape = tuple(int(d) for d in default.inputs[0].shape[1:])
        pixels = keras.Input(shape, name="pixels")
        preprocessed = _application_module(spec.name).preprocess_input(pixels)
        kwargs: dict[str, Any] = {"weights": weights, "input_tensor": preprocessed}
        if spec.input_shape is not None:
            kwargs["include_top"] = False
        try:
            network = constructor(**kwargs)
        except Exception as exc:  # a download failure or a weights file that does not fit
            raise model_error(spec, config, "weights",
                              f"cannot build {spec.name}: {' '.join(str(exc).split())[:300]}") from None
        return keras.Model(pixels, network.outputs, name=spec.name)


# A new model source is its config class (config.ModelSpec) plus its loader here and one line below.
SOURCES: dict[str, Source[Any]] = {"builtin": BuiltinSource(), "file": FileSource(),
                                   "keras_applications": ApplicationSource()}
