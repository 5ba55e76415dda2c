"""The static site: every page the plan lays out, written from plain records with Jinja2.

No TensorFlow here (a test checks): the site is written from what the build stored
(gallery.results), the plan and each model's `ModelInfo`. The site is written to a temporary
folder and swapped in at the end: a failed build leaves the previous site as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw

from gallery import __version__, output
from gallery.architecture import ModelInfo
from gallery.files import json_text
from gallery.plan import FeatureJob, SanityJob, Target
from gallery.results import Item
from gallery.site.layout import templates_dir
from gallery.site.pages import (
    AttributionPage,
    ComparisonPage,
    FeaturesFolderPage,
    FeaturesPage,
    FolderPage,
    IndexPage,
    LayerPage,
    ModelPage,
    NotFoundPage,
)
from gallery.site.writer import Contents, Highlights, ResultTile, Sidebar, SiteWriter

__all__ = ["Contents", "write"]


def model_record(model: ModelInfo, readable: dict[str, str]) -> dict[str, Any]:
    """A model's entry in atlas.json: what its page's header and layer table say, and per visualized
    layer the setting to show it under first (what `gallery report` and `gallery figure` default to)."""
    return {"id": model.id, "description": model.description, "data_source": model.data_source,
            "test_accuracy": model.test_accuracy, "params": model.params, "page": f"{model.id}/index.html",
            "layers": [{"name": layer.name, "type": layer.type, "output_shape": layer.shape_text,
                        "params": layer.params, "units": layer.units} for layer in model.layers],
            "readable": readable}


def _roughness(item: Item) -> float:
    """A picture's mean absolute difference between neighbouring pixels: high for keras-vis's noise,
    low for a picture a person can read."""
    with Image.open(item.result.png) as picture:
        pixels = np.asarray(picture.convert("L"), np.float64)
    return float(np.abs(np.diff(pixels, axis=0)).mean() + np.abs(np.diff(pixels, axis=1)).mean())


def highlight_target(writer: SiteWriter, model: str) -> Target | None:
    """The layer whose pictures open a model's pages: the config's `site.highlight` layer, else its last
    visualized layer (None without one)."""
    targets = writer.targets(model)
    wanted = writer.site.highlight.get(model)
    return next((t for t in targets if wanted and t.layer == wanted.layer), targets[-1] if targets else None)


def readable_setting(writer: SiteWriter, model: str, target: Target) -> str:
    """The setting a reader should see a layer's pictures under first (the config's `site.highlight`
    when it names this layer): of the settings whose pictures beat the best test image about as often
    as the best one's (converge, without test images), the one whose pictures are smoothest."""
    wanted = writer.site.highlight.get(model)
    if wanted and wanted.setting and highlight_target(writer, model) == target:
        return wanted.setting
    items = writer.items_by_target[(model, target.layer)]

    def beats(name: str) -> float:
        chosen = [item for item in items if item.job.setting_name == name]
        return sum(item.ratio >= 1 if item.ratio is not None else item.status == "converged"
                   for item in chosen) / max(len(chosen), 1)

    def roughness(name: str) -> float:
        return float(np.mean([_roughness(item) for item in items if item.job.setting_name == name]))

    best = max(beats(name) for name in target.settings)
    candidates = [name for name in target.settings if beats(name) >= 0.8 * best]
    # Roughness reads every picture of a setting: not for a layer with one candidate (most have one setting).
    return candidates[0] if len(candidates) == 1 else min(candidates, key=roughness)


def highlights(writer: SiteWriter, model: ModelInfo, readable: dict[str, str]) -> Highlights | None:
    """The first pictures a reader sees of a model: the units of its last visualized layer (or the
    config's `site.highlight`) that beat the best test image most, under its readable setting.
    Unflagged pictures first."""
    target = highlight_target(writer, model.id)
    count = writer.site.highlights
    if target is None or not count:
        return None
    setting = readable[target.layer]
    chosen = [item for item in writer.items_by_target[(model.id, target.layer)] if item.job.setting_name == setting]
    chosen.sort(key=lambda item: (bool(item.flags), -(item.ratio or 0.0), item.job.filter))
    return Highlights(target.layer, setting, [writer.tile(item) for item in chosen[:count]])


def _write_model(writer: SiteWriter, model: ModelInfo) -> dict[str, Any]:
    """A model's layer, filter and view pages and its own page; returns its entry on the index."""
    targets = writer.targets(model.id)
    for target in targets:
        LayerPage(writer).write(model, target, Sidebar(model.id, targets, target.layer))
    for comparison in writer.plan.layer_pages:
        if comparison.home == model.id:
            ComparisonPage(writer).write(comparison)
    views, sanity = [], None
    sidebar = Sidebar(model.id, targets, "views")
    for job, bundle in writer.contents.views.items():
        if job.model != model.id:
            continue
        if isinstance(job, SanityJob):
            sanity = ModelPage(writer).sanity(model, job, bundle)
            continue
        if isinstance(job, FeatureJob):
            kind, page = FeaturesPage.kind, FeaturesPage(writer).write(model, job, bundle, sidebar)
        else:
            kind, page = AttributionPage.kind, AttributionPage(writer).write(model, job, bundle, sidebar)
        views.append((kind, job.image, page.removeprefix(f"{model.id}/")))
    for folder, images in writer.plan.folders.items():
        for kind, summary in ((FeaturesPage.kind, FeaturesFolderPage(writer).write(model, folder, images, sidebar)),
                              (AttributionPage.kind, FolderPage(writer).write(model, folder, images, sidebar))):
            if summary:  # the folder's page links its images' pages: the lists show it instead
                views = [view for view in views if not (view[0] == kind and view[1] in images)]
                views.append((f"{kind}-folder", folder, summary.removeprefix(f"{model.id}/")))
    readable = {target.layer: readable_setting(writer, model.id, target) for target in targets}
    strip = highlights(writer, model, readable)
    ModelPage(writer).write(model, targets, views, sanity, strip)
    return {"model": model, "targets": targets, "views": views, "params": model.params, "highlights": strip,
            "readable": readable,
            "images": sum(len(writer.items_by_target[(model.id, t.layer)]) for t in targets)}


PREVIEW_SIZE = (1200, 630)  # what link previews (OpenGraph, Twitter cards) show best


def preview(root: Path, tiles: list[ResultTile], title: str) -> None:
    """`preview.png`: the link preview of every page without a picture of its own, the index's first
    pictures side by side (the site's title alone, on a site without pictures)."""
    canvas = Image.new("RGB", PREVIEW_SIZE, (248, 249, 250))
    pictures = [Image.open(root / tile.picture.full).convert("RGB") for tile in tiles[:8]]
    if pictures:
        side = min(PREVIEW_SIZE[0] // min(len(pictures), 4) - 20, PREVIEW_SIZE[1] // 2 - 20)
        for index, picture in enumerate(pictures):
            cell = picture.resize((side, side), Image.Resampling.NEAREST if picture.width < side else
                                  Image.Resampling.LANCZOS)
            row, column = divmod(index, 4)
            canvas.paste(cell, (10 + column * (side + 20), 10 + row * (side + 20)))
    else:
        ImageDraw.Draw(canvas).text((40, 300), title, fill=(29, 33, 37))
    canvas.save(root / "preview.png", format="PNG", optimize=True)


def sitemap(base_url: str, pages: list[str]) -> str:
    """sitemap.xml: every page's address, for search engines (with `site.base_url` only: it needs absolute URLs)."""
    entries = "".join(f"  <url><loc>{escape(base_url.rstrip('/') + '/' + page)}</loc></url>\n"
                      for page in pages if page != "404.html")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{entries}</urlset>\n")


def write_into(root: Path, contents: Contents) -> int:
    """Every page and file of the site into the (empty) folder `root`; returns the page count."""
    writer = SiteWriter(root, contents)
    (root / ".nojekyll").write_text("")
    shutil.copytree(templates_dir() / "static", root / "static")
    summaries = [_write_model(writer, model) for model in contents.models.values()]
    preview(root, [tile for summary in summaries if summary["highlights"] for tile in summary["highlights"].tiles],
            writer.site.title)
    comparisons = [ComparisonPage(writer).write(comparison) for comparison in contents.plan.comparisons]
    IndexPage(writer).write(summaries, comparisons)
    NotFoundPage(writer).write()
    if writer.site.base_url:
        (root / "sitemap.xml").write_text(sitemap(writer.site.base_url, writer.written), encoding="utf-8")
    atlas = {"title": writer.site.title, "generator": f"gallery {__version__}", "base_url": writer.site.base_url,
             "models": [model_record(summary["model"], summary["readable"]) for summary in summaries], **writer.records}
    (root / "atlas.json").write_text(json_text(atlas, sort_keys=False), encoding="utf-8")
    output.mark(root)
    writer.progress.close()
    return writer.pages


def write(out: Path, contents: Contents) -> int:
    """Write the whole site into a staging folder beside `out`, then swap it in (gallery.output:
    the caller has checked that gallery may replace `out`, and holds its lock)."""
    new = output.staging(out)
    try:
        pages = write_into(new, contents)
        output.swap_in(new, out)
        return pages
    finally:
        shutil.rmtree(new, ignore_errors=True)
