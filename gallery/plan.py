"""The plan: every render job and every page a config asks for, checked against the real layers first.

The plan is made from the config and each network's `ModelInfo` (plain facts read off the network,
no TensorFlow here), before anything is trained: an unknown layer, an out-of-range filter or a
comparison of something not rendered is a FILE:LINE error at once. Jobs are plain values, so the
fingerprints can key the cache on them, and the plan lays out the pages the site writes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

import matplotlib
import numpy as np

from gallery import comparisons
from gallery.architecture import LayerInfo, ModelInfo
from gallery.comparisons import Comparison, Rendered
from gallery.config import (
    ActivationMaxSpec,
    AttributionSpec,
    FeatureMapSpec,
    ImageFolder,
    KeyPath,
    LoadedConfig,
    RandomFilters,
    Setting,
    TopClasses,
)
from gallery.errors import GalleryError, Problems, suggest, unknown
from gallery.images import MODES, image_files, readable
from gallery.methods import MethodOptions
from gallery.schema import Problem

UnitKind = Literal["channel", "unit"]  # what a filter index names: a conv channel or a dense unit


@dataclass(frozen=True)
class Target:
    """A (model, layer) whose filters get visualized, with what the config asks of it."""

    model: str
    layer: str
    kind: UnitKind
    units: int
    filters: tuple[int, ...]
    settings: tuple[str, ...]  # a setting comes after the one it starts from
    linearized: bool  # a softmax/sigmoid output swapped for linear, as the seed report does
    folder: str  # the layer's URL folder under its model's: a safe slug of its name (`slug_folders`)


@dataclass(frozen=True)
class RenderJob:
    model: str
    layer: str
    filter: int
    setting_name: str
    setting: Setting
    kind: UnitKind
    linearized: bool
    folder: str  # the layer's URL folder (Target.folder)


@dataclass(frozen=True)
class FeatureJob:
    """Feature maps of `layers` on one image: one page."""

    model: str
    image: str
    layers: tuple[str, ...]
    per_row: int
    colormap: str


@dataclass(frozen=True)
class AttributionJob:
    """Every method for `classes` (or the `top` most probable) on one image: one page."""

    model: str
    image: str
    classes: tuple[int, ...]
    top: int | None
    methods: tuple[str, ...]
    target_layer: str
    colormap: str
    alpha: float
    detected: bool = False  # `target_layer` is the model's default, not the config's
    options: MethodOptions = MethodOptions()  # the methods' own keys (Integrated Gradients, occlusion)


@dataclass(frozen=True)
class SanityJob:
    """The model-randomisation sanity check on a model's first attribution image and class: one
    section of its model page."""

    model: str
    image: str
    target: int | None  # None: the most probable class, chosen at render time
    target_layer: str
    colormap: str
    alpha: float


def count(number: int, noun: str) -> str:
    """`number` `noun`s, singular for one."""
    return f"{number} {noun}{'s' * (number != 1)}"


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]  # per model, in network order
    jobs: tuple[RenderJob, ...]
    features: tuple[FeatureJob, ...] = ()
    attributions: tuple[AttributionJob, ...] = ()
    sanity: tuple[SanityJob, ...] = ()
    comparisons: tuple[Comparison, ...] = ()  # the atlas's own: compare/SLUG.html
    layer_pages: tuple[Comparison, ...] = ()  # every layer's settings comparison, every model's depth page
    models: dict[str, ModelInfo] = field(default_factory=dict)  # what the plan was checked against
    images: dict[str, str] = field(default_factory=dict)  # every image a view may show -> its source
    folders: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a folder's name -> its images' names

    @property
    def views(self) -> tuple[FeatureJob | AttributionJob | SanityJob, ...]:
        """Every job on a configured image, in page order."""
        return (*self.features, *self.attributions, *self.sanity)

    @property
    def counts(self) -> str:
        """What the plan makes, in one line (validate prints it; a notebook shows it for the plan)."""
        return (f"{count(len(self.jobs), 'activation-maximization image')} on {count(len(self.targets), 'layer')}, "
                f"{count(len(self.features), 'feature-map page')}, "
                f"{count(len(self.attributions), 'attribution page')}, {count(len(self.sanity), 'sanity check')}")

    def __repr__(self) -> str:
        return f"Plan({self.counts})"

    def jobs_of(self, target: Target, setting: str) -> list[RenderJob]:
        return [j for j in self.jobs if (j.model, j.layer, j.setting_name) == (target.model, target.layer, setting)]


def build(config: LoadedConfig, infos: dict[str, ModelInfo]) -> Plan:
    """Every job and page of the config; raise a file:line error for any name that does not exist
    (for every entry of `activation_max`, `feature_maps` and `attribution` that has one, one line each)."""
    problems = Problems()
    targets = _targets(config, infos, problems)
    images, folders = _images(config, problems)
    features, attributions = _image_jobs(config, infos, images, folders, problems)
    _check_arrays(config, infos, images, (*features, *attributions), problems)
    _check_reference_folders(config, problems)
    problems.raise_any()
    _check_padding(config, infos, targets)
    _check_highlights(config, targets)
    jobs = tuple(
        RenderJob(t.model, t.layer, f, name, config.config.settings[name], t.kind, t.linearized, t.folder)
        for t in targets for name in t.settings for f in t.filters
    )
    rendered = Rendered(tuple(infos), {(t.model, t.layer): t for t in targets},
                        {(job.model, job.image): job.methods for job in attributions},
                        lambda model, layer, f: infos[model].caption(layer, f))
    asked = _asked_comparisons(config, rendered)
    return Plan(targets, jobs, features, attributions, _sanity_jobs(attributions),
                (*asked, *comparisons.automatic(rendered, asked)), tuple(comparisons.layer_pages(rendered)), infos,
                images, folders)


def _targets(config: LoadedConfig, infos: dict[str, ModelInfo], problems: Problems) -> tuple[Target, ...]:
    """`activation_max` merged per (model, layer): filters and settings in the order first asked;
    an entry with a problem is added to `problems` and left out."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for index, spec in enumerate(config.config.activation_max):
        info = infos[spec.model]
        layer = info.layer(spec.layer)
        try:
            if layer is None:
                raise config.error(("activation_max", index, "layer"), f"model '{spec.model}' has no layer "
                                   f"'{spec.layer}'" + suggest(spec.layer, [one.name for one in info.layers],
                                                               f" (run `gallery layers {config.path}`)"))
            if layer.units is None or layer.rank not in (2, 4):
                raise config.error(("activation_max", index, "layer"), f"layer '{spec.layer}' ({layer.type}, output "
                                   f"{layer.shape_text}) has no filters or units to visualize")
            filters = _filters(spec, layer.units, config, index)
        except GalleryError as error:
            problems.add(error)
            continue
        entry = merged.setdefault((spec.model, spec.layer), {"layer": layer, "filters": {}, "settings": {}})
        entry["filters"].update(dict.fromkeys(filters))
        for name in spec.settings:
            entry["settings"].update(dict.fromkeys(_with_starts(name, config.config.settings)))
    folders = {model: slug_folders([layer for owner, layer in merged if owner == model]) for model in infos}
    targets = [Target(model, name, "channel" if e["layer"].rank == 4 else "unit", e["layer"].units,
                      tuple(e["filters"]), tuple(e["settings"]), e["layer"].squashing, folders[model][name])
               for (model, name), e in merged.items()]
    models = list(infos)
    return tuple(sorted(targets, key=lambda t: (models.index(t.model), infos[t.model].order(t.layer))))


# A model's own pages and folders beside its layer folders: no layer may take their names.
MODEL_PAGES = {"index.html", "depth.html", "features", "attribution", "sanity"}
FOLDER_LENGTH = 60


def slug_folders(layers: list[str]) -> dict[str, str]:
    """Per layer name, a URL folder that is safe (letters, digits, _ . -; never `.` or `..`), short,
    distinct from the model's own pages and from every other layer's: a name that needed changing
    gets its hash, so the folder stays the same across builds."""
    folders: dict[str, str] = {}
    for name in layers:
        folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")[:FOLDER_LENGTH]
        if folder != name or folder in MODEL_PAGES or folder.lower() in {f.lower() for f in folders.values()}:
            folder = f"{folder or 'layer'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        folders[name] = folder
    return folders


def _check_arrays(config: LoadedConfig, infos: dict[str, ModelInfo], images: dict[str, str],
                  jobs: tuple[FeatureJob | AttributionJob, ...], problems: Problems) -> None:
    """An image a model cannot take, found before anything is loaded: a .npy array must be the model's
    input itself, and a model with other than 1-4 input channels takes only such arrays."""
    for job in jobs:
        source, shape = images.get(job.image, ""), infos[job.model].input_shape
        where = ("images", job.image.split("/")[0])
        if source.lower().endswith(".npy"):
            try:
                found = tuple(np.load(config.resolve(source), mmap_mode="r", allow_pickle=False).shape)
            except (OSError, ValueError):
                continue  # not readable: the build says so when it reads it
            if found != shape:
                problems.add(config.error(where, f"{source}: a .npy image of shape {list(found)} for model "
                                                 f"'{job.model}', whose input is {list(shape)}"))
        elif shape[-1] not in MODES:
            problems.add(config.error(where, f"model '{job.model}' takes {shape[-1]} channels: give {source} as "
                                             f"a .npy array {list(shape)} in its input units"))


def _check_reference_folders(config: LoadedConfig, problems: Problems) -> None:
    """A model of one's own whose `data: {dir}` is no folder of images: found before anything is loaded."""
    for index, spec in enumerate(config.config.models):
        data = getattr(spec, "data", None)
        if spec.source != "builtin" and data is not None and not image_files(config.resolve(data.dir)):
            problems.add(config.error(("models", index, "data", "dir"), _no_images(config, data.dir)))


def _no_images(config: LoadedConfig, folder: str) -> str:
    path = config.resolve(folder)
    if not path.exists():
        return f"folder not found: {folder}"
    return f"{folder} is a file, not a folder" if not path.is_dir() else f"no readable images in folder {folder}"


def _check_highlights(config: LoadedConfig, targets: tuple[Target, ...]) -> None:
    """`site.highlight` names rendered layers and settings."""
    for model, wanted in config.config.site.highlight.items():
        where: KeyPath = ("site", "highlight", model)
        mine = [t for t in targets if t.model == model]
        if not mine:
            raise config.error(where, f"model '{model}' visualizes no layer" if model in config.model_ids
                               else unknown("model", model, config.model_ids))
        target = next((t for t in mine if t.layer == wanted.layer), None) if wanted.layer else mine[-1]
        if target is None:
            raise config.error((*where, "layer"), f"model '{model}' renders no layer '{wanted.layer}'"
                               + suggest(wanted.layer or "", [t.layer for t in mine]))
        if wanted.setting is not None and wanted.setting not in target.settings:
            raise config.error((*where, "setting"), f"{model}/{target.layer} is not rendered under setting "
                                                    f"'{wanted.setting}' (rendered: {', '.join(target.settings)})")


def _check_padding(config: LoadedConfig, infos: dict[str, ModelInfo], targets: tuple[Target, ...]) -> None:
    """A border of at most half the input's side: the padded image runs through the network every step."""
    for target in targets:
        side = max(infos[target.model].input_shape[:2])
        for name in target.settings:
            pad = config.config.settings[name].pad
            if 2 * pad > side:
                raise config.error(("settings", name, "pad"), f"pad {pad} is more than half the {side} px input of "
                                                              f"model '{target.model}': at most {side // 2}")


def filter_out_of_range(value: int, layer: str, units: int) -> str:
    """The message for a filter index the layer has not (a config's and the API's alike)."""
    return f"filter {value} is out of range: layer '{layer}' has {units} (0-{units - 1})"


def random_filters(choice: RandomFilters, units: int) -> list[int]:
    """`choice.random` of a layer's `units` filters (all, where it has fewer), drawn by its seed, sorted."""
    chosen = np.random.default_rng(choice.seed).choice(units, size=min(choice.random, units), replace=False)
    return sorted(int(f) for f in chosen)


def _filters(spec: ActivationMaxSpec, units: int, config: LoadedConfig, index: int) -> list[int]:
    if spec.filters == "all":
        return list(range(units))
    if isinstance(spec.filters, RandomFilters):
        return random_filters(spec.filters, units)
    for position, value in enumerate(spec.filters):
        if value >= units:
            raise config.error(
                ("activation_max", index, "filters", position),
                filter_out_of_range(value, spec.layer, units),
            )
    return list(dict.fromkeys(spec.filters))


def _with_starts(name: str, settings: dict[str, Setting]) -> list[str]:
    """A setting preceded by the settings its start image comes from, first things first."""
    chain = [name]
    while settings[chain[0]].start_from is not None:
        chain.insert(0, settings[chain[0]].start_from)
    return chain


def _asked_comparisons(config: LoadedConfig, rendered: Rendered) -> list[Comparison]:
    """The `compare` section, each checked against what the plan renders."""
    asked = []
    for index, spec in enumerate(config.config.compare):
        try:
            asked.append(spec.resolve(rendered))
        except Problem as problem:
            raise config.error(("compare", index, *problem.key), problem.message) from None
    slugs = [c.slug for c in asked]
    for position, slug in enumerate(slugs):
        if slug in slugs[:position]:
            raise config.error(("compare", position), f"two comparisons are named '{slug}': give one an `id`")
    return asked


def _sanity_jobs(attributions: tuple[AttributionJob, ...]) -> tuple[SanityJob, ...]:
    firsts: dict[str, AttributionJob] = {}
    for job in attributions:
        firsts.setdefault(job.model, job)
    return tuple(SanityJob(job.model, job.image, job.classes[0] if job.classes else None, job.target_layer,
                           job.colormap, job.alpha) for job in firsts.values())


def _images(config: LoadedConfig, problems: Problems) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Every configured image by name, a folder's as NAME/STEM (stable: from its file names), and the
    names of each folder's images; a file:line error in `problems` for a file or folder not there."""
    images: dict[str, str] = {}
    folders: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, source in config.config.images.items():
        if name.lower() in seen:  # their pages would be one file on a case-insensitive disk (macOS, Windows)
            problems.add(config.error(("images", name), f"'{name}' and '{seen[name.lower()]}' differ only in "
                                                        "case: give one another name"))
        seen[name.lower()] = name
        if isinstance(source, ImageFolder):
            found = folder_images(config, source)
            if not found:
                problems.add(config.error(("images", name, "dir"), _no_images(config, source.dir)))
            members = {f"{name}/{stem}": path for stem, path in found.items()}
            images.update(members)
            folders[name] = tuple(members)
        elif not source.startswith("sample:") and config.resolve(source).is_dir():
            problems.add(config.error(("images", name), f"{source}: a folder, not an image file: write "
                                                        f"{{dir: {source}}} for every image in it"))
        elif not source.startswith("sample:") and not config.resolve(source).is_file():
            problems.add(config.error(("images", name), f"image file not found: {source}"))
        else:
            images[name] = source
    return images, folders


def folder_images(config: LoadedConfig, folder: ImageFolder) -> dict[str, str]:
    """The folder's first `limit` readable images by path, keyed by a URL-safe stem of their path in it (a
    second file of one stem gets -2, and `index` is left to the folder's own page)."""
    root = config.resolve(folder.dir)
    if not root.is_dir():
        return {}
    found: dict[str, str] = {}
    for path, _ in readable(root, image_files(root), folder.limit):
        name = path.relative_to(root).with_suffix("").as_posix()
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # niño -> nino
        stem = (re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_name).strip("-.") or "image")[:FOLDER_LENGTH]
        unique, count = stem, 1
        taken = {key.lower() for key in found}  # A.png and a.png: two pages on a case-insensitive disk too
        while unique.lower() in taken or unique.lower() == "index":
            count += 1
            unique = f"{stem}-{count}"
        found[unique] = str(path)
    return found


def _image_jobs(config: LoadedConfig, infos: dict[str, ModelInfo], images: dict[str, str],
                folders: dict[str, tuple[str, ...]],
                problems: Problems) -> tuple[tuple[FeatureJob, ...], tuple[AttributionJob, ...]]:
    """Expand `feature_maps` and `attribution` (a folder's name: each of its images); a file:line
    error in `problems` for any name that does not exist."""
    cfg = config.config
    features: dict[tuple[str, str], FeatureJob] = {}
    attributions: dict[tuple[str, str], AttributionJob] = {}
    for section, specs in (("feature_maps", cfg.feature_maps), ("attribution", cfg.attribution)):
        for index, spec in enumerate(specs):
            try:
                _image_entry(config, infos, section, index, spec, folders, features, attributions)
            except GalleryError as error:
                problems.add(error)
    return tuple(features.values()), tuple(attributions.values())


def _image_entry(config: LoadedConfig, infos: dict[str, ModelInfo], section: str, index: int,
                 spec: FeatureMapSpec | AttributionSpec, folders: dict[str, tuple[str, ...]],
                 features: dict[tuple[str, str], FeatureJob],
                 attributions: dict[tuple[str, str], AttributionJob]) -> None:
    """One entry of `feature_maps` or `attribution` as jobs per image, added to `features` or `attributions`."""
    cfg = config.config
    where: KeyPath = (section, index)
    if spec.model not in infos:
        raise config.error((*where, "model"), unknown("model", spec.model, infos))
    if spec.colormap not in matplotlib.colormaps:
        raise config.error((*where, "colormap"), f"no matplotlib colormap '{spec.colormap}'"
                           + suggest(spec.colormap, matplotlib.colormaps, " (e.g. viridis, magma, jet)"))
    info = infos[spec.model]
    if isinstance(spec, FeatureMapSpec):
        if spec.layers == "all":
            # every layer with a map to show: a 1x1 output (a squeeze-excite gate) is one pixel per channel
            layers = [layer.name for layer in info.layers if layer.spatial and layer.has_map]
            if not layers:
                raise config.error((*where, "layers"), f"model '{spec.model}' has no conv or pooling layer with a "
                                                       "map larger than 1x1 to show")
        else:
            layers = [_spatial(config, info, name, (*where, "layers", i)).name
                      for i, name in enumerate(spec.layers)]
    else:
        if info.output.rank != 2:
            source = next(model.source for model in cfg.models if model.id == spec.model)
            raise config.error((*where, "model"), f"model '{spec.model}' ends in a {info.output.shape_text} "
                                                  f"output ('{info.output.name}'), not one score per class: "
                                                  "attribution explains a classifier's scores"
                                                  + (" (keras_applications with input_shape is built without "
                                                     "its classifier)" if source == "keras_applications" else ""))
        if spec.target_layer is not None:
            target_layer = _spatial(config, info, spec.target_layer, (*where, "target_layer")).name
        elif info.attribution_layer is None:
            raise config.error((*where, "model"), f"model '{spec.model}' has no layer with a spatial "
                                                  "(rank-4) output for the CAM methods")
        else:
            target_layer = info.attribution_layer
        classes = _classes(config, info, spec.classes, (*where, "classes"))
    chosen = features if isinstance(spec, FeatureMapSpec) else attributions
    named = []
    for position, name in enumerate(spec.images):
        if name not in cfg.images:
            raise config.error((*where, "images", position), unknown("image", name, cfg.images))
        named += [(position, image) for image in folders.get(name, (name,))]
    for position, image in named:
        if (spec.model, image) in chosen:
            raise config.error((*where, "images", position),
                               f"image '{image}' already has {section.replace('_', ' ')} "
                               f"for model '{spec.model}'")
        if isinstance(spec, FeatureMapSpec):
            features[spec.model, image] = FeatureJob(spec.model, image, tuple(layers), spec.per_row,
                                                     spec.colormap)
        else:
            top = spec.classes.top if isinstance(spec.classes, TopClasses) else None
            attributions[spec.model, image] = AttributionJob(
                spec.model, image, classes, top, tuple(dict.fromkeys(spec.methods)), target_layer,
                spec.colormap, spec.alpha, detected=spec.target_layer is None, options=spec.options)


def _spatial(config: LoadedConfig, info: ModelInfo, name: str, where: KeyPath) -> LayerInfo:
    layer = info.layer(name)
    if layer is None:
        raise config.error(where, f"model '{info.id}' has no layer '{name}'"
                           + suggest(name, [one.name for one in info.layers], f" (run `gallery layers {config.path}`)"))
    if layer.rank != 4:
        raise config.error(where, f"layer '{name}' has no spatial (rank-4) output")
    return layer


def _classes(config: LoadedConfig, info: ModelInfo, classes: Any, where: KeyPath) -> tuple[int, ...]:
    """Class indices from indices or class names; empty for `{top: K}`, which is chosen per image."""
    if isinstance(classes, TopClasses):
        return ()
    count = info.classes
    names = list(info.class_names())
    indices = []
    for position, value in enumerate(classes):
        if isinstance(value, str):
            if value not in names:
                raise config.error((*where, position), unknown("class", value, names) if names
                                   else f"model '{info.id}' has no class names: give class indices 0-{count - 1}")
            value = names.index(value)
        elif value >= count:
            raise config.error((*where, position), f"class {value} is out of range: model '{info.id}' has {count} "
                                                   f"(0-{count - 1})")
        indices.append(value)
    return tuple(dict.fromkeys(indices))
