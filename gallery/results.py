"""What rendering produced, as typed records: written by the build, read by the site, figures and reports.

The store keeps every result as files plus a JSON document; these records are that document's
schema (validated with pydantic on the way in, so a damaged entry is re-rendered instead of
half-read), and `Item` is one activation-maximization picture with the verdicts a page shows
beside it. No TensorFlow here: the site is written from these records alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import TypeAdapter, ValidationError

from gallery.plan import RenderJob

Meta = TypeVar("Meta")


@functools.cache
def _adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def load(kind: type[Meta], data: Any) -> Meta | None:
    """A stored JSON document as a record; None when it does not fit (a damaged or foreign entry)."""
    try:
        return _adapter(kind).validate_python(data)
    except ValidationError:
        return None


def dump(record: Any) -> dict[str, Any]:
    """A record as the JSON document the store writes (non-finite floats become null)."""
    return _adapter(type(record)).dump_python(record, mode="json")


@dataclass(frozen=True)
class RenderMeta:
    """One activation-maximization image's numbers, beside its PNG."""

    activation: float | None  # the objective of the returned image, without jitter; None: not a number
    losses: dict[str, list[float | None]]  # per step: the weighted named losses and their total
    seconds: float
    status: str  # the engine's convergence verdict: converged, rising, regularizer-dominated or failed
    retried_because: str | None  # with `retry: auto`: the first pass's verdict, when it was re-rendered
    width: int
    height: int
    steps: int | None = None  # the steps taken (under steps: auto, where the image stopped); None: stored before
    device: str | None = None  # what rendered it ("CPU", "GPU: NAME"): not part of its cache key


@dataclass(frozen=True)
class StoredResult:
    key: str
    png: Path
    meta: RenderMeta


@dataclass(frozen=True)
class ExampleEntry:
    png: str
    values: list[float | None]  # best first (None: the network gave no number)
    indices: list[int]  # positions in the model's test images


@dataclass(frozen=True)
class ExamplesMeta:
    """Per filter of a layer, the test images that drive it furthest one way."""

    objective: str  # channel, unit or neuron: how a test image's value is read
    lowest: bool  # the images that lower the unit most (a setting that minimises it)
    filters: dict[int, ExampleEntry]


@dataclass(frozen=True)
class FeatureLayer:
    name: str
    type: str
    channels: int
    dead: int
    dead_share: float
    png: str
    dead_channels: list[int]
    per_row: int
    width: int
    height: int


@dataclass(frozen=True)
class FeatureMeta:
    layers: list[FeatureLayer]


@dataclass(frozen=True)
class Faithfulness:
    """Deletion and insertion (Petsiuk et al. 2018) of one pixel order: the class probability after
    each step, and the areas under both curves (None where the network gave no finite number)."""

    deletion: float | None
    insertion: float | None
    deletion_curve: list[float | None]
    insertion_curve: list[float | None]


@dataclass(frozen=True)
class ClassEntry:
    index: int
    probability: float | None
    random: Faithfulness | None = None  # a random pixel order's curves: the bar every map must beat


@dataclass(frozen=True)
class CellMeta:
    empty: bool  # no positive evidence: the page says so instead of showing a blank heatmap
    faithfulness: Faithfulness | None = None  # the map's own pixel order


@dataclass(frozen=True)
class AttributionMeta:
    """Per (method, class) the files `METHOD-CLASS.png`, `.gray.png` and `.npy`."""

    target_layer: str
    methods: list[str]
    classes: list[ClassEntry]
    cells: dict[str, CellMeta]


@dataclass(frozen=True)
class SanityCell:
    png: str
    empty: bool
    spearman: float | None  # with the trained network's map; None when either map is empty


@dataclass(frozen=True)
class SanityMeta:
    """Per (method, randomised layers) the overlay `METHOD-COUNT.png` and its correlation."""

    target: int
    target_layer: str
    methods: list[str]
    randomized: list[int]
    cells: dict[str, SanityCell]
    passed: dict[str, bool | None]  # None: no verdict, the trained map is flat
    weighted_layers: int


@dataclass(frozen=True)
class Stored(Generic[Meta]):
    """A stored bundle of files with its typed metadata."""

    key: str
    folder: Path
    meta: Meta

    def file(self, name: str) -> Path:
        return self.folder / name


@dataclass(frozen=True)
class Item:
    """One visualization in the atlas: the job, its stored result, and the bar it should clear."""

    job: RenderJob
    result: StoredResult
    examples: Stored[ExamplesMeta] | None = None  # the test images that drive this unit furthest the setting's way

    @property
    def reference(self) -> float | None:
        """The best test image's value (the highest, or the lowest when the setting lowers the unit)."""
        if self.examples is None:
            return None
        best = self.examples.meta.filters[self.job.filter].values[0]
        return None if best is None else float(best)

    @property
    def activation(self) -> float | None:
        return self.result.meta.activation

    @property
    def status(self) -> str:
        return self.result.meta.status

    @property
    def retried_because(self) -> str | None:
        return self.result.meta.retried_because

    @property
    def ratio(self) -> float | None:
        """The picture's objective over the best test image's, both signed like the goal: above 1 the
        picture drives the unit further than any test image. None when no test image moves the unit
        the wanted way (a dead channel), or the model has no test images."""
        if self.activation is None or self.reference is None or self.reference * self.job.setting.direction <= 0:
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
    items: tuple[Item, ...] = field(default=())

    def line(self) -> str:
        """One line: work done, then how the pictures compare with the best test images and what is flagged."""
        parts = [f"rendered {self.rendered}, cached {self.cached}, {self.pages} pages in {self.seconds:.0f} s"]
        ratios = [item.ratio for item in self.items if item.ratio is not None]
        if ratios:
            parts.append(f"{sum(r >= 1 for r in ratios)}/{len(ratios)} units reach activation ratio >= 1 "
                         f"(median {np.median(ratios):.2f})")
        if self.items:
            parts.append(f"{sum(bool(item.flags) for item in self.items)} flagged")
        return f"{', '.join(parts)} -> {self.index}"

    def __repr__(self) -> str:  # a notebook shows the build's line, not every item's record
        return f"Summary({self.line()})"
