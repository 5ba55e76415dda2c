"""Model sources: one loader class per `source` of a config's model (config.ModelSpec).

Every network comes out as a Keras 3 functional model whose input is in pixel units (or an affine
map of them, stated by its input range), because truncating a model at a layer (what the renderers
do) needs one flat graph of symbolic tensors, and a rendered image must map back to displayable
pixels. Keras applications get their own preprocessing as the first operations of that graph.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import re
import sys
import types
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import h5py
import keras
from keras.applications import imagenet_utils
from keras.src.backend.common import global_state

from gallery import datasets
from gallery.config import (
    DEFAULT_REFERENCES,
    ApplicationModel,
    BuiltinModel,
    FileModel,
    LoadedConfig,
    ModelSpec,
    Preprocess,
    UserModel,
)
from gallery.errors import GalleryError, suggest
from gallery.fingerprints import weights_digest
from gallery.images import read_folder
from gallery.models.builtins import BUILTINS, imagenet_labels
from gallery.models.describe import takes_raw_pixels
from gallery.models.flatten import flatten, output_names, rewire
from gallery.models.flatten import path as path_of
from gallery.models.loaded import LoadedModel

log = logging.getLogger(__name__)
Spec = TypeVar("Spec", bound=ModelSpec)


def model_error(spec: ModelSpec, config: LoadedConfig, key: str, message: str) -> GalleryError:
    return config.error(("models", config.config.models.index(spec), key), message)


class Source(Generic[Spec]):
    """How one kind of model spec becomes a network: its architecture alone (to check a config, no
    training and no download), its unit names, and the loaded model."""

    def architecture(self, spec: Spec, config: LoadedConfig) -> Any:
        raise NotImplementedError

    def labels(self, spec: Spec, config: LoadedConfig, network: Any) -> dict[str, tuple[str, ...]]:
        """Per layer (the output, where the source knows its classes), a name per unit."""
        return {}

    def load(self, spec: Spec, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
        raise NotImplementedError


class BuiltinSource(Source[BuiltinModel]):
    def architecture(self, spec: BuiltinModel, config: LoadedConfig) -> Any:
        return BUILTINS[spec.builtin].build()

    def labels(self, spec: BuiltinModel, config: LoadedConfig, network: Any) -> dict[str, tuple[str, ...]]:
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
    if "Lambda" in text and "safe_mode" in text:
        return ("it has a Lambda layer, whose Python code Keras will not run from a file in safe mode: rewrite it as "
                "a registered layer, or load it yourself (keras.models.load_model(path, safe_mode=False)) and give "
                "the model to gallery.load_model in Python")
    return text if len(text) <= 300 else text[:300].rsplit(" ", 1)[0] + " ..."


def _labels(spec: UserModel, config: LoadedConfig, network: Any) -> dict[str, tuple[str, ...]]:
    """The config's class names for the output layer: a list, or a file (one name a line, or a JSON list)."""
    if spec.labels is None:
        return {}
    names = spec.labels
    if isinstance(names, str):
        path = config.resolve(names)
        try:
            text = path.read_text(encoding="utf-8")
            names = json.loads(text) if path.suffix.lower() == ".json" else [line.strip() for line in text.splitlines()
                                                                             if line.strip()]
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise model_error(spec, config, "labels", f"cannot read labels from {spec.labels}: {exc}") from None
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise model_error(spec, config, "labels", f"{spec.labels}: a JSON list of names is needed")
    units = network.outputs[0].shape[-1]
    if len(names) != units and not (units == 1 and len(names) == 2):
        raise model_error(spec, config, "labels", f"{len(names)} name{'s' * (len(names) != 1)} for the {units} "
                          f"unit{'s' * (units != 1)} of the output" + (
                              " (a single unit takes 1 name, or 2: its opposite class, then its own)"
                              if units == 1 else ""))
    return {path_of(network.layers[-1].name): tuple(names)}


def _preprocessed(network: Any, preprocess: Preprocess) -> Any:
    """`network` with a pixel input (0-255): `preprocess` as the first operations of its graph."""
    shape = tuple(network.inputs[0].shape[1:])
    pixels = keras.Input(shape, name="pixels")
    if preprocess.scale is not None:
        low, high = preprocess.scale
        x = keras.layers.Rescaling((high - low) / 255.0, offset=low, name="preprocess")(pixels)
    elif preprocess.mean is not None:
        if len(preprocess.mean) != shape[-1]:
            raise ValueError(f"preprocess has {len(preprocess.mean)} means for {shape[-1]} channels")
        x = keras.layers.Rescaling(1 / 255.0, name="preprocess_scale")(pixels)
        x = keras.layers.Normalization(mean=preprocess.mean, variance=[s * s for s in preprocess.std or []],
                                       name="preprocess")(x)
    else:
        if shape[-1] != 3:
            raise ValueError(f"preprocess mode {preprocess.mode} is for RGB inputs, not {shape[-1]} channels")
        x = imagenet_utils.preprocess_input(pixels, mode=preprocess.mode)
    return keras.Model(pixels, rewire(network, [x]), name=network.name)


def _prepared(spec: UserModel, config: LoadedConfig, network: Any, input_shape: tuple[int, ...] | None) -> Any:
    """A user's network as the engine needs it: one flat graph, at a fixed input, one output, pixels in."""
    try:
        network = flatten(network, input_shape, spec.output)
    except ValueError as exc:  # an output that is not there, a Sequential without an input shape, or a
        reason = " ".join(str(exc).split())[:200]  # model that does not run at input_shape
        if reason.startswith("no output"):
            raise model_error(spec, config, "output",
                              f"{reason} (outputs: {', '.join(output_names(network))})") from None
        fixed = _fixed_input(network)
        if input_shape is not None and fixed is not None:
            reason = (f"the model does not run at {list(input_shape)}: its input is fixed at {list(fixed)}, and "
                      "input_shape is for a model whose height and width are free")
        raise model_error(spec, config, "input_shape", reason) from None
    preprocess = getattr(spec, "preprocess", None)
    if preprocess is not None:
        try:
            network = _preprocessed(network, preprocess)
        except ValueError as exc:
            raise model_error(spec, config, "preprocess", str(exc)) from None
    return network


def _fixed_input(network: Any) -> tuple[int, ...] | None:
    """The input shape a network was built for, where all of it is known (a Sequential without an
    input has none)."""
    try:
        shape = tuple(network.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return shape if None not in shape else None


def _references(spec: UserModel, config: LoadedConfig, loaded: LoadedModel) -> LoadedModel:
    """A user's model with the reference images of its `data: {dir}` in its input units."""
    if spec.data is None:
        return loaded
    folder = config.resolve(spec.data.dir)
    try:
        inputs = loaded.inputs_of(read_folder(folder, spec.data.limit or DEFAULT_REFERENCES))
    except GalleryError as exc:
        raise model_error(spec, config, "data", str(exc)) from None
    loaded.test_images = inputs
    loaded.data_source = (f"{len(inputs)} reference image{'s' * (len(inputs) != 1)} from {spec.data.dir}, the "
                          "bar for activation ratios")
    loaded.reference_image = "reference image"
    return loaded


class FileSource(Source[FileModel]):
    def architecture(self, spec: FileModel, config: LoadedConfig) -> Any:
        path = config.resolve(spec.path)
        problem = _not_a_model(path)
        if problem:
            raise model_error(spec, config, "path", f"{spec.path}: {problem}")
        with warnings.catch_warnings(record=True) as caught:  # old files make Keras warn how they were saved
            warnings.simplefilter("always")
            try:
                network = keras.models.load_model(path, compile=False, safe_mode=True)
            except Exception as exc:  # Keras raises many types for bad files; all mean "cannot use this file"
                raise model_error(spec, config, "path", f"cannot load {path.name}: {_reason(exc)}") from None
            network = _prepared(spec, config, network, spec.input_shape)
        for warning in dict.fromkeys(str(warning.message) for warning in caught):
            log.debug("%s: %s", spec.path, warning)  # shown with -v
        return network

    def labels(self, spec: FileModel, config: LoadedConfig, network: Any) -> dict[str, tuple[str, ...]]:
        return _labels(spec, config, network)

    def load(self, spec: FileModel, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
        return own_model(spec, config, self.architecture(spec, config), f"loaded from {spec.path}")


def own_model(spec: FileModel, config: LoadedConfig, network: Any, description: str) -> LoadedModel:
    """A user's network, prepared (flat, preprocessing inside), with its input range, class names and
    reference images: a file model's, and a Keras model given in Python (`given`)."""
    raw = spec.preprocess is not None or (spec.input_range is None and takes_raw_pixels(network))
    input_range = (0.0, 255.0) if raw else spec.input_range or (0.0, 1.0)
    loaded = LoadedModel(spec, network, weights_digest(network.get_weights()), input_range, description,
                         labels=_labels(spec, config, network))
    return _references(spec, config, loaded)


def given(spec: FileModel, config: LoadedConfig, network: Any) -> LoadedModel:
    """A Keras model given in Python with a file model's keys (preprocess, labels, data, ...)."""
    return own_model(spec, config, _prepared(spec, config, network, spec.input_shape), "a Keras model given in Python")


APPLICATION_SIDE = 224  # the height and width of an application whose own input leaves them free (MobileNetV3)

# The constructors keras.applications offers: public, capitalised, callable (not `__class__` or a submodule).
APPLICATIONS = sorted(name for name, value in vars(keras.applications).items()
                      if name[:1].isupper() and callable(value) and not isinstance(value, types.ModuleType))


@contextlib.contextmanager
def _fresh_names() -> Iterator[None]:
    """Keras names a layer it is not given a name for by how many such layers this process has built
    (re_lu_14), so an application's names would depend on what was built before it: `gallery layers`,
    validate and build each build another sequence. Built from a fresh count, they are the same in
    every process. Keras has no public way to do this (clear_session would reset every other model too)."""
    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


def _preprocessing(constructor: Any) -> Any:
    """The preprocess_input of the module that defines `constructor` (the public submodules do not all
    re-export their constructors: keras.applications.mobilenet_v3 has no MobileNetV3Small)."""
    return sys.modules[constructor.__module__].preprocess_input


class ApplicationSource(Source[ApplicationModel]):
    """An application whose input is RGB pixels 0-255: its own preprocessing runs inside the graph."""

    def architecture(self, spec: ApplicationModel, config: LoadedConfig) -> Any:
        return self._network(spec, config, None)

    def labels(self, spec: ApplicationModel, config: LoadedConfig, network: Any) -> dict[str, tuple[str, ...]]:
        """The config's names, else ImageNet class names for a 1000-class application built with its top."""
        if spec.labels is not None:
            return _labels(spec, config, network)
        if spec.input_shape is None and network.outputs[0].shape[-1] == 1000:
            return imagenet_labels(network.layers[-1].name)
        return {}

    def load(self, spec: ApplicationModel, config: LoadedConfig, cache_dir: Path) -> LoadedModel:
        weights = spec.weights
        if weights not in (None, "imagenet"):
            weights = str(config.resolve(weights))
        network = self._network(spec, config, weights)
        loaded = LoadedModel(spec, network, weights_digest(network.get_weights()), spec.input_range or (0.0, 255.0),
                             f"keras.applications.{spec.name}, weights: {spec.weights or 'random (none)'}",
                             labels=self.labels(spec, config, network))
        return _references(spec, config, loaded)

    @staticmethod
    def _network(spec: ApplicationModel, config: LoadedConfig, weights: str | None) -> Any:
        if spec.name not in APPLICATIONS:
            raise model_error(spec, config, "name", f"keras.applications has no model '{spec.name}'"
                              + suggest(spec.name, APPLICATIONS, " (e.g. VGG16, ResNet50, MobileNetV2)"))
        constructor = getattr(keras.applications, spec.name)
        shape = spec.input_shape
        if shape is None:
            with _fresh_names():
                default = constructor(weights=None)  # only to read the application's own input shape
            shape = tuple(int(d or APPLICATION_SIDE) for d in default.inputs[0].shape[1:])
        kwargs: dict[str, Any] = {"weights": weights}
        if spec.input_shape is not None:
            kwargs["include_top"] = False
        with _fresh_names():
            pixels = keras.Input(shape, name="pixels")
            try:
                network = constructor(input_tensor=_preprocessing(constructor)(pixels), **kwargs)
            except Exception as exc:  # a download failure or a weights file that does not fit
                raise model_error(spec, config, "weights",
                                  f"cannot build {spec.name}: {' '.join(str(exc).split())[:300]}") from None
            network = keras.Model(pixels, network.outputs, name=spec.name)
        return _prepared(spec, config, network, None)


# A new model source is its config class (config.ModelSpec) plus its loader here and one line below.
SOURCES: dict[str, Source[Any]] = {"builtin": BuiltinSource(), "file": FileSource(),
                                   "keras_applications": ApplicationSource()}
