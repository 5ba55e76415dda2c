"""A build, stage by stage: config -> models -> plan -> render (through the store) -> site.

Everything that can fail on bad input (config, model files, layer names, filter indices) is
checked before the first render and before the site is touched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gallery import config as config_module
from gallery import models, plan, site
from gallery.progress import bar
from gallery.renderers.activation_max import ActivationMaximizer
from gallery.store import Store, StoredResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One visualization in the atlas: the job, its stored result, and the bar it should clear."""

    job: plan.RenderJob
    result: StoredResult
    reference: float | None  # highest objective value over the model's test images


@dataclass(frozen=True)
class Summary:
    rendered: int
    cached: int
    pages: int
    seconds: float
    index: Path

    def line(self) -> str:
        return (f"rendered {self.rendered}, cached {self.cached}, {self.pages} pages "
                f"in {self.seconds:.0f} s -> {self.index}")


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
    pages = site.write(out, loaded, loaded_models, the_plan, items)
    return Summary(rendered, len(items) - rendered, pages, time.perf_counter() - began, out / "index.html")


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

    references = None
    if model.test_images is not None:
        references = get_engine().reference(model.test_images)
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
            reference = float(references[job.filter]) if references is not None else None
            items.append(Item(job, result, reference))
        results_by_setting[setting_name] = {job.filter: stored[key] for job, key in zip(jobs, keys)}
    return items, rendered
