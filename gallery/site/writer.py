"""The base writer: the records a build hands the site, and what every page kind shares.

`SiteWriter` renders a page from its template, copies stored files into the site, turns results
into pictures (thumbnails for grids) and collects atlas.json's records. Each page kind
(gallery.site.pages) is a small class naming its template, as in sigal's writer.

URLs come from model, layer, filter and setting names only, never from build order, so links into
the atlas survive rebuilds. Every link is relative, so the site works from file://, from any HTTP
server and under a GitHub Pages sub-path.
"""

from __future__ import annotations

import datetime
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from gallery import __version__
from gallery.architecture import ModelInfo
from gallery.comparisons import MapCell, ResultCell
from gallery.config import Config
from gallery.methods import label
from gallery.plan import AttributionJob, FeatureJob, Plan, SanityJob, Target
from gallery.progress import bar
from gallery.results import AttributionMeta, ExamplesMeta, Faithfulness, FeatureMeta, Item, Stored
from gallery.site.charts import faithfulness_chart
from gallery.site.layout import display_size, environment, number

GRID_PX = 96
DETAIL_PX = 280
# Inputs up to this size (MNIST, CIFAR) go into grids as they are: their PNGs are a few hundred
# bytes and CSS scales them up with crisp pixels. Larger ones get a thumbnail.
SMALL_INPUT_PX = 32
# A grid thumbnail's palette (fast octree keeps small saturated details that median cut loses):
# 128 colours hold a noisy 64x64 thumbnail near 2.5 KB and a 96x96 photo near 6.5 KB, a third of
# their full-colour PNGs, so a layer page of 512 filters transfers well under 1.5 MB before scrolling.
THUMB_COLORS = 128
ATTRIBUTION_PX = 160

ImageJob = FeatureJob | AttributionJob | SanityJob


@dataclass(frozen=True)
class Contents:
    """Everything a site is written from: plain records, no Keras."""

    config: Config
    models: dict[str, ModelInfo]
    plan: Plan
    items: list[Item]
    views: dict[Any, Stored[Any]]  # per plan view job, its stored bundle


@dataclass(frozen=True)
class Picture:
    """One image as a page shows it: where it is and how big."""

    src: str  # what the page loads, relative to the site root: a thumbnail in grids
    full: str  # the full-size PNG, relative to the site root: for the lightbox and the no-JS link
    width: int
    height: int
    alt: str
    natural: tuple[int, int] = (0, 0)  # the full PNG's own width and height


@dataclass(frozen=True)
class ResultTile:
    """One activation-maximization result as every page and atlas.json present it."""

    item: Item
    picture: Picture
    caption: str
    page: str  # the filter page, relative to the site root

    @property
    def ratio(self) -> float | None:
        return self.item.ratio

    @property
    def flags(self) -> tuple[str, ...]:
        return self.item.flags

    @property
    def title(self) -> str:
        """The lightbox caption: where the image is from and how strongly it drives its unit."""
        job = self.item.job
        ratio = f", {self.ratio:.2f}× the best test image" if self.ratio is not None else ""
        flags = f" · {', '.join(self.flags)}" if self.flags else ""
        return (f"{job.model} / {job.layer} / {self.caption} · {job.setting_name} · "
                f"activation {number(self.item.activation)}{ratio}{flags}")

    def record(self) -> dict[str, Any]:
        """This result's entry in atlas.json."""
        job = self.item.job
        return {
            "model": job.model, "layer": job.layer, "objective": job.kind, "filter": job.filter,
            "caption": self.caption, "setting": job.setting_name, "page": self.page,
            "image": self.picture.full, "thumbnail": self.picture.src,
            "parameters": job.setting.model_dump(mode="json"),
            "activation": self.item.activation, "reference": self.item.reference,
            "ratio": self.ratio, "status": self.item.status,
            "retried_because": self.item.retried_because, "flags": list(self.flags),
            "steps": self.item.result.meta.steps,
            "width": self.picture.natural[0], "height": self.picture.natural[1],
        }


@dataclass(frozen=True)
class DatasetExamples:
    """The test images that drive one unit furthest, as a 3x3 grid, best first, with their values."""

    picture: Picture
    objective: str
    lowest: bool
    values: list[float]
    indices: list[int]

    def record(self) -> dict[str, Any]:
        return {"image": self.picture.src, "objective": self.objective, "lowest": self.lowest,
                "values": self.values, "indices": self.indices}


@dataclass(frozen=True)
class Highlights:
    """A model's first pictures on the index and its own page: one layer, one setting."""

    layer: str
    setting: str
    tiles: list[ResultTile]

    @property
    def ranked(self) -> bool:
        """Chosen by how far they beat the best reference image (a model without any has no ratio)."""
        return any(tile.ratio is not None for tile in self.tiles)


@dataclass(frozen=True)
class AttributionCell:
    """One method's map for one class: the overlay shown, the gray map and the raw array beside it."""

    method: str
    overlay: Picture
    gray: str
    raw: str
    empty: bool  # no positive evidence: the page says so instead of showing a blank heatmap
    faithfulness: Faithfulness | None = None
    random: Faithfulness | None = None  # its class's random pixel order: the bar to beat

    @property
    def label(self) -> str:
        """The method's paper name (Grad-CAM++), not its id."""
        return label(self.method)

    @property
    def beats_random(self) -> bool | None:
        """Putting its pixels back first raises the probability faster than a random order; None where
        either has no number (a network that gave NaN): no verdict."""
        mine, bar = self.faithfulness, self.random
        if not (mine and bar and mine.insertion is not None and bar.insertion is not None):
            return None
        return mine.insertion > bar.insertion

    @property
    def no_better_than_random(self) -> bool:
        """Flagged: measured, and no faster than a random order."""
        return self.beats_random is False

    @property
    def chart(self) -> str:
        return faithfulness_chart(self.faithfulness, self.random) if self.faithfulness and self.random else ""


@dataclass(frozen=True)
class AttributionRow:
    index: int
    caption: str
    probability: float | None  # None: the network gave NaN
    cells: list[AttributionCell]
    random: Faithfulness | None = None

    def record(self) -> dict[str, Any]:
        """This class's entry in atlas.json: per method its files and deletion/insertion areas, and a
        random order's areas."""
        def areas(found: Faithfulness | None) -> dict[str, float | None]:
            return {"deletion": found.deletion if found else None, "insertion": found.insertion if found else None}

        return {"index": self.index, "caption": self.caption, "probability": self.probability,
                "random": areas(self.random),
                "cells": {cell.method: {"label": cell.label, "overlay": cell.overlay.src, "gray": cell.gray,
                                        "raw": cell.raw, "empty": cell.empty, **areas(cell.faithfulness),
                                        "no_better_than_random": None if cell.beats_random is None
                                        else not cell.beats_random}
                          for cell in self.cells}}


@dataclass(frozen=True)
class Sidebar:
    """A model's visualized layers, in network order, beside each of the model's pages."""

    model: str
    targets: tuple[Target, ...]
    current: str | None  # the layer shown, "depth" for the depth page, None on the model page


def copy_picture(source: Path, target: Path) -> None:
    """A stored PNG into the site as a person sees it: a 2- or 4-channel input's picture (stored whole,
    gray and alpha or RGBA) as gray or RGB, not half-transparent; any other file byte for byte."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".png":
        with Image.open(source) as image:
            if image.mode in ("LA", "RGBA"):
                image.convert(image.mode[:-1]).save(target, format="PNG")
                return
    shutil.copyfile(source, target)


def write_thumbnail(source: Path, target: Path, size: tuple[int, int]) -> None:
    """Shrink to the displayed size (never enlarge: CSS does that crisply) and cut to a palette."""
    with Image.open(source) as image:
        small = image.convert("RGB")
    small.thumbnail(size, Image.Resampling.LANCZOS)
    small.quantize(THUMB_COLORS, method=Image.Quantize.FASTOCTREE).save(target, format="PNG", optimize=True)


class SiteWriter:
    """Writes pages and files into `root` and remembers what atlas.json lists; shared by every page kind."""

    def __init__(self, root: Path, contents: Contents):
        self.root = root
        self.contents = contents
        self.site = contents.config.site
        self.models = contents.models
        self.plan = contents.plan
        self.pages = 0
        self.written: list[str] = []  # every page, relative to the site root: the sitemap
        self.progress = bar(None, "pages", "page")
        self.built = datetime.date.today().isoformat()  # for "cite this page"
        self.items_by_target: dict[tuple[str, str], list[Item]] = defaultdict(list)
        for item in contents.items:
            self.items_by_target[(item.job.model, item.job.layer)].append(item)
        self.items = {(i.job.model, i.job.layer, i.job.setting_name, i.job.filter): i for i in contents.items}
        self.records: dict[str, list[dict[str, Any]]] = {"items": [], "views": [], "comparisons": []}
        # Filled as pages are written, reused by comparison pages and across settings: each file copied once.
        self.attribution_tables: dict[tuple[str, str], list[AttributionRow]] = {}
        self.feature_views: dict[tuple[str, str], tuple[Picture, FeatureMeta]] = {}  # (model, image): input, maps
        self.example_grids: dict[tuple[str, int], DatasetExamples] = {}

    def page(self, relative: str, template: str, root: str | None = None, sidebar: Sidebar | None = None,
             preview: str | None = None, **context: Any) -> None:
        """Render one page; `root` overrides the relative way back to the site root (404.html); `preview`:
        the picture a link to the page shows in a chat or a forum (default: the site's preview.png)."""
        base_url = self.site.base_url.rstrip("/")
        back = "../" * relative.count("/") if root is None else root
        canonical = f"{base_url}/{relative}" if base_url and root is None else ""
        image = preview or "preview.png"
        html = environment().get_template(template).render(
            root=back, site=self.site, version=__version__, canonical=canonical, sidebar=sidebar,
            preview=f"{base_url}/{image}" if base_url else f"{back}{image}", built=self.built, **context
        )
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
        self.written.append(relative)
        self.pages += 1
        self.progress.update(1)

    def copy(self, bundle: Stored[Any], name: str, folder: str, as_name: str | None = None) -> str:
        """Copy one file of a stored bundle into the site; returns its path relative to the site root."""
        relative = f"{folder}/{as_name or name}"
        copy_picture(bundle.file(name), self.root / relative)
        return relative

    def picture(self, item: Item, target_px: int, thumbnail: bool) -> Picture:
        """Copy the result's PNG into the site; for a grid (`thumbnail`), a small copy of large ones."""
        job = item.job
        full = f"{job.model}/{job.folder}/img/{job.filter}-{job.setting_name}.png"
        destination = self.root / full
        if not destination.exists():
            copy_picture(item.result.png, destination)
        # the PNG's own size: neuron renders are their receptive field's size, diversity strips N inputs wide
        width, height = item.result.meta.width, item.result.meta.height
        panel_width = width // job.setting.diversity  # a diversity strip is judged by one of its panels
        size = display_size((height, panel_width), target_px, panels=job.setting.diversity)
        src = full
        if thumbnail and max(height, panel_width) > SMALL_INPUT_PX:
            src = full.removesuffix(".png") + ".thumb.png"
            if not (self.root / src).exists():
                write_thumbnail(destination, self.root / src, size)
        caption = self.models[job.model].caption(job.layer, job.filter)
        alt = f"{job.model} {job.layer} {caption}, setting {job.setting_name}"
        return Picture(src, full, *size, alt, natural=(width, height))

    def tile(self, item: Item, target_px: int = GRID_PX, thumbnail: bool = True) -> ResultTile:
        job = item.job
        return ResultTile(item, self.picture(item, target_px, thumbnail),
                          self.models[job.model].caption(job.layer, job.filter),
                          f"{job.model}/{job.folder}/filter-{job.filter}.html")

    def cell(self, cell: ResultCell | MapCell) -> ResultTile | AttributionCell:
        """A comparison's cell as its page shows it; attribution tables are those their own page built."""
        if isinstance(cell, MapCell):
            row = self.attribution_tables[(cell.model, cell.image)][0]
            return next(one for one in row.cells if one.method == cell.method)
        return self.tile(self.items[(cell.model, cell.layer, cell.setting, cell.filter)])

    def examples(self, item: Item) -> DatasetExamples | None:
        """The test images beside a picture: those that drive its unit furthest the setting's way.
        Settings that share a direction and objective share them, so each grid is copied once."""
        if item.examples is None:
            return None
        key = (item.examples.key, item.job.filter)
        if key not in self.example_grids:
            self.example_grids[key] = self._copy_examples(item, item.examples)
        return self.example_grids[key]

    def _copy_examples(self, item: Item, bundle: Stored[ExamplesMeta]) -> DatasetExamples:
        job, meta = item.job, bundle.meta
        entry = meta.filters[job.filter]
        name = f"{job.filter}-{meta.objective}{'-lowest' if meta.lowest else ''}.png"
        src = self.copy(bundle, entry.png, f"{job.model}/{job.folder}/examples", name)
        with Image.open(self.root / src) as grid:
            width, height = grid.size
        lowest = "lower" if meta.lowest else "raise"
        caption = self.models[job.model].caption(job.layer, job.filter)
        picture = Picture(src, src, *display_size((height, width), DETAIL_PX),
                          f"the {len(entry.values)} {self.models[job.model].reference_image}s that {lowest} "
                          f"{job.layer} {caption} most")
        return DatasetExamples(picture, meta.objective, meta.lowest, entry.values, entry.indices)

    def input_size(self, model: ModelInfo, target_px: int) -> tuple[int, int]:
        height, width = model.input_shape[:2]
        return display_size((height, width), target_px)

    def attribution_rows(self, model: ModelInfo, bundle: Stored[AttributionMeta], folder: str) -> list[AttributionRow]:
        """Per class: its caption, its probability and per method the overlay with its gray map and array."""
        rows = []
        for entry in bundle.meta.classes:
            caption = model.class_caption(entry.index)
            cells = []
            for method in bundle.meta.methods:
                name = f"{method}-{entry.index}"
                overlay = Picture(self.copy(bundle, f"{name}.png", folder), "",
                                  *self.input_size(model, ATTRIBUTION_PX), f"{label(method)} for {caption}")
                cells.append(AttributionCell(method, overlay, self.copy(bundle, f"{name}.gray.png", folder),
                                             self.copy(bundle, f"{name}.npy", folder),
                                             bundle.meta.cells[name].empty, bundle.meta.cells[name].faithfulness,
                                             entry.random))
            rows.append(AttributionRow(entry.index, caption, entry.probability, cells, entry.random))
        return rows

    def model_heading(self, model_id: str) -> str:
        accuracy = self.models[model_id].test_accuracy
        return model_id if accuracy is None else f"{model_id} ({100 * accuracy:.1f}% test accuracy)"

    def targets(self, model_id: str) -> tuple[Target, ...]:
        """The model's visualized layers, in network order (the plan's order)."""
        return tuple(t for t in self.plan.targets if t.model == model_id)


class PageKind:
    """One kind of page: its template, written through the shared writer."""

    template: ClassVar[str]

    def __init__(self, writer: SiteWriter):
        self.writer = writer
