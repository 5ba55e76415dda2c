"""A build, stage by stage: config -> models -> plan -> render (through the store) -> site.

Everything that can fail on bad input (config, model files, layer names, filter indices) is
checked before the first render and before the site is touched.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gallery import config as config_module
from gallery import images, models, plan, site
from gallery.progress import bar
from gallery.renderers import VIEWS_VERSION
from gallery.renderers.activation_max import ActivationMaximizer
from gallery.store import Bundle, Store, StoredResult, png_bytes

log = logging.getLogger(__name__)
EXAMPLE_PX = 64  # each dataset example at most this big in its 3x3 grid


@dataclass(frozen=True)
class Item:
    """One visualization in the atlas: the job, its stored result, and the bar it should clear."""

    job: plan.RenderJob
    result: StoredResult
    examples: Bundle | None = None  # the test images that drive this unit furthest in the setting's direction

    @property
    def reference(self) -> float | None:
        """The best test image's value (the highest, or the lowest when the setting lowers the unit)."""
        return float(self.examples.meta["filters"][str(self.job.filter)]["values"][0]) if self.examples else None

    @property
    def activation(self) -> float:
        return float(self.result.meta["activation"])

    @property
    def status(self) -> str:
        """The engine's convergence verdict: converged, rising or regularizer-dominated."""
        return str(self.result.meta["status"])

    @property
    def retried_because(self) -> str | None:
        """With `retry: auto`: the first pass's verdict, when the two-stage recipe re-rendered it."""
        return self.result.meta["retried_because"]

    @property
    def ratio(self) -> float | None:
        """The picture's objective over the best test image's, both signed like the goal: above 1 the
        picture drives the unit further than any test image. None when no test image moves the unit
        the wanted way (a dead channel), or the model has no test images."""
        if self.reference is None or self.reference * self.job.setting.direction <= 0:
            return None
        return self.activation / self.reference

    @property
    def flags(self) -> tuple[str, ...]:
        """What a reader should look at twice: an unconverged verdict, a second stage, a weak picture."""
        flags = [] if self.status == "converged" else [self.status]
        if self.retried_because:
            flags.append("retried")
        if self.ratio is not None and self.ratio < 1:
            flags.append("weak")
        return tuple(flags)


@dataclass(frozen=True)
class Summary:
    rendered: int
    cached: int
    pages: int
    seconds: float
    index: Path

    items: tuple[Item, ...] = ()

    def line(self) -> str:
        """One line: work done, then how the pictures compare with the best test images and what is flagged."""
        parts = [f"rendered {self.rendered}, cached {self.cached}, {self.pages} pages in {self.seconds:.0f} s"]
        ratios = [item.ratio for item in self.items if item.ratio is not None]
        if ratios:
            parts.append(f"{sum(r >= 1 for r in ratios)}/{len(ratios)} units reach activation ratio >= 1 "
                         f"(median {np.median(ratios):.2f})")
        flagged = sum(bool(item.flags) for item in self.items)
        if self.items:
            parts.append(f"{flagged} flagged")
        return f"{', '.join(parts)} -> {self.index}"


def check(config_path: Path) -> tuple[config_module.LoadedConfig, plan.Plan]:
    """Validate a config against the real layers of its models, without training anything."""
    loaded = config_module.load(config_path)
    networks = {spec.id: models.architecture(spec, loaded) for spec in loaded.config.models}
    return loaded, plan.build(loaded, networks)


def run(config_path: Path, out: Path | None, cache_dir: Path, force: bool = False) -> Summary:
    began = time.perf_counter()
    loaded, the_plan = check(config_path)
    out = out or Path(loaded.config.site.out)
    store = Store(cache_dir)
    loaded_models = {spec.id: models.load(spec, loaded, cache_dir) for spec in loaded.config.models}
    items: list[Item] = []
    rendered = 0
    progress = bar(len(the_plan.jobs), "rendering", "img")
    for target in the_plan.targets:
        new_items, count = _render_target(target, the_plan, loaded_models[target.model], store, progress, force)
        items.extend(new_items)
        rendered += count
    progress.close()
    views, views_rendered = _render_views(the_plan, loaded, loaded_models, store, force)
    rendered += views_rendered
    pages = site.write(out, loaded, loaded_models, the_plan, items, views)
    return Summary(rendered, len(items) + len(views) - rendered, pages, time.perf_counter() - began,
                   out / "index.html", tuple(items))


View = plan.FeatureJob | plan.AttributionJob | plan.SanityJob


def _render_views(the_plan: plan.Plan, loaded: config_module.LoadedConfig, loaded_models: dict[str, models.LoadedModel],
                  store: Store, force: bool) -> tuple[dict[View, Bundle], int]:
    """Feature maps, attributions and sanity checks of the configured images, from the store where it has them."""
    from gallery.renderers.attribution import Explainer, default_target_layer

    pixels = {name: images.read(source, loaded) for name, source in loaded.config.images.items()
              if any(job.image == name for job in the_plan.views)}
    explainers: dict[tuple[str, str], Explainer] = {}
    bundles: dict[View, Bundle] = {}
    announced: set[str] = set()
    rendered = 0
    for job in the_plan.views:
        model = loaded_models[job.model]
        if not isinstance(job, plan.FeatureJob) and job.target_layer is None:
            layer = default_target_layer(model.network)
            if job.model not in announced:
                print(f"{job.model}: attribution target layer {layer} (auto-detected)", file=sys.stderr)
                announced.add(job.model)
            job_for_key = dataclasses.replace(job, target_layer=layer)
        else:
            job_for_key = job
        parameters = {k: v for k, v in dataclasses.asdict(job_for_key).items() if k not in ("model", "image")}
        key = store.bundle_key({"kind": type(job).__name__, "version": VIEWS_VERSION, "weights": model.weights_hash,
                                "image": images.digest(pixels[job.image]), "input_range": list(model.input_range),
                                "parameters": parameters})
        bundle = None if force else store.get_bundle(key)
        if bundle is None:
            image = images.model_input(model, pixels[job.image])
            if isinstance(job_for_key, plan.FeatureJob):
                files, meta = _feature_files(model, image, job_for_key)
            elif isinstance(job_for_key, plan.SanityJob):
                files, meta = _sanity_files(model, image, job_for_key)
            else:
                layer = job_for_key.target_layer or ""
                explainer = explainers.get((job.model, layer))
                if explainer is None:
                    explainer = explainers[(job.model, layer)] = Explainer(model.network, layer, model.input_range)
                files, meta = _attribution_files(model, image, job_for_key, explainer)
            bundle = store.put_bundle(key, files, meta)
            rendered += 1
        bundles[job] = bundle
    return bundles, rendered


def _sanity_files(model: models.LoadedModel, image: np.ndarray,
                  job: plan.SanityJob) -> tuple[dict[str, bytes], dict[str, Any]]:
    """An overlay per (method, randomised layers) and the Spearman correlations with the trained maps."""
    from gallery.renderers.attribution import SANITY_METHODS, sanity_check, top_k_classes

    target = job.target if job.target is not None else int(top_k_classes(model.network, image, k=1)[0][0])
    check = sanity_check(model.network, image, target, job.target_layer, model.input_range,
                         colormap=job.colormap, alpha=job.alpha)
    files = {f"{method}-{count}.png": png_bytes(result.overlay) for (method, count), result in check.maps.items()}
    cells = {f"{method}-{count}": {"png": f"{method}-{count}.png", "empty": bool(result.empty),
                                   "spearman": check.correlations[method, count]}
             for (method, count), result in check.maps.items()}
    return files, {"target": target, "target_layer": job.target_layer, "methods": list(SANITY_METHODS),
                   "randomized": list(check.randomized), "cells": cells,
                   "passed": {method: check.passed(method) for method in SANITY_METHODS},
                   "weighted_layers": check.randomized[-1]}


def _seen(model: models.LoadedModel, image: np.ndarray) -> bytes:
    """The input as the model saw it, as a PNG."""
    from gallery.renderers.attribution import displayable

    return png_bytes(displayable(image, model.input_range))


def _feature_files(model: models.LoadedModel, image: np.ndarray,
                   job: plan.FeatureJob) -> tuple[dict[str, bytes], dict[str, Any]]:
    from gallery.renderers.feature_maps import feature_maps

    files = {"input.png": _seen(model, image)}
    layers = []
    for index, maps in enumerate(feature_maps(model.network, image, list(job.layers), per_row=job.per_row,
                                              colormap=job.colormap)):
        files[f"{index}.png"] = png_bytes(maps.grid)
        layers.append({"name": maps.layer, "type": maps.type, "channels": maps.channels,
                       "dead": int(maps.dead.sum()), "dead_share": maps.dead_share, "png": f"{index}.png",
                       "dead_channels": [int(c) for c in maps.dead.nonzero()[0]], "per_row": maps.per_row,
                       "width": int(maps.grid.shape[1]), "height": int(maps.grid.shape[0])})
    return files, {"layers": layers}


def _attribution_files(model: models.LoadedModel, image: np.ndarray, job: plan.AttributionJob,
                       explainer: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Overlay and gray PNGs and the raw map (.npy) per (method, class), with each class's probability."""
    from gallery.renderers.attribution import top_k_classes

    order, probabilities = top_k_classes(model.network, image, k=int(model.network.outputs[0].shape[-1]))
    probability = dict(zip(order.tolist(), probabilities.tolist()))
    classes = list(job.classes) if job.top is None else order[:job.top].tolist()
    results = explainer.explain(image, classes, job.methods, colormap=job.colormap, alpha=job.alpha)
    files = {"input.png": _seen(model, image)}
    cells = {}
    for (method, target), result in results.items():
        name = f"{method}-{target}"
        raw = io.BytesIO()
        np.save(raw, result.raw.astype(np.float32))
        files.update({f"{name}.png": png_bytes(result.overlay), f"{name}.gray.png": png_bytes(result.gray[..., None]),
                      f"{name}.npy": raw.getvalue()})
        cells[name] = {"empty": bool(result.empty)}
    return files, {"target_layer": job.target_layer, "methods": list(job.methods),
                   "classes": [{"index": c, "probability": probability[c]} for c in classes], "cells": cells}


def _dataset_examples(model: models.LoadedModel, target: plan.Target, objective: str, lowest: bool, store: Store,
                      force: bool) -> Bundle:
    """Per filter of `target`, a 3x3 grid of the test images (receptive-field crops for `neuron`) that
    raise it most (lower it most: `lowest`), with their values and indices."""
    from gallery.renderers.dataset_examples import examples_grid, top_examples

    assert model.test_images is not None
    key = store.bundle_key({"kind": "DatasetExamples", "version": VIEWS_VERSION, "weights": model.weights_hash,
                            "images": model.test_digest, "layer": target.layer, "objective": objective,
                            "lowest": lowest, "filters": list(target.filters)})
    bundle = None if force else store.get_bundle(key)
    if bundle is None:
        found = top_examples(model.network, target.layer, list(target.filters), model.test_images, model.input_range,
                             objective, negate=lowest)
        size = min(EXAMPLE_PX, max(found[0].crops.shape[1:3])) if found else EXAMPLE_PX
        files = {f"{e.filter}.png": png_bytes(examples_grid(e, size)) for e in found}
        meta = {str(e.filter): {"png": f"{e.filter}.png", "values": e.values.tolist(), "indices": e.indices.tolist()}
                for e in found}
        bundle = store.put_bundle(key, files, {"objective": objective, "lowest": lowest, "filters": meta})
    return bundle


def _render_target(target: plan.Target, the_plan: plan.Plan, model: models.LoadedModel,
                   store: Store, progress: Any, force: bool) -> tuple[list[Item], int]:
    """Render what the store lacks (everything, with `force`) for one layer, with one engine.

    Forced renders overwrite their entries one by one, so an interrupted forced build still
    leaves a complete cache behind.
    """
    engine: ActivationMaximizer | None = None

    def get_engine() -> ActivationMaximizer:
        nonlocal engine
        if engine is None:
            engine = ActivationMaximizer(model.network, target.layer, target.objective)
        return engine

    examples: dict[tuple[str, bool], Bundle] = {}

    def natural(setting: config_module.Setting) -> Bundle | None:
        """The test images that drive each of the layer's filters furthest the setting's way, from the store
        where it has them: shown beside each picture, and the bar its activation ratio is measured against."""
        if model.test_images is None:
            return None
        objective = "neuron" if setting.objective == "neuron" and target.objective == "channel" else target.objective
        key = (objective, setting.direction < 0)
        if key not in examples:
            examples[key] = _dataset_examples(model, target, *key, store, force)
        return examples[key]

    items, rendered = [], 0
    results_by_setting: dict[str, dict[int, StoredResult]] = {}  # for settings that start from others
    for setting_name in target.settings:  # the plan puts a setting after the one it starts from
        jobs = [j for j in the_plan.jobs if (j.model, j.layer, j.setting_name) == (target.model, target.layer, setting_name)]
        setting = jobs[0].setting
        input_range = setting.input_range or model.input_range
        firsts = results_by_setting[setting.start_from] if setting.start_from else None
        keys = [store.key(job, model.weights_hash, input_range, firsts[job.filter].key if firsts else None)
                for job in jobs]
        stored = {key: None if force else store.get(key) for key in keys}
        missing = [(job, key) for job, key in zip(jobs, keys) if stored[key] is None]
        progress.update(len(jobs) - len(missing))
        if missing:
            starts = [np.asarray(Image.open(firsts[job.filter].png)) for job, _ in missing] if firsts else None
            results = get_engine().render([job.filter for job, _ in missing], setting, input_range, starts)
            for (_, key), result in zip(missing, results):
                stored[key] = store.put(key, result)
                rendered += 1
                progress.update(1)
        for job, key in zip(jobs, keys):
            result = stored[key]
            assert result is not None
            items.append(Item(job, result, natural(setting)))
        results_by_setting[setting_name] = {job.filter: stored[key] for job, key in zip(jobs, keys)}
    return items, rendered
