"""The plan: every render job a config asks for, checked against the real layers before any work.

Jobs are plain values, so the store can key its cache on them and the site can lay out pages from
them without touching TensorFlow.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gallery.config import (
    ActivationMaxSpec,
    FeatureMapSpec,
    KeyPath,
    LoadedConfig,
    RandomFilters,
    Setting,
    TopClasses,
)
from gallery.config import _unknown as unknown
from gallery.models import layer_table, output_labels
from gallery.renderers.objectives import is_squashing

Objective = Literal["channel", "unit"]


@dataclass(frozen=True)
class Target:
    """A (model, layer) whose filters get visualized, with what the config asks of it."""

    model: str
    layer: str
    objective: Objective
    units: int
    filters: tuple[int, ...]
    settings: tuple[str, ...]
    linearized: bool  # a softmax/sigmoid output swapped for linear, as the seed report does


@dataclass(frozen=True)
class RenderJob:
    model: str
    layer: str
    filter: int
    setting_name: str
    setting: Setting
    objective: Objective
    linearized: bool


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
    target_layer: str | None  # None: the last spatial layer, chosen at render time
    colormap: str
    alpha: float


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    jobs: tuple[RenderJob, ...]
    features: tuple[FeatureJob, ...] = ()
    attributions: tuple[AttributionJob, ...] = ()


def _filters(spec: ActivationMaxSpec, units: int, config: LoadedConfig, index: int) -> list[int]:
    if spec.filters == "all":
        return list(range(units))
    if isinstance(spec.filters, RandomFilters):
        count = min(spec.filters.random, units)
        chosen = np.random.default_rng(spec.filters.seed).choice(units, size=count, replace=False)
        return sorted(int(f) for f in chosen)
    for position, value in enumerate(spec.filters):
        if value >= units:
            raise config.error(
                ("activation_max", index, "filters", position),
                f"filter {value} is out of range: layer '{spec.layer}' has {units} (0-{units - 1})",
            )
    return list(dict.fromkeys(spec.filters))



def _with_starts(name: str, settings: dict[str, Setting]) -> list[str]:
    """A setting preceded by the settings its start image comes from, first things first."""
    chain = [name]
    while settings[chain[0]].start_from is not None:
        chain.insert(0, settings[chain[0]].start_from)
    return chain


def build(config: LoadedConfig, networks: dict[str, Any]) -> Plan:
    """Expand `activation_max` into jobs; raise a file:line error for unknown layers or filters."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for index, spec in enumerate(config.config.activation_max):
        network = networks[spec.model]
        rows = {row.name: row for row in layer_table(network)}
        row = rows.get(spec.layer)
        if row is None:
            hint = difflib.get_close_matches(spec.layer, list(rows), n=1)
            suggestion = f"did you mean '{hint[0]}'?" if hint else f"run `gallery layers {config.path}`"
            raise config.error(
                ("activation_max", index, "layer"), f"model '{spec.model}' has no layer '{spec.layer}' ({suggestion})"
            )
        rank = len(network.get_layer(spec.layer).output.shape)
        if row.units is None or rank not in (2, 4):
            raise config.error(
                ("activation_max", index, "layer"),
                f"layer '{spec.layer}' ({row.type}, output {row.output_shape}) has no filters or units to visualize",
            )
        entry = merged.setdefault((spec.model, spec.layer), {
            "objective": "channel" if rank == 4 else "unit",
            "units": row.units,
            "filters": {},
            "settings": {},
            "linearized": is_squashing(network.get_layer(spec.layer)),
        })
        entry["filters"].update(dict.fromkeys(_filters(spec, row.units, config, index)))
        for name in spec.settings:
            entry["settings"].update(dict.fromkeys(_with_starts(name, config.config.settings)))
    targets = tuple(
        Target(model, layer, e["objective"], e["units"], tuple(e["filters"]), tuple(e["settings"]), e["linearized"])
        for (model, layer), e in merged.items()
    )
    jobs = tuple(
        RenderJob(t.model, t.layer, f, name, config.config.settings[name], t.objective, t.linearized)
        for t in targets for name in t.settings for f in t.filters
    )
    return Plan(targets, jobs, *_image_jobs(config, networks))


def _image_jobs(config: LoadedConfig, networks: dict[str, Any]) -> tuple[tuple[FeatureJob, ...], tuple[AttributionJob, ...]]:
    """Expand `feature_maps` and `attribution`; raise a file:line error for any name that does not exist."""
    import matplotlib

    from gallery.renderers.feature_maps import spatial_layers

    cfg = config.config
    for name, source in cfg.images.items():
        if not source.startswith("sample:") and not config.resolve(source).is_file():
            raise config.error(("images", name), f"image file not found: {source}")
    jobs: dict[tuple[str, str, str], FeatureJob | AttributionJob] = {}
    for section, specs in (("feature_maps", cfg.feature_maps), ("attribution", cfg.attribution)):
        for index, spec in enumerate(specs):
            where: KeyPath = (section, index)
            if spec.model not in networks:
                raise config.error((*where, "model"), unknown("model", spec.model, list(networks)))
            if spec.colormap not in matplotlib.colormaps:
                raise config.error((*where, "colormap"), f"no matplotlib colormap '{spec.colormap}'"
                                   + _hint(spec.colormap, list(matplotlib.colormaps), " (e.g. viridis, magma, jet)"))
            network = networks[spec.model]
            if isinstance(spec, FeatureMapSpec):
                layers = spec.layers
                paths: list[KeyPath] = [(*where, "layers", i) for i in range(len(layers))] if layers != "all" else []
            else:
                layers = [] if spec.target_layer is None else [spec.target_layer]
                paths = [(*where, "target_layer")]
                classes = _classes(config, spec.model, network, spec.classes, (*where, "classes"))
            for name, path in zip(layers, paths):
                _check_spatial(config, network, name, path)
            for position, image in enumerate(spec.images):
                if image not in cfg.images:
                    raise config.error((*where, "images", position), unknown("image", image, list(cfg.images)))
                if (section, spec.model, image) in jobs:
                    raise config.error((*where, "images", position),
                                       f"image '{image}' already has {section.replace('_', ' ')} for model '{spec.model}'")
                if isinstance(spec, FeatureMapSpec):
                    chosen = spatial_layers(network) if spec.layers == "all" else spec.layers
                    job: FeatureJob | AttributionJob = FeatureJob(
                        spec.model, image, tuple(chosen), spec.per_row, spec.colormap)
                else:
                    top = spec.classes.top if isinstance(spec.classes, TopClasses) else None
                    job = AttributionJob(spec.model, image, classes, top, tuple(dict.fromkeys(spec.methods)),
                                         spec.target_layer, spec.colormap, spec.alpha)
                jobs[(section, spec.model, image)] = job
    return (tuple(j for j in jobs.values() if isinstance(j, FeatureJob)),
            tuple(j for j in jobs.values() if isinstance(j, AttributionJob)))


def _check_spatial(config: LoadedConfig, network: Any, name: str, where: KeyPath) -> None:
    names = [layer.name for layer in network.layers]
    if name not in names:
        raise config.error(where, f"model '{network.name}' has no layer '{name}'"
                           + _hint(name, names, f" (run `gallery layers {config.path}`)"))
    if len(network.get_layer(name).output.shape) != 4:
        raise config.error(where, f"layer '{name}' has no spatial (rank-4) output")


def _classes(config: LoadedConfig, model: str, network: Any, classes: Any, where: KeyPath) -> tuple[int, ...]:
    """Class indices from indices or class names; empty for `{top: K}`, which is chosen per image."""
    if isinstance(classes, TopClasses):
        return ()
    count = int(network.outputs[0].shape[-1])
    names = output_labels(next(m for m in config.config.models if m.id == model), network)
    indices = []
    for position, value in enumerate(classes):
        if isinstance(value, str):
            if value not in names:
                raise config.error((*where, position), unknown("class", value, names) if names
                                   else f"model '{model}' has no class names: give class indices 0-{count - 1}")
            value = names.index(value)
        elif value >= count:
            raise config.error((*where, position), f"class {value} is out of range: model '{model}' has {count} (0-{count - 1})")
        indices.append(value)
    return tuple(dict.fromkeys(indices))


def _hint(name: str, known: list[str], otherwise: str) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else otherwise

