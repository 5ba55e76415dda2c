"""The page kinds of the site, one small class each: its template and the context it needs.

Every page the plan asks for is written by one of these; the comparison pages (the atlas's own,
every layer's settings comparison, every model's depth page) all by `ComparisonPage`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gallery.architecture import ModelInfo
from gallery.comparisons import Comparison
from gallery.config import Setting
from gallery.methods import METHODS, label
from gallery.plan import AttributionJob, FeatureJob, SanityJob, Target, count
from gallery.results import AttributionMeta, FeatureMeta, SanityMeta, Stored
from gallery.site.charts import dead_chart, result_chart, sweep_chart, training_charts
from gallery.site.kernels import write_kernels
from gallery.site.layout import colormap_ramp, display_size, number
from gallery.site.writer import (
    ATTRIBUTION_PX,
    DETAIL_PX,
    GRID_PX,
    AttributionCell,
    AttributionRow,
    Highlights,
    PageKind,
    Picture,
    ResultTile,
    Sidebar,
)

FEATURE_GRID_PX = 720  # a layer's feature-map grid at most this wide on its page; the link opens it full size
PAGE_TILES = 512  # pictures on one layer page; a larger layer is split into pages (`paged`)
NOT_LISTED = {"note", "preset"}  # the note has its own column; a preset is spelled out in its keys


def setting_fields(settings: dict[str, Setting]) -> list[str]:
    """The keys a page's settings table shows: those whose values differ between its settings (for one
    setting, those it changes from the default): fourteen identical columns tell a reader nothing."""
    compared = list(settings.values()) if len(settings) > 1 else [*settings.values(), Setting()]
    return [name for name in Setting.model_fields if name not in NOT_LISTED
            and len({repr(getattr(one, name)) for one in compared}) > 1]


def paged(filters: tuple[int, ...], settings: int) -> list[tuple[str, tuple[int, ...]]]:
    """A layer's filters as pages of at most PAGE_TILES pictures (all settings of a filter on one page):
    (file name, filters), index.html first, so a 1,280-channel layer loads one part at a time."""
    per_page = max(1, PAGE_TILES // max(1, settings))
    parts = [filters[first:first + per_page] for first in range(0, len(filters), per_page)]
    return [("index.html" if number == 1 else f"page-{number}.html", part) for number, part in enumerate(parts, 1)]


def pager_label(shown: tuple[int, ...], captions: dict[int, str]) -> str:
    """A page's link in the pager: "512–1023" for a run of filters; for filters drawn at random, which a
    range would misread as all of them, the first and last with how many: "2 … 532 (256 filters)"."""
    first, last = captions[shown[0]], captions[shown[-1]]
    if len(shown) == 1:
        return first
    if shown == tuple(range(shown[0], shown[-1] + 1)):
        return f"{first}–{last}"
    return f"{first} … {last} ({len(shown)} filters)"


@dataclass(frozen=True)
class KernelPictures:
    """A first layer's kernel weights as its pages show them: the layer's grid, each filter's kernel."""

    grid: Picture
    filters: dict[int, Picture]


class LayerPage(PageKind):
    """MODEL/LAYER/index.html: one grid per setting, with a filter box; then each filter's own page."""

    template = "layer.html"

    def write(self, model: ModelInfo, target: Target, sidebar: Sidebar) -> None:
        writer = self.writer
        items = writer.items_by_target[(target.model, target.layer)]
        grid = {(i.job.filter, i.job.setting_name): writer.tile(i) for i in items}
        examples = {key: writer.examples(tile.item) for key, tile in grid.items()}
        for name in target.settings:
            for f in target.filters:
                found = examples[(f, name)]
                writer.records["items"].append({**grid[(f, name)].record(),
                                                "examples": found.record() if found else None})
        used = {name: writer.contents.config.settings[name] for name in target.settings}
        captions = {f: model.caption(target.layer, f) for f in target.filters}
        pages = paged(target.filters, len(target.settings))
        common = {"model": model, "target": target, "settings": used, "fields": setting_fields(used),
                  "captions": captions, "sidebar": sidebar, "kernels": self.kernels(model, target),
                  "page_of": {f: name for name, shown in pages for f in shown},
                  "pager": [(name, pager_label(shown, captions)) for name, shown in pages] if len(pages) > 1 else []}
        for page_number, (name, shown) in enumerate(pages, 1):
            first = grid.get((shown[0], target.settings[0]))
            tiles = [grid[(f, setting)] for f in shown for setting in target.settings]  # this page's pictures
            writer.page(f"{target.model}/{target.folder}/{name}", self.template, grid=grid, shown=shown, current=name,
                        page_number=page_number, preview=first.picture.full if first else None, pictures=len(tiles),
                        breadcrumbs=[(target.model, "../index.html"), (target.layer, None)],
                        flagged=sum(bool(tile.flags) for tile in tiles),
                        flag_counts=Counter(flag for tile in tiles for flag in tile.flags), **common)
        for position, filter_index in enumerate(target.filters):
            FilterPage(writer).write(target, filter_index, position, grid, examples, common)

    def kernels(self, model: ModelInfo, target: Target) -> KernelPictures | None:
        """For a conv layer that reads the input directly, its kernel weights: the whole layer's grid
        and each visualized filter's own kernel."""
        kernel = model.input_kernels.get(target.layer)
        if kernel is None:
            return None
        folder = f"{target.model}/{target.folder}"
        grid_shape = write_kernels(kernel, self.writer.root / folder / "kernels.png",
                                   self.writer.root / folder / "kernels", target.filters)
        rows, columns, _, count = kernel.shape
        grid = Picture(f"{folder}/kernels.png", f"{folder}/kernels.png", *display_size(grid_shape, DETAIL_PX),
                       f"the {count} kernels of {target.layer}, {rows}x{columns} weights each")
        filters = {f: Picture(f"{folder}/kernels/{f}.png", f"{folder}/kernels/{f}.png",
                              *display_size((rows, columns), GRID_PX),
                              f"the {rows}x{columns} kernel of {target.layer} filter {model.caption(target.layer, f)}")
                   for f in target.filters}
        return KernelPictures(grid, filters)


class FilterPage(PageKind):
    """MODEL/LAYER/filter-N.html: the filter under each setting, large, with its numbers and examples."""

    template = "filter.html"

    def write(self, target: Target, filter_index: int, position: int, grid: dict[tuple[int, str], ResultTile],
              examples: dict[tuple[int, str], Any], common: dict[str, Any]) -> None:
        writer = self.writer
        neighbours = (target.filters[position - 1] if position else None,
                      target.filters[position + 1] if position + 1 < len(target.filters) else None)
        views = [(writer.tile(grid[(filter_index, name)].item, DETAIL_PX, thumbnail=False),
                  result_chart(grid[(filter_index, name)].item)) for name in target.settings]
        shown = {found.picture.src: found for name in target.settings if (found := examples[(filter_index, name)])}
        writer.page(f"{target.model}/{target.folder}/filter-{filter_index}.html", self.template, filter=filter_index,
                    preview=views[0][0].picture.full,
                    views=views, examples=list(shown.values()), neighbours=neighbours,
                    breadcrumbs=[(target.model, "../index.html"), (target.layer, common["page_of"][filter_index]),
                                 (common["captions"][filter_index], None)], **common)


class ComparisonPage(PageKind):
    """A table whose cells are results: the `compare` section, the automatic comparisons, every layer's
    settings comparison and every model's depth page."""

    template = "comparison.html"

    def write(self, comparison: Comparison) -> dict[str, Any]:
        writer = self.writer
        columns = [(writer.model_heading(c.model) if c.model else c.label, c.span) for c in comparison.columns]
        rows = []
        for row in comparison.rows:
            cells = [writer.cell(cell) for cell in row.cells]
            label = row.label
            if comparison.kind == "attribution":  # the row names the class its maps explain
                first = writer.attribution_tables[(row.label, comparison.image)][0]
                label = f"{row.label}: {first.caption} ({number(first.probability, '.2f')})"
            rows.append((label, row.link, cells))
        home = comparison.home
        targets = writer.targets(home) if home else ()
        if home is None:
            breadcrumbs: list[tuple[str, str | None]] = [("compare", None), (comparison.title, None)]
        elif comparison.layer is None:
            breadcrumbs = [(home, "index.html"), ("depth", None)]
        else:
            breadcrumbs = [(home, "../index.html"), (comparison.layer, "index.html"), ("compare", None)]
        target = next((t for t in targets if t.layer == comparison.layer), None)
        settings = {name: writer.contents.config.settings[name] for name in dict.fromkeys(comparison.settings)}
        fields = setting_fields(settings)
        first = next((cell for _, _, cells in rows for cell in cells), None)
        writer.page(comparison.page, self.template, comparison=comparison, columns=columns, rows=rows, target=target,
                    settings=settings, fields=fields, breadcrumbs=breadcrumbs,
                    chart=self.sweep(comparison, rows, settings, fields),
                    preview=first.picture.full if isinstance(first, ResultTile) else None,
                    sidebar=Sidebar(home, targets, comparison.layer or "depth") if home else None)
        record = {"id": comparison.slug or comparison.page.removesuffix(".html"), "kind": comparison.kind,
                  "title": comparison.title, "page": comparison.page, "models": list(comparison.models),
                  "columns": [{"label": label, "span": span} for label, span in columns],
                  "rows": [{"label": label, "cells": [
                      {"image": cell.picture.full, "caption": cell.caption} if isinstance(cell, ResultTile)
                      else {"image": None if cell.empty else cell.overlay.src, "caption": cell.label}
                      for cell in cells]} for label, _, cells in rows]}
        writer.records["comparisons"].append(record)
        return record

    @staticmethod
    def sweep(comparison: Comparison, rows: list[Any], settings: dict[str, Setting], fields: list[str]) -> str:
        """For settings that differ in one numeric key only (the report's TV sweep): the median activation
        and median ratio of each setting's pictures against that key."""
        numeric = [name for name in fields if name not in ("input_range", "scale", "start_from")]
        if comparison.kind != "settings" or len(comparison.settings) < 3 or len(fields) != 1 or not numeric:
            return ""
        key = numeric[0]
        points: dict[str, list[tuple[float, float]]] = {"median activation": [], "median ratio": []}
        for column, name in enumerate(comparison.settings):
            value = getattr(settings[name], key, None)
            tiles = [cells[column] for _, _, cells in rows]
            activations = [tile.item.activation for tile in tiles if tile.item.activation is not None]
            ratios = [tile.ratio for tile in tiles if tile.ratio is not None]
            if isinstance(value, int | float) and activations:
                points["median activation"].append((float(value), float(np.median(activations))))
            if isinstance(value, int | float) and ratios:
                points["median ratio"].append((float(value), float(np.median(ratios))))
        return sweep_chart(key, points)


class ViewPage(PageKind):
    """A page about one configured image: MODEL/KIND/IMAGE.html."""

    kind: str

    def seen(self, model: ModelInfo, image: str, bundle: Stored[Any]) -> tuple[str, str, Picture]:
        folder, page = f"{model.id}/{self.kind}/{image}", f"{model.id}/{self.kind}/{image}.html"
        seen = Picture(self.writer.copy(bundle, "input.png", folder), "",
                       *self.writer.input_size(model, DETAIL_PX // 2), f"{image} as {model.id} sees it")
        return folder, page, seen

    def common(self, model: ModelInfo, job: Any, seen: Picture, sidebar: Sidebar) -> dict[str, Any]:
        up = "../" * (job.image.count("/") + 1)  # a folder's image sits one level deeper
        source = self.writer.contents.plan.images.get(job.image, "")
        return {"model": model, "job": job, "seen": seen, "sidebar": sidebar,
                # the file's own name (a.png and a.jpg of one folder are photos/a and photos/a-2), never its
                # folder: a published site does not show where the author keeps their files
                "source": source if source.startswith("sample:") else Path(source).name,
                "breadcrumbs": [(model.id, f"{up}index.html"), (f"{self.kind}: {job.image}", None)]}


class FeaturesPage(ViewPage):
    """The image as the model saw it and each layer's feature-map grid."""

    template = "features.html"
    kind = "features"

    def write(self, model: ModelInfo, job: FeatureJob, bundle: Stored[FeatureMeta], sidebar: Sidebar) -> str:
        folder, page, seen = self.seen(model, job.image, bundle)
        layers = [(layer, Picture(self.writer.copy(bundle, layer.png, folder), "",
                                  *display_size((layer.height, layer.width), FEATURE_GRID_PX),
                                  f"{layer.name}: {layer.channels} feature maps of {job.image}"))
                  for layer in bundle.meta.layers]
        self.writer.page(page, self.template, layers=layers, chart=dead_chart(bundle.meta.layers),
                         preview=seen.src, **self.common(model, job, seen, sidebar))
        self.writer.feature_views[(model.id, job.image)] = (seen, bundle.meta)
        self.writer.records["views"].append({
            "kind": self.kind, "model": model.id, "image": job.image, "page": page, "input": seen.src,
            "layers": [{"name": layer.name, "type": layer.type, "channels": layer.channels, "dead": layer.dead,
                        "dead_share": layer.dead_share, "grid": picture.src} for layer, picture in layers]})
        return page


class AttributionPage(ViewPage):
    """One row per class with its probability, one column per method."""

    template = "attribution.html"
    kind = "attribution"

    def write(self, model: ModelInfo, job: AttributionJob, bundle: Stored[AttributionMeta], sidebar: Sidebar) -> str:
        folder, page, seen = self.seen(model, job.image, bundle)
        rows = self.writer.attribution_tables[(model.id, job.image)] = self.writer.attribution_rows(model, bundle,
                                                                                                    folder)
        first = next((cell.overlay.src for row in rows for cell in row.cells if not cell.empty), seen.src)
        self.writer.page(page, self.template, rows=rows, methods=[METHODS[m] for m in bundle.meta.methods],
                         ramp=colormap_ramp(job.colormap), target_layer=bundle.meta.target_layer, preview=first,
                         **self.common(model, job, seen, sidebar))
        self.writer.records["views"].append({
            "kind": self.kind, "model": model.id, "image": job.image, "page": page, "input": seen.src,
            "target_layer": bundle.meta.target_layer, "methods": bundle.meta.methods,
            "labels": {method: label(method) for method in bundle.meta.methods},
            "classes": [row.record() for row in rows]})
        return page


@dataclass(frozen=True)
class MethodSummary:
    """One method over a folder's images: its mean areas on each image's most probable class and how
    often it beat random there, and how often over every (image, class) pair (a binary model's two
    classes mirror each other, so their mean says nothing)."""

    method: str
    deletion: float | None
    insertion: float | None
    beats_random: int
    pairs: int
    beats_random_every_class: int
    every_class: int

    @property
    def label(self) -> str:
        return label(self.method)

    def record(self) -> dict[str, Any]:
        return {"label": self.label, "deletion": self.deletion, "insertion": self.insertion,
                "beats_random": self.beats_random, "pairs": self.pairs,
                "every_class": {"beats_random": self.beats_random_every_class, "pairs": self.every_class}}


def ranked_probability(probability: float | None) -> float:
    """A class's probability to rank it by: -1 where the network gave none (NaN, stored as None)."""
    return probability if probability is not None and math.isfinite(probability) else -1.0


class FolderPage(PageKind):
    """MODEL/attribution/FOLDER/index.html: every method's faithfulness over a folder's images, and one
    method's map of each image's most probable class side by side, linking each image's page."""

    template = "folder.html"
    shown = ("gradcam", "scorecam", "gradcam_plus_plus")  # the grid's method: the first of these the job has

    def write(self, model: ModelInfo, folder: str, images: tuple[str, ...], sidebar: Sidebar) -> str | None:
        tables = {image: self.writer.attribution_tables[(model.id, image)] for image in images
                  if (model.id, image) in self.writer.attribution_tables}
        if not tables:
            return None
        methods = list(dict.fromkeys(cell.method for rows in tables.values() for row in rows for cell in row.cells))
        top = {image: max(rows, key=lambda row: ranked_probability(row.probability))
               for image, rows in tables.items() if rows}
        every = [row for rows in tables.values() for row in rows]
        summaries = [self.summary(method, list(top.values()), every) for method in methods]
        method = next((m for m in self.shown if m in methods), methods[0])
        grid = [(image, row, next(cell for cell in row.cells if cell.method == method)) for image, row in top.items()]
        page = f"{model.id}/attribution/{folder}/index.html"
        self.writer.page(page, self.template, model=model, folder=folder, summaries=summaries, method=label(method),
                         grid=grid, sidebar=sidebar, preview=grid[0][2].overlay.src if grid else None,
                         breadcrumbs=[(model.id, "../../index.html"), (f"attribution: {folder}", None)])
        self.writer.records["views"].append({
            "kind": "attribution-folder", "model": model.id, "folder": folder, "page": page,
            "images": list(tables), "methods": {s.method: s.record() for s in summaries}})
        return page

    @staticmethod
    def summary(method: str, top: list[AttributionRow], rows: list[AttributionRow]) -> MethodSummary:
        """`method` over each image's most probable class (`top`) and over every class (`rows`)."""
        def cells(of: list[AttributionRow]) -> list[AttributionCell]:  # those with a verdict
            return [cell for row in of for cell in row.cells if cell.method == method and cell.beats_random is not None]

        def mean(values: list[float | None]) -> float | None:
            finite = [value for value in values if value is not None]
            return float(np.mean(finite)) if finite else None

        measured, every = cells(top), cells(rows)
        return MethodSummary(method, mean([c.faithfulness.deletion for c in measured]),
                             mean([c.faithfulness.insertion for c in measured]),
                             sum(bool(c.beats_random) for c in measured), len(measured),
                             sum(bool(c.beats_random) for c in every), len(every))


class FeaturesFolderPage(PageKind):
    """MODEL/features/FOLDER/index.html: each layer's dead channels over a folder's images, and every
    image as the model saw it, linking its feature-map page."""

    template = "features-folder.html"

    def write(self, model: ModelInfo, folder: str, images: tuple[str, ...], sidebar: Sidebar) -> str | None:
        found = {image: self.writer.feature_views[(model.id, image)] for image in images
                 if (model.id, image) in self.writer.feature_views}
        if not found:
            return None
        shares: dict[str, list[float]] = {}
        for _, meta in found.values():
            for layer in meta.layers:
                shares.setdefault(layer.name, []).append(layer.dead_share)
        layers = [(name, len(values), float(np.mean(values)), float(np.min(values)), float(np.max(values)))
                  for name, values in shares.items()]
        page = f"{model.id}/features/{folder}/index.html"
        grid = [(image, seen) for image, (seen, _) in found.items()]
        self.writer.page(page, self.template, model=model, folder=folder, layers=layers, grid=grid, sidebar=sidebar,
                         preview=grid[0][1].src, breadcrumbs=[(model.id, "../../index.html"),
                                                             (f"features: {folder}", None)])
        self.writer.records["views"].append({
            "kind": "features-folder", "model": model.id, "folder": folder, "page": page, "images": list(found),
            "dead_share": {name: mean for name, _, mean, _, _ in layers}})
        return page


class ModelPage(PageKind):
    """MODEL/index.html: the layer table, training curves, links to the views, the sanity check."""

    template = "model.html"

    def write(self, model: ModelInfo, targets: tuple[Target, ...], views: list[tuple[str, str, str]],
              sanity: dict[str, Any] | None, highlights: Highlights | None) -> None:
        tiles = highlights.tiles if highlights else []
        self.writer.page(f"{model.id}/index.html", self.template, model=model, targets=targets, views=views,
                         sanity=sanity, highlights=highlights, preview=tiles[0].picture.full if tiles else None,
                         training_charts=training_charts(model.history),
                         layers=model.layers, rendered={t.layer: len(t.filters) for t in targets},
                         folders={t.layer: t.folder for t in targets},
                         breadcrumbs=[(model.id, None)], sidebar=Sidebar(model.id, targets, None))

    def sanity(self, model: ModelInfo, job: SanityJob, bundle: Stored[SanityMeta]) -> dict[str, Any]:
        """The sanity-check table: a row per method, a column per randomisation depth."""
        meta = bundle.meta
        caption = model.class_caption(meta.target)
        rows = []
        for method in meta.methods:
            cells: list[tuple[Picture | None, float | None]] = []
            for layers in meta.randomized:
                cell = meta.cells[f"{method}-{layers}"]
                picture = None if cell.empty else Picture(
                    self.writer.copy(bundle, cell.png, f"{model.id}/sanity"), "",
                    *self.writer.input_size(model, ATTRIBUTION_PX),
                    f"{label(method)} for {caption}, " + ("trained" if layers == 0 else
                                                          f"top {count(layers, 'layer')} re-initialised"))
                cells.append((picture, cell.spearman))
            rows.append((method, meta.passed[method], cells))
        return {"image": job.image, "caption": caption, "target_layer": meta.target_layer,
                "randomized": meta.randomized, "weighted_layers": meta.weighted_layers, "rows": rows}


class IndexPage(PageKind):
    """index.html: every model with its facts and links, then the comparison pages."""

    template = "index.html"

    def write(self, summaries: list[dict[str, Any]], comparisons: list[dict[str, Any]]) -> None:
        self.writer.page("index.html", self.template, summaries=summaries, comparisons=comparisons, breadcrumbs=[])


class NotFoundPage(PageKind):
    """404.html: GitHub Pages serves it at any depth, so only absolute links work from everywhere."""

    template = "404.html"

    def write(self) -> None:
        base_url = self.writer.site.base_url
        self.writer.page("404.html", self.template, root=f"{base_url.rstrip('/')}/" if base_url else "",
                         models=list(self.writer.models), breadcrumbs=[])
