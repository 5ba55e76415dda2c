"""Where rendering runs: the build hands an executor tasks and stores what comes back.

The build decides what is missing from the store and in which order (a `start_from` setting after
the one it starts from); an executor only computes. `LocalExecutor` runs every task in this process,
one engine per (model, layer) and one explainer per (model, target layer), and is the reference a
distributed executor (ray.py) must match: the same tasks give the same results.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gallery.config import Setting
from gallery.files import finite
from gallery.models import LoadedModel
from gallery.models.flatten import keras_name
from gallery.plan import AttributionJob, FeatureJob, SanityJob, Target, UnitKind
from gallery.renderers.activation_max import ActivationMaximizer, Rendered
from gallery.results import RenderMeta
from gallery.views import IMAGE_VIEWS, DatasetExamplesView, Explainers, Files


@dataclass(frozen=True, eq=False)
class RenderTask:
    """Activation maximization of some filters of one layer under one setting: one engine call."""

    model: str
    layer: str
    kind: UnitKind
    setting: Setting
    input_range: tuple[float, float]
    filters: tuple[int, ...]
    starts: tuple[np.ndarray, ...] | None = None  # uint8 start images (a first stage's results)


@dataclass(frozen=True, eq=False)
class ViewTask:
    """Feature maps, attribution or a sanity check of one configured image."""

    job: FeatureJob | AttributionJob | SanityJob
    pixels: np.ndarray  # the image as read, uint8


@dataclass(frozen=True, eq=False)
class ExamplesTask:
    """The dataset examples of one layer's filters, measured one way."""

    target: Target
    measure: str
    lowest: bool


Task = RenderTask | ViewTask | ExamplesTask  # compared by identity: they hold arrays
# Per finished piece of work: the task, the position of the result in it (a render task's filter; 0
# otherwise) and the result.
Done = tuple[Task, int, Rendered | Files[Any]]


class Executor(Protocol):
    def run(self, tasks: Sequence[Task]) -> Iterator[Done]:
        """Every result of `tasks`, in any order, as soon as it is computed."""
        ...

    def close(self) -> None:
        """Release what running took (workers, connections); the build calls it once, last."""
        ...


def model_of(task: Task) -> str:
    """The id of the model a task renders."""
    if isinstance(task, RenderTask):
        return task.model
    return task.job.model if isinstance(task, ViewTask) else task.target.model


class LocalExecutor:
    """Every task in this process, in order; compiled functions are kept across tasks."""

    def __init__(self, models: dict[str, LoadedModel]):
        self.models = models
        self.engines: dict[tuple[str, str], ActivationMaximizer] = {}
        self.explainers = Explainers()

    def run(self, tasks: Sequence[Task]) -> Iterator[Done]:
        for task in tasks:
            if isinstance(task, RenderTask):
                for position, rendered in enumerate(self._render(task)):
                    yield task, position, rendered
            elif isinstance(task, ViewTask):
                model = self.models[task.job.model]
                image = model.input_of(task.pixels)
                yield task, 0, IMAGE_VIEWS[type(task.job)].render(task.job, model, image, self.explainers)
            else:
                yield task, 0, DatasetExamplesView.render(task.target, self.models[task.target.model], task.measure,
                                                          task.lowest)

    def close(self) -> None:
        """Nothing to release: the compiled functions go with this object."""

    def engine(self, task: RenderTask) -> ActivationMaximizer:
        """The engine of the task's layer, made once: building it compiles nothing."""
        key = (task.model, task.layer)
        if key not in self.engines:
            self.engines[key] = ActivationMaximizer(self.models[task.model].network, keras_name(task.layer), task.kind)
        return self.engines[key]

    def _render(self, task: RenderTask) -> Iterator[Rendered]:
        starts = list(task.starts) if task.starts is not None else None
        yield from self.engine(task).render(list(task.filters), task.setting, task.input_range, starts)


def stored_meta(rendered: Rendered) -> RenderMeta:
    """What the store keeps of a rendered picture beside its PNG."""
    height, width = rendered.image.shape[:2]
    return RenderMeta(finite(rendered.activation), finite(rendered.losses), rendered.seconds, rendered.status,
                      rendered.retried_because, int(width), int(height), rendered.steps, rendered.device)
