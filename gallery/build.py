"""A build, stage by stage: config -> plan -> models -> render (through the store) -> site.

Orchestration only. Everything that can fail on bad input (config, model files, layer names, filter
indices) is checked before the first render and before the site is touched. Then every result's
cache key is computed up front, what the store lacks (everything, with `force`) is handed to an
executor as tasks, and each result is stored as it comes back: an interrupted build keeps every
finished result, and forced renders overwrite their entries one by one.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gallery import config as config_module
from gallery import fingerprints, images, models, output, plan, site
from gallery.errors import GalleryError, Problems
from gallery.estimate import image_steps
from gallery.executor import (
    ExamplesTask,
    Executor,
    LocalExecutor,
    RenderTask,
    Task,
    ViewTask,
    stored_meta,
)
from gallery.files import remove_leftovers
from gallery.models import LoadedModel
from gallery.plan import Plan, RenderJob, Target
from gallery.progress import bar, say
from gallery.renderers.activation_max import Rendered
from gallery.results import (
    ExamplesMeta,
    Item,
    Stored,
    StoredResult,
    Summary,
)
from gallery.store import Store
from gallery.views import IMAGE_VIEWS, DatasetExamplesView, Files


def check(config_path: Path | config_module.LoadedConfig) -> tuple[config_module.LoadedConfig, Plan]:
    """Validate a config (a file, or one given in Python) against the real layers of its models and its
    images, without training anything."""
    loaded = config_path if isinstance(config_path, config_module.LoadedConfig) else config_module.load(config_path)
    infos, problems = {}, Problems()
    for spec in loaded.config.models:  # every model that cannot be used, each in its line
        try:
            infos[spec.id] = models.architecture(spec, loaded)
        except GalleryError as exc:
            problems.add(exc)
    problems.raise_any()
    the_plan = plan.build(loaded, infos)
    _images(loaded, the_plan)
    return loaded, the_plan


def _images(loaded: config_module.LoadedConfig, the_plan: Plan) -> dict[str, np.ndarray]:
    """The pixels of every image a view shows, each read once."""
    shown = {job.image for job in the_plan.views}
    return {name: images.read(source, loaded, ("images", name.split("/")[0]))  # a folder's image: its folder's key
            for name, source in the_plan.images.items() if name in shown}


def run(config_path: Path | config_module.LoadedConfig, out: Path | None, cache_dir: Path, force: bool = False,
        executor: Callable[[dict[str, LoadedModel]], Executor] = LocalExecutor,
        naming: output.Naming = output.OPTIONS) -> Summary:
    """One build; `out` None: the config's `site.out`. Nothing is touched before every check passed, and
    the site folder must be one gallery may replace (gallery.output). `executor`: makes the executor
    from the loaded models (LocalExecutor, or a RayExecutor with its address bound); `naming`: how an error
    names the site and cache folders (the CLI's options or the API's arguments)."""
    began = time.perf_counter()
    loaded, the_plan = check(config_path)
    shown = out or Path(loaded.config.site.out)
    try:
        folder = output.check(shown, cache_dir, config_path if isinstance(config_path, Path) else None,
                              naming=naming)
    except output.SiteRefused as exc:
        if out is None:  # the config named it: its line
            raise loaded.error(("site", "out"), str(exc)) from None
        raise
    with output.locked(folder, naming):
        for leftovers in (cache_dir / "renders", cache_dir / "models"):
            remove_leftovers(leftovers)
        loaded_models = {spec.id: models.load(spec, loaded, cache_dir) for spec in loaded.config.models}
        for job in {job.model: job for job in the_plan.attributions if job.detected}.values():
            say(f"{job.model}: attribution target layer {job.target_layer} (auto-detected)")
        running = executor(loaded_models)
        try:
            render = Rendering(the_plan, loaded_models, Store(cache_dir), running, force)
            items = render.pictures()
            views = render.views(_images(loaded, the_plan))
        finally:
            running.close()
        infos = {m.id: m.info for m in loaded_models.values()}
        pages = site.write(folder, site.Contents(loaded.config, infos, the_plan, items, views))
    return Summary(render.rendered, len(items) + len(views) - render.rendered, pages, time.perf_counter() - began,
                   shown / "index.html", tuple(items))


def measured(target: Target, setting: config_module.Setting) -> tuple[str, bool]:
    """How a setting's pictures are measured against test images: (measure, lowest)."""
    measure = "neuron" if setting.objective == "neuron" and target.kind == "channel" else target.kind
    return measure, setting.direction < 0


def _waves(the_plan: Plan, settings: dict[str, config_module.Setting]) -> Iterator[list[tuple[Target, str]]]:
    """(layer, setting) pairs in waves: a setting that starts from another comes in a later wave."""
    def depth(name: str) -> int:
        start = settings[name].start_from
        return 0 if start is None else depth(start) + 1

    pairs = [(target, name) for target in the_plan.targets for name in target.settings]
    for level in range(max((depth(name) for _, name in pairs), default=-1) + 1):
        yield [(target, name) for target, name in pairs if depth(name) == level]


class Rendering:
    """What a build renders, through the store: results it has are read, the rest computed and stored."""

    def __init__(self, the_plan: Plan, loaded: dict[str, LoadedModel], store: Store, executor: Executor,
                 force: bool):
        self.plan, self.models, self.store, self.executor, self.force = the_plan, loaded, store, executor, force
        self.rendered = 0

    def pictures(self) -> list[Item]:
        """Every activation-maximization picture, with the dataset examples it is measured against.

        The bar counts image-steps, not pictures: a batch of pictures lands at once and settings differ
        in steps, so only steps give an ETA that holds. It names the layer being rendered."""
        settings = {job.setting_name: job.setting for job in self.plan.jobs}
        keys: dict[tuple[str, str, str, int], str] = {}
        stored: dict[tuple[str, str, str, int], StoredResult] = {}
        waves = [[(target, name, self._missing(target, name, keys, stored)) for target, name in wave]
                 for wave in _waves(self.plan, settings)]
        with bar(sum(image_steps(missing[0][0].setting) * len(missing) for wave in waves
                     for _, _, missing in wave if missing), "rendering", "step") as progress:  # closed on errors too
            for wave in waves:
                tasks = [(self._task(target, missing, stored), missing) for target, _, missing in wave if missing]
                waiting = {id(task): missing for task, missing in tasks}
                left = {id(task): len(missing) for task, missing in tasks}
                if tasks:
                    progress.set_description(f"rendering {tasks[0][0].model}/{tasks[0][0].layer}")
                for done, position, rendered in self.executor.run([task for task, _ in tasks]):
                    assert isinstance(rendered, Rendered)
                    job, key = waiting[id(done)][position]
                    stored[_where(job)] = self.store.put(key, rendered.image, stored_meta(rendered))
                    self.rendered += 1
                    # The steps it took: fewer under steps: auto, a retry's two more passes more than planned.
                    taken = rendered.steps * job.setting.diversity
                    progress.total += taken - image_steps(job.setting)
                    left[id(done)] -= 1
                    following = next((task for task, _ in tasks if left[id(task)]), None)
                    if following is not None:
                        progress.set_description(f"rendering {following.model}/{following.layer}", refresh=False)
                    progress.update(taken)
        examples = self._examples(settings)
        return [Item(job, stored[_where(job)], examples.get((job.model, job.layer, *measured(target, job.setting))))
                for target in self.plan.targets for name in target.settings
                for job in self.plan.jobs_of(target, name)]

    def _missing(self, target: Target, name: str, keys: dict[tuple[str, str, str, int], str],
                 stored: dict[tuple[str, str, str, int], StoredResult]) -> list[tuple[RenderJob, str]]:
        """One layer's pictures under one setting: their keys (a later stage's key names its first
        stage's), stored results read, and the (job, key) of those the store lacks."""
        model = self.models[target.model]
        missing = []
        for job in self.plan.jobs_of(target, name):
            start = job.setting.start_from
            first = keys[(job.model, job.layer, start, job.filter)] if start else None
            input_range = job.setting.input_range or model.input_range
            key = keys[_where(job)] = fingerprints.render_key(job, model.computation, input_range, first)
            found = None if self.force else self.store.get(key)
            if found is None:
                missing.append((job, key))
            else:
                stored[_where(job)] = found
        return missing

    def _task(self, target: Target, missing: list[tuple[RenderJob, str]],
              stored: dict[tuple[str, str, str, int], StoredResult]) -> RenderTask:
        """The engine call for the missing pictures, started from their first stage's results (which
        an earlier wave stored)."""
        setting = missing[0][0].setting
        starts = None
        if setting.start_from:
            starts = tuple(np.asarray(Image.open(stored[(job.model, job.layer, setting.start_from, job.filter)].png))
                           for job, _ in missing)
        return RenderTask(target.model, target.layer, target.kind, setting,
                          setting.input_range or self.models[target.model].input_range,
                          tuple(job.filter for job, _ in missing), starts)

    def _examples(self, settings: dict[str, config_module.Setting]
                  ) -> dict[tuple[str, str, str, bool], Stored[ExamplesMeta]]:
        """Per layer and way of measuring, the test images that drive each filter furthest: shown beside
        each picture, and the bar its activation ratio is measured against."""
        wanted = {(target, *measured(target, settings[name])): None for target in self.plan.targets
                  for name in target.settings if self.models[target.model].test_images is not None}
        found: dict[tuple[str, str, str, bool], Stored[ExamplesMeta]] = {}
        tasks: list[Task] = []
        keys: dict[int, str] = {}
        for target, measure, lowest in wanted:
            key = DatasetExamplesView.key(target, self.models[target.model], measure, lowest)
            bundle = None if self.force else self.store.get_bundle(key, ExamplesMeta)
            if bundle is None:
                task = ExamplesTask(target, measure, lowest)
                tasks.append(task)
                keys[id(task)] = key
            else:
                found[target.model, target.layer, measure, lowest] = bundle
        with bar(len(tasks), "dataset examples", "layer") as progress:
            for done, _, files in self.executor.run(tasks):
                assert isinstance(done, ExamplesTask) and isinstance(files, Files)
                found[done.target.model, done.target.layer, done.measure, done.lowest] = self.store.put_bundle(
                    keys[id(done)], files.files, files.meta)
                progress.update(1)
        return found

    def views(self, pixels: dict[str, np.ndarray]) -> dict[Any, Stored[Any]]:
        """Feature maps, attributions and sanity checks of the configured images: a stage (and a bar) each."""
        found: dict[Any, Stored[Any]] = {}
        tasks: dict[str, list[Task]] = defaultdict(list)
        keys: dict[int, str] = {}
        for job in self.plan.views:
            view = IMAGE_VIEWS[type(job)]
            key = view.key(job, self.models[job.model], pixels[job.image])
            bundle = None if self.force else self.store.get_bundle(key, view.meta)
            if bundle is None:
                task = ViewTask(job, pixels[job.image])
                tasks[view.stage].append(task)
                keys[id(task)] = key
            else:
                found[job] = bundle
        for stage, stage_tasks in tasks.items():
            with bar(len(stage_tasks), stage, "image") as progress:
                for done, _, files in self.executor.run(stage_tasks):
                    assert isinstance(done, ViewTask) and isinstance(files, Files)
                    found[done.job] = self.store.put_bundle(keys[id(done)], files.files, files.meta)
                    self.rendered += 1
                    progress.update(1)
        return {job: found[job] for job in self.plan.views}


def _where(job: RenderJob) -> tuple[str, str, str, int]:
    return job.model, job.layer, job.setting_name, job.filter
