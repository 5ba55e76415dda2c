"""The static site: every page the plan lays out, written from plain records with Jinja2.

No TensorFlow here (a test checks): the site is written from what the build stored
(gallery.results), the plan and each model's `ModelInfo`. The site is written to a temporary
folder and swapped in at the end: a failed build leaves the previous site as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gallery import __version__, output
from gallery.architecture import ModelInfo
from gallery.files import json_text
from gallery.plan import FeatureJob, SanityJob
from gallery.site.layout import templates_dir
from gallery.site.pages import (
    AttributionPage,
    ComparisonPage,
    FeaturesPage,
    IndexPage,
    LayerPage,
    ModelPage,
    NotFoundPage,
)
from gallery.site.writer import Contents, Sidebar, SiteWriter

__all__ = ["Contents", "write"]


def model_record(model: ModelInfo) -> dict[str, Any]:
    """A model's entry in atlas.json: what its page's header and layer table say."""
    return {"id": model.id, "description": model.description, "data_source": model.data_source,
            "test_accuracy": model.test_accuracy, "params": model.params, "page": f"{model.id}/index.html",
            "layers": [{"name": layer.name, "type": layer.type, "output_shape": layer.shape_text,
                        "params": layer.params, "units": layer.units} for layer in model.layers]}


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
    ModelPage(writer).write(model, targets, views, sanity)
    return {"model": model, "targets": targets, "views": views, "params": model.params,
            "images": sum(len(writer.items_by_target[(model.id, t.layer)]) for t in targets)}


def write_into(root: Path, contents: Contents) -> int:
    """Every page and file of the site into the (empty) folder `root`; returns the page count."""
    writer = SiteWriter(root, contents)
    (root / output.MARKER).write_text(f"Written by gallery {__version__}: `gallery build` replaces this folder.\n")
    (root / ".nojekyll").write_text("")
    shutil.copytree(templates_dir() / "static", root / "static")
    summaries = [_write_model(writer, model) for model in contents.models.values()]
    comparisons = [ComparisonPage(writer).write(comparison) for comparison in contents.plan.comparisons]
    IndexPage(writer).write(summaries, comparisons)
    NotFoundPage(writer).write()
    atlas = {"title": writer.site.title, "generator": f"gallery {__version__}", "base_url": writer.site.base_url,
             "models": [model_record(model) for model in contents.models.values()], **writer.records}
    (root / "atlas.json").write_text(json_text(atlas, sort_keys=False), encoding="utf-8")
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
