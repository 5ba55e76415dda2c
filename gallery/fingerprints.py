"""Content hashes and cache identities: one place that says what determines each stored result.

A key hashes everything that changes its pixels or numbers: the model's weights, the image's
content, the job's parameters and the renderer's version. Names that change nothing (a setting's
name or note) stay out, so renaming a setting re-renders nothing. The identity dicts keep the
field names of the first cache layout, so a cache built before a refactoring stays valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from gallery.plan import AttributionJob, FeatureJob, RenderJob, SanityJob, Target

# Part of every activation-maximization key: bump it when a change to the engine changes pixels.
ENGINE_VERSION = "4"
# Part of the keys of feature maps, attributions, sanity checks and dataset examples: bump it when
# any of them changes pixels or numbers.
VIEWS_VERSION = "4"  # 4: faithfulness against a heavier blur (3: a single output unit is two classes)


def digest(pixels: np.ndarray) -> str:
    """An image's (or an image set's) content hash: the pixels and their shape, not a file name."""
    return hashlib.sha256(str(pixels.shape).encode() + np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


def weights_digest(arrays: Iterable[np.ndarray]) -> str:
    """A network's weights hash: every array's bytes, in layer order."""
    hashed = hashlib.sha256()
    for array in arrays:
        hashed.update(np.ascontiguousarray(array).tobytes())
    return hashed.hexdigest()[:16]


def key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def render_key(job: RenderJob, weights: str, input_range: tuple[float, float], start: str | None = None) -> str:
    """One activation-maximization image; `start`: the key of the result it starts from, so a changed
    first pass re-renders the second."""
    return key({
        "engine": ENGINE_VERSION,
        "weights": weights,
        "layer": job.layer,
        "filter": job.filter,
        "objective": job.kind,  # the field's first name, kept so existing caches stay valid
        "linearized": job.linearized,
        # a preset only fills in the other keys, which are in the identity themselves
        # max_steps only counts under steps: auto, so fixed-step keys are the ones from before it existed
        "setting": job.setting.model_dump(exclude={"note", "input_range", "start_from", "preset",
                                                   *(() if job.setting.steps == "auto" else ("max_steps",))}),
        "input_range": list(input_range),
        "start": start,
    })


ImageJob = FeatureJob | AttributionJob | SanityJob


def _parameters(job: ImageJob, target_layer: str | None) -> dict[str, Any]:
    if isinstance(job, FeatureJob):
        return {"layers": list(job.layers), "per_row": job.per_row, "colormap": job.colormap}
    common = {"target_layer": target_layer, "colormap": job.colormap, "alpha": job.alpha}
    if isinstance(job, SanityJob):
        return {"target": job.target, **common}
    return {"classes": list(job.classes), "top": job.top, "methods": list(job.methods),
            "options": dataclasses.asdict(job.options), **common}


def view_key(job: ImageJob, weights: str, image: str, input_range: tuple[float, float]) -> str:
    """Feature maps, attribution or a sanity check of one image (`image`: its content hash)."""
    target_layer = None if isinstance(job, FeatureJob) else job.target_layer
    return key({"kind": type(job).__name__, "version": VIEWS_VERSION, "weights": weights, "image": image,
                "input_range": list(input_range), "parameters": _parameters(job, target_layer)})


def examples_key(target: Target, weights: str, images: str, objective: str, lowest: bool) -> str:
    """The dataset examples of a layer's filters (`images`: the test set's content hash)."""
    return key({"kind": "DatasetExamples", "version": VIEWS_VERSION, "weights": weights, "images": images,
                "layer": target.layer, "objective": objective, "lowest": lowest, "filters": list(target.filters)})
