"""gallery from Python: the engine, the views and whole builds, with the YAML's keys, defaults and cache.

Everything here goes through the same stages as `gallery build` (a model spec loaded by its source,
cache keys from gallery.fingerprints, the store, the renderers), so a picture made in a notebook is
the picture the site shows, byte for byte, and a repeated cell reads it from the cache instead of
rendering it again. Results display themselves in Jupyter and have `.save`, `.figure` and `.to_numpy`.
The public names are re-exported by `gallery` (see docs/api.md).
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from PIL import Image
from pydantic import ValidationError

from gallery import build, config, fingerprints, images, models, output, plan
from gallery.architecture import ModelInfo
from gallery.config import Setting
from gallery.errors import GalleryError, suggest, unknown
from gallery.executor import stored_meta
from gallery.figure import draw_grid
from gallery.files import finite
from gallery.images import read_folder
from gallery.methods import DEFAULT_METHODS, METHODS, label, method_named
from gallery.models import LoadedModel
from gallery.models.builtins import BUILTINS
from gallery.models.flatten import keras_name
from gallery.models.sources import given
from gallery.pixels import shown
from gallery.renderers.activation_max import ActivationMaximizer
from gallery.renderers.attribution import Attribution, Explainer, SanityCheck, displayable, top_k_classes
from gallery.renderers.attribution import sanity_check as run_sanity_check
from gallery.renderers.dataset_examples import Examples, examples_grid, top_examples
from gallery.renderers.feature_maps import LayerMaps
from gallery.renderers.feature_maps import feature_maps as run_feature_maps
from gallery.results import Summary
from gallery.store import Store, png_bytes

DEFAULT_CACHE = Path(os.environ.get("GALLERY_CACHE", ".gallery-cache"))
ModelLike = Any  # a gallery.Model, a keras.Model, a model file's path, or a builtin's name ("mnist_cnn")
ImageLike = Any  # uint8 pixels (HxW, HxWxC), a file's path, or "sample:chelsea"


class Model:
    """A network as gallery works with it: one flat graph, its input range, unit names, test images.

    Example:
        >>> net = gallery.load_model("mnist_cnn", epochs=12)        # trained once, then cached
        >>> net.layers[:3]
        ['input', 'conv2d_1', 'conv2d_2']
    """

    def __init__(self, loaded: LoadedModel):
        self._loaded = loaded

    @property
    def network(self) -> keras.Model:
        """The Keras network gallery visualizes (nested models inlined, input in pixels or `input_range`)."""
        return self._loaded.network

    @property
    def info(self) -> ModelInfo:
        return self._loaded.info

    @property
    def layers(self) -> list[str]:
        """Every layer's name (a nested one by its path, `backbone/layer`), input to output."""
        return [layer.name for layer in self.info.layers]

    @property
    def input_range(self) -> tuple[float, float]:
        return self._loaded.input_range

    def caption(self, layer: str, unit: int) -> str:
        return self.info.caption(layer, unit)

    def __repr__(self) -> str:
        return f"<gallery.Model {self.info.id}: {len(self.info.layers)} layers, {self._loaded.description}>"


def _validated(kind: type, data: dict[str, Any], what: str | None = None) -> Any:
    """`data` through the config schema: the YAML's defaults and the same messages, one line each,
    after `what` (the argument it came from, where it is not the whole config)."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise GalleryError("\n".join(f"{what + ': ' if what else ''}{config.dotted(key)}: {message}"
                                     for key, message in config.problems(exc.errors(), data, kind))) from None


def load_model(model: ModelLike, *, input_range: tuple[float, float] | None = None,
               preprocess: dict[str, Any] | None = None, labels: Sequence[str] | str | None = None,
               input_shape: tuple[int, int, int] | None = None, output: str | int | None = None,
               data: str | Path | Mapping[str, Any] | None = None, epochs: int | None = None,
               cache: str | Path | None = DEFAULT_CACHE,
               **keys: Any) -> Model:
    """A model from a Keras model object, a `.keras`/`.h5` path or a builtin's name, with the same
    keys a config's model takes (`preprocess`, `labels`, `input_shape`, `output`, `data` for
    reference images; `epochs` and `keys` for a builtin's training).

    Example:
        >>> net = gallery.load_model("pets.keras", preprocess={"mode": "tf"}, labels=["cat", "dog"])
    """
    if isinstance(model, Model):
        return model
    if not isinstance(model, (keras.Model, str, os.PathLike)):
        raise GalleryError(f"a model is a gallery.Model, a Keras model, a .keras/.h5 path or a builtin's name "
                           f"({', '.join(BUILTINS)}), not {type(model).__name__}")
    cache_dir = Path(cache) if cache is not None else Path(".gallery-cache")
    own = {k: v for k, v in {"preprocess": preprocess, "input_shape": input_shape, "output": output,
                             "labels": list(labels) if isinstance(labels, Sequence) and not isinstance(labels, str)
                             else labels, "data": _data(data)}.items() if v is not None}
    if input_range is not None:
        own["input_range"] = list(input_range)
    name = model.name if isinstance(model, keras.Model) else str(model)
    spec: dict[str, Any] = {"id": _model_id(name)}
    builtin = not isinstance(model, keras.Model) and name in BUILTINS
    training = {k: v for k, v in {"epochs": epochs, **keys}.items() if v is not None}
    if training and not builtin:
        raise GalleryError(f"{', '.join(training)}: only a builtin model trains (a model of your own takes "
                           "input_range, preprocess, labels, input_shape, output and data)")
    try:
        if isinstance(model, keras.Model):
            found = _validated(config.FileModel, {**spec, "source": "file", "path": config.IN_PYTHON, **own})
            holder = config.LoadedConfig(Path.cwd() / config.IN_PYTHON, config.Config(models=[found]), {})
            return Model(given(found, holder, model))
        if not Path(name).suffix and not builtin and not Path(name).exists():
            raise GalleryError(f"no builtin model or model file '{name}'" + suggest(name, BUILTINS, f" (builtins: "
                                                                                      f"{', '.join(BUILTINS)})"))
        if builtin:
            foreign = sorted(set(own) - {"data", "input_range"})
            if foreign:
                raise GalleryError(f"{', '.join(foreign)}: builtin model '{name}' has its own (it takes data, "
                                   "input_range and training keys)")
            spec.update({"source": "builtin", "builtin": name, "train": training, **own})
        else:
            spec.update({"source": "file", "path": str(Path(name).resolve()), **own})
        loaded = _config({"models": [spec]})
        models.architecture(loaded.config.models[0], loaded)  # the same checks a config gets
        return Model(models.load(loaded.config.models[0], loaded, cache_dir))
    except GalleryError as exc:  # the keys are this function's arguments, not a config's models[0]
        raise GalleryError(str(exc).removeprefix("models[0].")) from None


def _data(data: str | Path | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`data` as a config's `data:` key takes it: a folder, or the key's own mapping (`dir`, `limit`)."""
    if data is None:
        return None
    found = dict(data) if isinstance(data, Mapping) else {"dir": data}
    if isinstance(found.get("dir"), (str, os.PathLike)):
        found["dir"] = str(Path(found["dir"]).resolve())
    return found


def _model_id(name: str) -> str:
    stem = Path(name).stem or "model"
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in stem)[:64].lstrip("._-") or "model"


def _api_spec(name: str) -> config.FileModel:
    return config.FileModel(id=_model_id(name), source="file", path=config.IN_PYTHON)


def _config(data: dict[str, Any], where: Path | None = None) -> config.LoadedConfig:
    """A config given as a dict: validated as a file would be, paths relative to `where` (default: here)."""
    validated = _validated(config.Config, data)
    loaded = config.LoadedConfig(where or Path.cwd() / config.IN_PYTHON, validated, {})
    config.check_references(loaded)
    return loaded


def setting(name_or_keys: str | dict[str, Any] | None = None, **keys: Any) -> Setting:
    """A setting as a config's `settings` entry gives it: a preset's name ("keras-vis", "lucid"), a dict
    of keys, or None for the default; `keys` change single keys (`tv_weight=100`)."""
    if isinstance(name_or_keys, str):
        if name_or_keys not in config.PRESETS:
            raise GalleryError(unknown("preset", name_or_keys, config.PRESETS))
        base: dict[str, Any] = {"preset": name_or_keys}
    else:
        base = dict(name_or_keys or {})
    return _validated(Setting, {**base, **keys}, "setting")


def _image(image: ImageLike) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    source = str(image)
    holder = config.LoadedConfig(Path.cwd() / config.IN_PYTHON, config.Config(models=[_api_spec("x")]), {})
    return images.read(source if source.startswith("sample:") else str(Path(source).resolve()), holder, ("image",))


def _png(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def _grid(pictures: list[np.ndarray], columns: int | None = None) -> np.ndarray:
    """RGB pictures of any sizes in one grid, each cell the largest picture's size."""
    rgb = [shown(p if p.ndim == 3 else p[..., None]) for p in pictures]
    height, width = max(p.shape[0] for p in rgb), max(p.shape[1] for p in rgb)
    columns = columns or max(1, math.ceil(math.sqrt(len(rgb))))
    rows = math.ceil(len(rgb) / columns)
    grid = np.full((rows * (height + 2), columns * (width + 2), 3), 255, np.uint8)
    for index, picture in enumerate(rgb):
        top, left = (index // columns) * (height + 2), (index % columns) * (width + 2)
        grid[top:top + picture.shape[0], left:left + picture.shape[1]] = picture
    return grid


class Result:
    """What every result has: pictures with captions, shown in Jupyter, saved, drawn, as arrays."""

    title: str

    def pictures(self) -> list[tuple[np.ndarray, str]]:
        """(uint8 picture, caption) pairs in display order."""
        raise NotImplementedError

    def to_numpy(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:  # a plain print names the result; its arrays are in to_numpy()
        pictures = self.pictures()
        return f"<gallery.{type(self).__name__} {self.title}: {len(pictures)} picture{'s' * (len(pictures) != 1)}>"

    def _repr_html_(self) -> str:
        cells = "".join(
            f'<figure style="display:inline-block;margin:4px;text-align:center;font-size:12px">'
            f'<img src="{_png(picture)}" style="image-rendering:pixelated;height:'
            f'{96 if picture.shape[0] < 96 else 160}px" alt="{html.escape(caption)}">'
            f'<figcaption>{html.escape(caption)}</figcaption></figure>'
            for picture, caption in self.pictures())
        return f"<div><strong>{html.escape(self.title)}</strong><br>{cells}</div>"

    def _repr_png_(self) -> bytes:
        return png_bytes(_grid([picture for picture, _ in self.pictures()]))

    def figure(self, columns: int | None = None, title: bool = True) -> Any:
        """A matplotlib Figure: the pictures in a labelled grid, as `gallery figure` draws them."""
        pairs = self.pictures()
        pictures = [shown(p if p.ndim == 3 else p[..., None]) for p, _ in pairs]
        aspect = pictures[0].shape[1] / pictures[0].shape[0]
        columns = min(columns or math.ceil(math.sqrt(len(pairs) / aspect)), len(pairs))
        return draw_grid([caption for _, caption in pairs], pictures, columns, self.title if title else None)

    def save(self, path: str | Path) -> Path:
        """PATH.png: the labelled grid `figure()` draws; any other PATH: a folder with one PNG per picture
        (named by its caption: Grad-CAM++ as Grad-CAMplusplus, apart from Grad-CAM)."""
        path = Path(path)
        if path.suffix.lower() == ".png":
            path.parent.mkdir(parents=True, exist_ok=True)
            self.figure().savefig(path, dpi=150, bbox_inches="tight")
            return path
        path.mkdir(parents=True, exist_ok=True)
        for index, (picture, caption) in enumerate(self.pictures()):
            safe = re.sub(r"[^\w.-]+", "_", caption.replace("+", "plus")).strip("_")[:60]
            pixels = picture if picture.ndim == 3 else picture[..., None]
            (path / f"{index:03d}-{safe}.png").write_bytes(png_bytes(pixels))
        return path


@dataclass(repr=False)
class Visualization(Result):
    """Activation-maximization pictures of some filters (or units) of one layer under one setting.

    `images[i]` is filter `filters[i]`'s picture (uint8, exactly what the network saw), with its
    final `activations[i]`, its convergence verdict `statuses[i]`, its per-step `losses[i]`, and
    `ratios[i]`: its activation over the best test image's (None where the model has none).
    """

    model: Model
    layer: str
    filters: list[int]
    setting: Setting
    images: list[np.ndarray]
    activations: list[float | None]
    statuses: list[str]
    losses: list[dict[str, list[float | None]]]
    ratios: list[float | None] = field(default_factory=list)
    rendered: int = 0  # how many were rendered, not read from the cache

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{self.model.info.id} / {self.layer}"

    @property
    def flags(self) -> list[tuple[str, ...]]:
        """Per picture, what a reader should look at twice (as on the site): not converged, weak."""
        return [tuple([status] if status != "converged" else []) + (("weak",) if ratio is not None and ratio < 1
                                                                     else ())
                for status, ratio in zip(self.statuses, self.ratios)]

    def pictures(self) -> list[tuple[np.ndarray, str]]:
        captions = []
        for f, activation, ratio, flags in zip(self.filters, self.activations, self.ratios, self.flags):
            text = f"{self.model.caption(self.layer, f)} · {'n/a' if activation is None else format(activation, '.3g')}"
            text += f" ({ratio:.2f}x)" if ratio is not None else ""
            captions.append(text + (" ⚑ " + ", ".join(flags) if flags else ""))
        return list(zip(self.images, captions))

    def to_numpy(self) -> np.ndarray:
        """The pictures as one array [filters, H, W, C] (uint8)."""
        return np.stack(self.images)


def _layer(net: Model, layer: str, spatial: bool = False) -> Any:
    found = net.info.layer(layer)
    if found is None:
        raise GalleryError(f"{unknown('layer', layer, net.layers)}")
    if spatial and found.rank != 4:
        raise GalleryError(f"layer '{layer}' has no spatial (rank-4) output")
    return found


Filters = Sequence[int] | int | str | Mapping[str, int] | None


def _filters(filters: Filters, units: int, layer: str) -> list[int]:
    """The config's forms of `filters` (None or "all", indices, {"random": N, "seed": S}) and one index."""
    if filters is None or filters == "all":
        return list(range(units))
    if isinstance(filters, Mapping):
        return plan.random_filters(_validated(config.RandomFilters, dict(filters), "filters"), units)
    indices = [filters] if isinstance(filters, (int, np.integer)) else filters
    if isinstance(indices, str) or not isinstance(indices, Sequence) or \
            not all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) for f in indices):
        raise GalleryError(f"filters: {filters!r} is not 'all', a filter index, a list of them or "
                           "{'random': N, 'seed': S}")
    bad = [int(f) for f in indices if not 0 <= f < units]
    if bad:
        raise GalleryError(plan.filter_out_of_range(bad[0], layer, units))
    return list(dict.fromkeys(int(f) for f in indices))


def visualize(model: ModelLike, layer: str, filters: Filters = None,
              setting: str | dict[str, Any] | Setting | None = None, *, cache: str | Path | None = DEFAULT_CACHE,
              **keys: Any) -> Visualization:
    """Activation maximization of `filters` of `layer`, with the engine, the setting keys and the
    defaults of a config, and through the same cache. `filters`: as a config's (default "all", a
    list of indices, {"random": N, "seed": S}) or one index.

    Example:
        >>> digits = gallery.visualize("mnist_cnn", "preds", setting={"tv_weight": 100, "lp_p": 1}, jitter=2)
        >>> digits.to_numpy().shape
        (10, 28, 28, 1)
    """
    net = load_model(model, cache=cache)
    found = _layer(net, layer)
    if found.units is None or found.rank not in (2, 4):
        raise GalleryError(f"layer '{layer}' has no filters or units to visualize")
    chosen = _filters(filters, found.units, layer)
    recipe = setting if isinstance(setting, Setting) else globals()["setting"](setting, **keys)
    if recipe.start_from is not None:
        raise GalleryError("start_from names another setting of a config: use a config for it")
    kind = "channel" if found.rank == 4 else "unit"
    loaded = net._loaded
    input_range = recipe.input_range or loaded.input_range
    target = plan.Target(net.info.id, layer, kind, found.units, tuple(chosen), ("api",), found.squashing, layer)
    jobs = [plan.RenderJob(net.info.id, layer, f, "api", recipe, kind, found.squashing, layer) for f in chosen]
    keys_ = [fingerprints.render_key(job, loaded.computation, input_range) for job in jobs]
    store = Store(Path(cache)) if cache is not None else None
    stored = {key: store.get(key) if store else None for key in keys_}
    missing = [f for f, key in zip(chosen, keys_) if stored[key] is None]
    fresh: dict[int, Any] = {}
    if missing:
        engine = ActivationMaximizer(loaded.network, keras_name(layer), kind)
        for f, rendered in zip(missing, engine.render(missing, recipe, input_range)):
            fresh[f] = rendered
            if store:
                store.put(keys_[chosen.index(f)], rendered.image, stored_meta(rendered))
    pictures, activations, statuses, losses = [], [], [], []
    for f, key in zip(chosen, keys_):
        if f in fresh:
            pictures.append(fresh[f].image)
            activations.append(finite(fresh[f].activation))
            statuses.append(fresh[f].status)
            losses.append(finite(fresh[f].losses))
        else:
            result = stored[key]
            assert result is not None
            with Image.open(result.png) as picture:
                array = np.asarray(picture)
            pictures.append(array if array.ndim == 3 else array[..., None])
            activations.append(result.meta.activation)
            statuses.append(result.meta.status)
            losses.append(result.meta.losses)
    ratios = _ratios(loaded, target, recipe, activations)
    return Visualization(net, layer, chosen, recipe, pictures, activations, statuses, losses, ratios, len(missing))


def _ratios(loaded: LoadedModel, target: plan.Target, recipe: Setting, activations: list[float | None]
            ) -> list[float | None]:
    """Each picture's activation over the best test image's, signed the setting's way (as on the site)."""
    if loaded.test_images is None:
        return [None] * len(activations)
    measure, lowest = build.measured(target, recipe)
    found = top_examples(loaded.network, keras_name(target.layer), list(target.filters), loaded.test_images,
                         loaded.input_range, measure, k=1, negate=lowest)
    ratios = []
    for examples, activation in zip(found, activations):
        best = float(examples.values[0])
        ratios.append(None if activation is None or best * recipe.direction <= 0 else activation / best)
    return ratios


@dataclass(repr=False)
class FeatureMaps(Result):
    """What each layer makes of one image: per layer a grid of its channels (uint8) and its dead ones."""

    model: Model
    maps: list[LayerMaps]
    seen: np.ndarray  # the image as the model saw it

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{self.model.info.id}: feature maps"

    @property
    def layers(self) -> list[str]:
        return [layer.layer for layer in self.maps]

    def pictures(self) -> list[tuple[np.ndarray, str]]:
        return [(self.seen, "input")] + [
            (layer.grid, f"{layer.layer}: {layer.channels} channels, {100 * layer.dead_share:.0f}% dead")
            for layer in self.maps]

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Per layer, its grid of channels (uint8 RGB)."""
        return {layer.layer: layer.grid for layer in self.maps}


def feature_maps(model: ModelLike, image: ImageLike, layers: str | Sequence[str] = "all", *, per_row: int = 16,
                 colormap: str = "viridis", cache: str | Path | None = DEFAULT_CACHE) -> FeatureMaps:
    """The activations of `layers` ("all": every conv and pooling layer) on `image`, one tile per channel.

    Example:
        >>> gallery.feature_maps("mnist_cnn", "digit7.png").layers
        ['conv2d_1', 'conv2d_2', 'max_pooling2d_1']
    """
    net = load_model(model, cache=cache)
    names = [layer.name for layer in net.info.layers if layer.spatial] if layers == "all" else [
        _layer(net, name, spatial=True).name for name in layers]
    pixels = net._loaded.input_of(_image(image))
    found = run_feature_maps(net.network, pixels, [keras_name(name) for name in names], per_row=per_row,
                             colormap=colormap)
    for layer, name in zip(found, names):
        object.__setattr__(layer, "layer", name)  # by its path, as the user named it
    return FeatureMaps(net, found, displayable(pixels, net.input_range))


@dataclass(repr=False)
class Attributions(Result):
    """Which pixels each class score depends on, by each method: `maps[method, class]`."""

    model: Model
    classes: list[int]
    probabilities: list[float]
    methods: list[str]
    maps: dict[tuple[str, int], Attribution]
    target_layer: str

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{self.model.info.id}: attribution (CAM layer {self.target_layer})"

    def pictures(self) -> list[tuple[np.ndarray, str]]:
        return [(self.maps[method, target].overlay,
                 f"{label(method)}: {self.model.info.class_caption(target)}"
                 + (" (no positive evidence)" if self.maps[method, target].empty else ""))
                for target in self.classes for method in self.methods]

    def to_numpy(self) -> np.ndarray:
        """The raw maps [classes, methods, H, W] (before ReLU and normalisation)."""
        return np.stack([np.stack([self.maps[method, target].raw for method in self.methods])
                         for target in self.classes])


def attribute(model: ModelLike, image: ImageLike, classes: Sequence[int | str] | int | str = 3,
              methods: Sequence[str] | str | None = None, *, target_layer: str | None = None, colormap: str = "jet",
              alpha: float = 0.4, cache: str | Path | None = DEFAULT_CACHE) -> Attributions:
    """Attribution maps of `classes` (indices or names; an int K: the K most probable) by `methods`
    (one or a list; default: all but the slow SmoothGrad × Integrated Gradients, see gallery.METHODS)
    on `image`.

    Example:
        >>> maps = gallery.attribute("mnist_cnn", "digit7.png", classes=1, methods=["gradcam"])
        >>> maps.to_numpy().shape
        (1, 1, 28, 28)
    """
    net = load_model(model, cache=cache)
    methods = [methods] if isinstance(methods, str) else list(DEFAULT_METHODS if methods is None else methods)
    if not all(isinstance(method, str) for method in methods):
        raise GalleryError(f"methods: names of attribution methods, e.g. ['gradcam', 'smoothgrad'], not "
                           f"{methods!r}"[:300])
    if not methods:
        raise GalleryError(f"methods: give one or more of {', '.join(METHODS)} (None: {', '.join(DEFAULT_METHODS)})")
    try:
        methods = list(dict.fromkeys(method_named(method) for method in methods))  # by id, each once
    except ValueError as exc:
        raise GalleryError(str(exc)) from None
    layer = target_layer or net.info.attribution_layer
    if layer is None:
        raise GalleryError("the model has no layer with a spatial output for the CAM methods")
    _layer(net, layer, spatial=True)
    pixels = net._loaded.input_of(_image(image))
    order, probabilities = top_k_classes(net.network, pixels, k=net.info.classes)
    probability = dict(zip(order.tolist(), probabilities.tolist()))
    if isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        classes = int(classes)
        if not 1 <= classes <= net.info.classes:
            raise GalleryError(f"classes={classes}: the {classes} most probable of the model's {net.info.classes} "
                               f"classes; give 1 to {net.info.classes}, or a list of indices or names")
        chosen = order[:classes].tolist()
    else:
        chosen = [_class_index(net, c) for c in ([classes] if isinstance(classes, str) else classes)]
    found = Explainer(net.network, keras_name(layer), net.input_range).explain(pixels, chosen, methods,
                                                                             colormap=colormap, alpha=alpha)
    return Attributions(net, chosen, [probability[c] for c in chosen], methods, found, layer)


@dataclass(repr=False)
class Sanity(Result):
    """Adebayo et al. 2018's cascading randomisation: each method's map as the top layers are re-initialised."""

    model: Model
    check: SanityCheck

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{self.model.info.id}: sanity check"

    @property
    def passed(self) -> dict[str, bool | None]:
        return {method: self.check.passed(method) for method in dict.fromkeys(m for m, _ in self.check.maps)}

    def pictures(self) -> list[tuple[np.ndarray, str]]:
        return [(result.overlay, f"{label(method)}, {'trained' if count == 0 else f'top {count} re-initialised'}"
                 + ("" if count == 0 or self.check.correlations[method, count] is None
                    else f", ρ {self.check.correlations[method, count]:.2f}"))
                for (method, count), result in self.check.maps.items()]

    def to_numpy(self) -> dict[tuple[str, int], np.ndarray]:
        return {key: result.raw for key, result in self.check.maps.items()}


def _class_index(net: Model, wanted: int | str) -> int:
    """A class by its index or its name; a one-line error for one the model has not."""
    names = list(net.info.class_names())
    index = names.index(wanted) if isinstance(wanted, str) and wanted in names else wanted
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < net.info.classes:
        listed = f", or {', '.join(names[:5])}{'...' if len(names) > 5 else ''}" if names else ""
        raise GalleryError(f"no class {wanted!r} (classes 0-{net.info.classes - 1}{listed})")
    return index


def sanity_check(model: ModelLike, image: ImageLike, target: int | str | None = None, *,
                 target_layer: str | None = None, cache: str | Path | None = DEFAULT_CACHE) -> Sanity:
    """The model-randomisation sanity check of saliency and Grad-CAM for `target` (default: the most
    probable class) on `image`; `.passed` says which methods' maps depend on what the network learned."""
    net = load_model(model, cache=cache)
    layer = target_layer or net.info.attribution_layer
    pixels = net._loaded.input_of(_image(image))
    chosen = _class_index(net, target) if target is not None else int(top_k_classes(net.network, pixels, k=1)[0][0])
    return Sanity(net, run_sanity_check(net.network, pixels, chosen, keras_name(layer or ""), net.input_range))


@dataclass(repr=False)
class DatasetExamples(Result):
    """Per filter, the images that drive it furthest: `examples[i]` for `filters[i]`, best first."""

    model: Model
    layer: str
    filters: list[int]
    examples: list[Examples]

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{self.model.info.id} / {self.layer}: dataset examples"

    def pictures(self) -> list[tuple[np.ndarray, str]]:
        return [(examples_grid(found, 64), f"{self.model.caption(self.layer, f)}: best {found.values[0]:.3g}")
                for f, found in zip(self.filters, self.examples)]

    def to_numpy(self) -> list[np.ndarray]:
        """Per filter, its example crops [k, h, w, C] (uint8)."""
        return [found.crops for found in self.examples]


def dataset_examples(model: ModelLike, layer: str, images: Sequence[ImageLike] | np.ndarray | str | Path | None = None,
                     filters: Filters = None, *, measure: str | None = None, k: int = 9,
                     lowest: bool = False, cache: str | Path | None = DEFAULT_CACHE) -> DatasetExamples:
    """The `k` images (a list, a folder, default: the model's test or reference images) that raise
    each filter most (lower it most, with `lowest`), read as the engine reads them."""
    net = load_model(model, cache=cache)
    found = _layer(net, layer)
    loaded = net._loaded
    if images is None:
        if loaded.test_images is None:
            raise GalleryError("the model has no test images: give images")
        pool = loaded.test_images
    else:
        if isinstance(images, (str, os.PathLike)):  # a folder of images, read as a config's data: {dir}
            if not Path(images).is_dir():
                raise GalleryError(f"{images}: not a folder of images (give a folder, or a list of images)")
            pool = loaded.inputs_of(read_folder(Path(images), None))
        else:
            pool = np.stack([loaded.input_of(_image(image)) for image in images])
    chosen = _filters(filters, found.units or 0, layer)
    kind = "channel" if found.rank == 4 else "unit"
    result = top_examples(loaded.network, keras_name(layer), chosen, pool, loaded.input_range, measure or kind, k=k,
                          negate=lowest)
    return DatasetExamples(net, layer, chosen, result)


class Atlas:
    """A whole atlas from a config file or a dict, built as `gallery build` builds it.

    Example:
        >>> summary = gallery.Atlas("configs/mnist.yaml").build(out="site")
        >>> print(summary.line())
    """

    def __init__(self, source: str | Path | dict[str, Any]):
        if not isinstance(source, (str, os.PathLike, dict)):
            raise GalleryError(f"an atlas is a config file's path or a dict of its sections, not "
                               f"{type(source).__name__}")
        self.source = source

    def __repr__(self) -> str:
        return f"Atlas({'a dict config' if isinstance(self.source, dict) else str(self.source)!r})"

    def _config(self) -> Path | config.LoadedConfig:
        """The config file, or the dict validated as one whose paths are relative to the working directory."""
        return _config(self.source) if isinstance(self.source, dict) else Path(self.source)

    def validate(self) -> plan.Plan:
        """Check the config against the real layers of its models; returns its plan (jobs and pages)."""
        return build.check(self._config())[1]

    def build(self, out: str | Path | None = None, cache: str | Path = DEFAULT_CACHE, force: bool = False) -> Summary:
        """Train or load, render what the cache lacks, write the site; `out` default: the config's site.out."""
        return build.run(self._config(), Path(out) if out is not None else None, Path(cache), force,
                         naming=output.ARGUMENTS)
