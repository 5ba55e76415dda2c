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
    CompareSpec,
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
class SanityJob:
    """The model-randomisation sanity check on a model's first attribution image and class: one
    section of its model page."""

    model: str
    image: str
    target: int | None  # None: the most probable class, chosen at render time
    target_layer: str | None
    colormap: str
    alpha: float


@dataclass(frozen=True)
class Comparison:
    """One comparison page, resolved against what the plan renders: every name in it exists."""

    kind: str  # config.CompareKind
    slug: str  # the page is compare/SLUG.html: from names only, so the link survives rebuilds
    title: str
    models: tuple[str, ...]
    layers: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()  # depth: one per layer
    filters: tuple[int, ...] = ()
    per_layer: int = 0
    image: str = ""
    methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    jobs: tuple[RenderJob, ...]
    features: tuple[FeatureJob, ...] = ()
    attributions: tuple[AttributionJob, ...] = ()
    sanity: tuple[SanityJob, ...] = ()
    comparisons: tuple[Comparison, ...] = ()

    @property
    def views(self) -> tuple[FeatureJob | AttributionJob | SanityJob, ...]:
        """Every job on a configured image, in page order."""
        return (*self.features, *self.attributions, *self.sanity)


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
    features, attributions = _image_jobs(config, networks)
    in_network_order = tuple(sorted(targets, key=lambda t: [layer.name for layer in networks[t.model].layers].index(t.layer)))
    comparisons = _comparisons(config, in_network_order, attributions)
    return Plan(targets, jobs, features, attributions, _sanity_jobs(attributions), comparisons)


def _comparisons(config: LoadedConfig, targets: tuple[Target, ...],
                 attributions: tuple[AttributionJob, ...]) -> tuple[Comparison, ...]:
    """The `compare` section checked against what the plan renders, then the obvious comparisons the
    config did not ask for: a layer rendered in several models, an image attributed on several models."""
    by_layer = {(t.model, t.layer): t for t in targets}
    attributed = {(job.model, job.image): job for job in attributions}
    comparisons = [_comparison(config, spec, ("compare", index), by_layer, attributed)
                   for index, spec in enumerate(config.config.compare)]
    slugs = [c.slug for c in comparisons]
    for position, slug in enumerate(slugs):
        if slug in slugs[:position]:
            raise config.error(("compare", position), f"two comparisons are named '{slug}': give one an `id`")
    asked = {(c.kind, c.layers, c.image) for c in comparisons}
    automatic = []
    for layer in dict.fromkeys(t.layer for t in targets):
        shared = [t for t in targets if t.layer == layer]
        common = [name for name in shared[0].settings if all(name in t.settings for t in shared)]
        filters = tuple(f for f in shared[0].filters if all(f in t.filters for t in shared))
        if len(shared) > 1 and common and filters:
            automatic.append(Comparison("models", f"models-{layer}", f"{layer} across models",
                                        tuple(t.model for t in shared), (layer,), (common[0],), filters))
    for image in dict.fromkeys(job.image for job in attributions):
        jobs = [job for job in attributions if job.image == image]
        methods = tuple(m for m in jobs[0].methods if all(m in job.methods for job in jobs))
        if len(jobs) > 1 and methods:
            automatic.append(Comparison("attribution", f"attribution-{image}", f"attribution of {image} across models",
                                        tuple(job.model for job in jobs), image=image, methods=methods))
    return (*comparisons, *(c for c in automatic if (c.kind, c.layers, c.image) not in asked and c.slug not in slugs))


def _comparison(config: LoadedConfig, spec: CompareSpec, where: KeyPath, by_layer: dict[tuple[str, str], Target],
                attributed: dict[tuple[str, str], AttributionJob]) -> Comparison:
    models = tuple(spec.models or ([spec.model] if spec.model else []))
    known_models = [m.id for m in config.config.models]
    for position, model in enumerate(models):
        if model not in known_models:
            raise config.error((*where, "models", position) if spec.models else (*where, "model"),
                               unknown("model", model, known_models))

    def target(model: str, layer: str, key: KeyPath) -> Target:
        found = by_layer.get((model, layer))
        if found is None:
            raise config.error(key, f"model '{model}' renders no layer '{layer}': add it to activation_max")
        return found

    def rendered_setting(t: Target, name: str, key: KeyPath) -> None:
        if name not in t.settings:
            raise config.error(key, f"{t.model}/{t.layer} is not rendered under setting '{name}' "
                                    f"(rendered: {', '.join(t.settings)}): add it to activation_max")

    def rendered_filters(t: Target) -> tuple[int, ...]:
        if spec.filters is None:
            return t.filters
        for position, f in enumerate(spec.filters):
            if f not in t.filters:
                raise config.error((*where, "filters", position), f"{t.model}/{t.layer} does not render filter {f}")
        return tuple(spec.filters)

    if spec.kind == "settings":
        t = target(models[0], spec.layer or "", (*where, "layer"))
        names = tuple(spec.settings or t.settings)
        for position, name in enumerate(names):
            rendered_setting(t, name, (*where, "settings", position))
        return Comparison("settings", spec.id or f"settings-{t.model}-{t.layer}",
                          spec.title or f"{t.model} / {t.layer}: settings compared", models, (t.layer,), names,
                          rendered_filters(t))
    if spec.kind == "depth":
        layers = tuple(spec.layers or [t.layer for t in by_layer.values() if t.model == models[0]])
        for position, layer in enumerate(layers):
            rendered_setting(target(models[0], layer, (*where, "layers", position)), spec.setting, (*where, "setting"))
        return Comparison("depth", spec.id or f"depth-{models[0]}", spec.title or f"{models[0]}: layers by depth",
                          models, layers, (spec.setting,) * len(layers), per_layer=spec.per_layer)
    if spec.kind == "models":
        targets = [target(model, spec.layer or "", (*where, "layer")) for model in models]
        for t in targets:
            rendered_setting(t, spec.setting, (*where, "setting"))
        shared = [rendered_filters(t) for t in targets]
        filters = tuple(f for f in shared[0] if all(f in others for others in shared))
        return Comparison("models", spec.id or f"models-{spec.layer}", spec.title or f"{spec.layer} across models",
                          models, (spec.layer or "",), (spec.setting,), filters)
    image = spec.image or ""
    jobs = []
    for model in models:
        job = attributed.get((model, image))
        if job is None:
            raise config.error((*where, "image"), f"model '{model}' has no attribution of image '{image}': "
                                                  "add it to the attribution section")
        jobs.append(job)
    methods = tuple(spec.methods or [m for m in jobs[0].methods if all(m in job.methods for job in jobs)])
    for position, method in enumerate(methods):
        if not all(method in job.methods for job in jobs):
            raise config.error((*where, "methods", position), f"method '{method}' is not rendered for every model")
    return Comparison("attribution", spec.id or f"attribution-{image}", spec.title or f"attribution of {image}",
                      models, image=image, methods=methods)


def _sanity_jobs(attributions: tuple[AttributionJob, ...]) -> tuple[SanityJob, ...]:
    firsts: dict[str, AttributionJob] = {}
    for job in attributions:
        firsts.setdefault(job.model, job)
    return tuple(SanityJob(job.model, job.image, job.classes[0] if job.classes else None, job.target_layer,
                           job.colormap, job.alpha) for job in firsts.values())


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

