"""Views of a model beside its activation-maximization pictures, each kind one object: its cache
identity and how it renders to files.

Feature maps, attribution and the sanity check are views of one configured image; dataset examples
are a view of a layer over the model's test images. Each renders to a bundle: named files (PNGs,
raw arrays) plus a typed metadata record (gallery.results) that the site reads.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from gallery import fingerprints
from gallery.files import finite
from gallery.models import LoadedModel
from gallery.models.flatten import keras_name
from gallery.plan import AttributionJob, FeatureJob, SanityJob, Target
from gallery.renderers.attribution import (
    SANITY_METHODS,
    Explainer,
    class_count,
    displayable,
    probabilities,
    sanity_check,
    top_k_classes,
)
from gallery.renderers.attribution.faithfulness import Curves, curves
from gallery.renderers.dataset_examples import examples_grid, top_examples
from gallery.renderers.feature_maps import feature_maps
from gallery.results import (
    AttributionMeta,
    CellMeta,
    ClassEntry,
    ExampleEntry,
    ExamplesMeta,
    Faithfulness,
    FeatureLayer,
    FeatureMeta,
    SanityCell,
    SanityMeta,
)
from gallery.store import png_bytes

Job = TypeVar("Job", bound=FeatureJob | AttributionJob | SanityJob)
Meta = TypeVar("Meta")
EXAMPLE_PX = 64  # each dataset example at most this big in its 3x3 grid


@dataclass(frozen=True)
class Files(Generic[Meta]):
    """A rendered bundle before it is stored."""

    files: dict[str, bytes]
    meta: Meta


class Explainers:
    """One `Explainer` per (model, target layer): its compiled passes are traced once per build."""

    def __init__(self) -> None:
        self._made: dict[tuple[int, str], Explainer] = {}

    def get(self, model: LoadedModel, layer: str) -> Explainer:
        """`layer`: its path, as the plan names it."""
        key = (id(model.network), layer)
        if key not in self._made:
            self._made[key] = Explainer(model.network, keras_name(layer), model.input_range)
        return self._made[key]


class ImageView(Generic[Job, Meta]):
    """One kind of view of a configured image."""

    meta: type[Meta]
    stage: str  # its progress bar's name

    def key(self, job: Job, model: LoadedModel, pixels: np.ndarray) -> str:
        return fingerprints.view_key(job, model.computation, fingerprints.digest(pixels), model.input_range)

    def render(self, job: Job, model: LoadedModel, image: np.ndarray, explainers: Explainers) -> Files[Meta]:
        """`image`: the model's input [H, W, C] in its own units (LoadedModel.input_of)."""
        raise NotImplementedError


def seen(model: LoadedModel, image: np.ndarray) -> bytes:
    """The input as the model saw it, as a PNG."""
    return png_bytes(displayable(image, model.input_range))


class FeatureMapsView(ImageView[FeatureJob, FeatureMeta]):
    meta = FeatureMeta
    stage = "feature maps"

    def render(self, job: FeatureJob, model: LoadedModel, image: np.ndarray,
               explainers: Explainers) -> Files[FeatureMeta]:
        files = {"input.png": seen(model, image)}
        layers = []
        names = [keras_name(layer) for layer in job.layers]
        for index, maps in enumerate(feature_maps(model.network, image, names, per_row=job.per_row,
                                                  colormap=job.colormap)):
            files[f"{index}.png"] = png_bytes(maps.grid)
            layers.append(FeatureLayer(job.layers[index], maps.type, maps.channels, int(maps.dead.sum()),
                                       maps.dead_share, f"{index}.png", [int(c) for c in maps.dead.nonzero()[0]],
                                       maps.per_row, int(maps.grid.shape[1]), int(maps.grid.shape[0])))
        return Files(files, FeatureMeta(layers))


def faithfulness(found: Curves) -> Faithfulness:
    """The curves as stored: a network that gave NaN has no number to show (None), not "nan"."""
    deletion, insertion = finite([found.deletion_auc, found.insertion_auc])
    return Faithfulness(deletion, insertion, finite(found.deletion.tolist()), finite(found.insertion.tolist()))


class AttributionView(ImageView[AttributionJob, AttributionMeta]):
    """Overlay and gray PNGs and the raw map (.npy) per (method, class), with each class's probability
    and each map's deletion and insertion curves beside a random order's."""

    meta = AttributionMeta
    stage = "attribution"

    def render(self, job: AttributionJob, model: LoadedModel, image: np.ndarray,
               explainers: Explainers) -> Files[AttributionMeta]:
        order, ranked = top_k_classes(model.network, image, k=class_count(model.network))
        probability = dict(zip(order.tolist(), ranked.tolist()))
        classes = list(job.classes) if job.top is None else order[:job.top].tolist()
        explainer = explainers.get(model, job.target_layer)
        results = explainer.explain(image, classes, job.methods, options=job.options, colormap=job.colormap,
                                    alpha=job.alpha)
        predict = functools.partial(probabilities, model.network, batch_size=explainer.batch_size)
        keys = list(results)
        mapped, chance = curves(predict, image, np.stack([results[key].raw for key in keys]),
                                np.array([target for _, target in keys]), np.array(classes))
        measured, random = dict(zip(keys, mapped)), dict(zip(classes, chance))
        files = {"input.png": seen(model, image)}
        cells = {}
        for (method, target), result in results.items():
            name = f"{method}-{target}"
            raw = io.BytesIO()
            np.save(raw, result.raw.astype(np.float32))
            files.update({f"{name}.png": png_bytes(result.overlay),
                          f"{name}.gray.png": png_bytes(result.gray[..., None]), f"{name}.npy": raw.getvalue()})
            cells[name] = CellMeta(bool(result.empty), faithfulness(measured[method, target]))
        return Files(files, AttributionMeta(job.target_layer, list(job.methods),
                                            [ClassEntry(c, probability[c], faithfulness(random[c])) for c in classes],
                                            cells))


class SanityView(ImageView[SanityJob, SanityMeta]):
    """An overlay per (method, randomised layers) and the Spearman correlations with the trained maps."""

    meta = SanityMeta
    stage = "sanity checks"

    def render(self, job: SanityJob, model: LoadedModel, image: np.ndarray,
               explainers: Explainers) -> Files[SanityMeta]:
        target = job.target if job.target is not None else int(top_k_classes(model.network, image, k=1)[0][0])
        check = sanity_check(model.network, image, target, keras_name(job.target_layer), model.input_range,
                             colormap=job.colormap, alpha=job.alpha)
        files = {f"{method}-{count}.png": png_bytes(result.overlay) for (method, count), result in check.maps.items()}
        cells = {f"{method}-{count}": SanityCell(f"{method}-{count}.png", bool(result.empty),
                                                 check.correlations[method, count])
                 for (method, count), result in check.maps.items()}
        return Files(files, SanityMeta(target, job.target_layer, list(SANITY_METHODS), list(check.randomized), cells,
                                       {method: check.passed(method) for method in SANITY_METHODS},
                                       check.randomized[-1]))


IMAGE_VIEWS: dict[type, ImageView[Any, Any]] = {FeatureJob: FeatureMapsView(), AttributionJob: AttributionView(),
                                                SanityJob: SanityView()}


class DatasetExamplesView:
    """Per filter of a layer, a 3x3 grid of the test images (receptive-field crops for `neuron`) that
    raise it most (lower it most: `lowest`), with their values and indices."""

    meta = ExamplesMeta

    @staticmethod
    def key(target: Target, model: LoadedModel, measure: str, lowest: bool) -> str:
        return fingerprints.examples_key(target, model.computation, model.test_digest, measure, lowest)

    @staticmethod
    def render(target: Target, model: LoadedModel, measure: str, lowest: bool) -> Files[ExamplesMeta]:
        assert model.test_images is not None
        found = top_examples(model.network, keras_name(target.layer), list(target.filters), model.test_images,
                             model.input_range, measure, negate=lowest)
        size = min(EXAMPLE_PX, max(found[0].crops.shape[1:3])) if found else EXAMPLE_PX
        files = {f"{e.filter}.png": png_bytes(examples_grid(e, size)) for e in found}
        entries = {e.filter: ExampleEntry(f"{e.filter}.png", e.values.tolist(), e.indices.tolist()) for e in found}
        return Files(files, ExamplesMeta(measure, lowest, entries))
