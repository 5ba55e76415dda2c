"""The static site: pages laid out from the plan and stored results, rendered with Jinja2.

URLs come from model, layer, filter and setting names only, never from build order, so links into
the atlas survive rebuilds. Every link is relative, so the site works from file://, from any HTTP
server and under a GitHub Pages sub-path. The site is written to a temporary folder and swapped in
at the end: a failed build leaves the previous site as it was.

Loss curves are small inline SVG polylines written here: a plotting library would add a font and
a stylesheet per chart for a few lines of markup.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import escape as html_escape
from PIL import Image

from gallery import __version__
from gallery.config import LoadedConfig, Setting
from gallery.layout import display_size, templates_dir
from gallery.models import LoadedModel
from gallery.plan import AttributionJob, Comparison, FeatureJob, Plan, SanityJob, Target

if TYPE_CHECKING:
    from gallery.build import Item
    from gallery.store import Bundle

GRID_PX = 96
DETAIL_PX = 280
# Inputs up to this size (MNIST, CIFAR) go into grids as they are: their PNGs are a few hundred
# bytes and CSS scales them up with crisp pixels. Larger ones get a thumbnail.
SMALL_INPUT_PX = 32
# A grid thumbnail's palette (fast octree keeps small saturated details that median cut loses):
# 128 colours hold a noisy 64x64 thumbnail near 2.5 KB and a 96x96 photo near 6.5 KB, a third of
# their full-colour PNGs, so a layer page of 512 filters transfers well under 1.5 MB before scrolling.
THUMB_COLORS = 128
FEATURE_GRID_PX = 720  # a layer's feature-map grid at most this wide on its page; the link opens it full size
ATTRIBUTION_PX = 160
DEPTH_FILTERS = 6  # filters per layer on the depth page
CHART_COLORS = {"activation": "#d9480f", "lp_norm": "#1c7ed6", "tv": "#2b8a3e", "diversity": "#ae3ec9", "total": "#495057",
                "loss": "#d9480f", "val_loss": "#f08c00", "accuracy": "#1c7ed6", "val_accuracy": "#2b8a3e"}
SETTING_FIELDS = ("steps", "tv_weight", "tv_beta", "lp_norm_weight", "lp_p", "jitter", "learning_rate", "param",
                  "optimizer", "diversity", "seed")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )


def write_thumbnail(source: Path, target: Path, size: tuple[int, int]) -> None:
    """Shrink to the displayed size (never enlarge: CSS does that crisply) and cut to a palette."""
    with Image.open(source) as image:
        small = image.convert("RGB")
    small.thumbnail(size, Image.Resampling.LANCZOS)
    small.quantize(THUMB_COLORS, method=Image.Quantize.FASTOCTREE).save(target, format="PNG", optimize=True)


def result_chart(item: Item) -> str:
    """A result's losses per step; a retried result's second stage starts at a marked line."""
    losses = item.result.meta["losses"]
    second_stage = len(losses["total"]) // 2 if item.retried_because else None
    return loss_chart(losses, mark=second_stage)


def loss_chart(losses: dict[str, list[float]], width: int = 360, height: int = 150, x_label: str = "step",
               mark: int | None = None) -> str:
    """Named series over steps (or epochs) as one SVG with a polyline each and a legend; `mark`: a step
    to draw a vertical line at."""
    series = {name: values for name, values in losses.items() if any(values)}
    if not series:
        return ""
    low = min(min(v) for v in series.values())
    high = max(max(v) for v in series.values())
    span = (high - low) or 1.0
    steps = max(len(v) for v in series.values())
    left, top, plot_w, plot_h = 52, 8, width - 60, height - 40

    def point(i: int, value: float) -> str:
        x = left + plot_w * i / max(steps - 1, 1)
        y = top + plot_h * (high - value) / span
        return f"{x:.1f},{y:.1f}"

    parts = [(f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
              f'role="img" aria-label="loss per step">'),
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{high:.3g}</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">{low:.3g}</text>',
             f'<text x="{left + plot_w}" y="{top + plot_h + 14}" text-anchor="end">{x_label} {steps}</text>']
    if mark is not None:
        x = point(mark, high).split(",")[0]
        parts.append(f'<line class="stage" x1="{x}" x2="{x}" y1="{top}" y2="{top + plot_h}" stroke="#868e96" '
                     f'stroke-dasharray="3 3"><title>second stage from step {mark}</title></line>')
    for index, (name, values) in enumerate(series.items()):
        points = " ".join(point(i, v) for i, v in enumerate(values))
        color = CHART_COLORS.get(name, "#868e96")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>')
        parts.append(f'<text x="{left + 4 + index * 80}" y="{height - 4}" style="fill:{color}">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def dead_chart(layers: list[dict[str, Any]], width: int = 360, height: int = 140) -> str:
    """Each layer's share of dead channels as a bar, input to output: where a network goes quiet."""
    left, top, plot_w, plot_h = 36, 8, width - 44, height - 30
    step = plot_w / max(len(layers), 1)
    parts = [(f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
              f'role="img" aria-label="dead channel share by depth">'),
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">100%</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0%</text>',
             f'<text x="{left + plot_w}" y="{top + plot_h + 14}" text-anchor="end">depth ({len(layers)} layers)</text>']
    for index, layer in enumerate(layers):
        bar_h = plot_h * layer["dead_share"]
        parts.append(f'<rect x="{left + index * step + step * 0.15:.1f}" y="{top + plot_h - bar_h:.1f}" '
                     f'width="{step * 0.7:.1f}" height="{bar_h:.1f}" style="fill:#d9480f">'
                     f'<title>{html_escape(layer["name"])}: {100 * layer["dead_share"]:.0f}% dead</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def model_record(model: LoadedModel) -> dict[str, Any]:
    """A model's entry in atlas.json: what its page's header and layer table say."""
    return {"id": model.id, "description": model.description, "data_source": model.data_source,
            "test_accuracy": model.test_accuracy, "params": model.network.count_params(),
            "page": f"{model.id}/index.html", "layers": [asdict(layer) for layer in model.layers()]}


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
class Tile:
    """One result as every page and atlas.json present it: picture, caption, filter page, verdict."""

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
        ratio = f", {self.ratio:.2f}x the best test image" if self.ratio is not None else ""
        flags = f" · {', '.join(self.flags)}" if self.flags else ""
        return (f"{job.model} / {job.layer} / {self.caption} · {job.setting_name} · "
                f"activation {self.item.activation:.4g}{ratio}{flags}")

    def record(self) -> dict[str, Any]:
        """This result's entry in atlas.json."""
        job = self.item.job
        return {
            "model": job.model, "layer": job.layer, "objective": job.objective, "filter": job.filter,
            "caption": self.caption, "setting": job.setting_name, "page": self.page,
            "image": self.picture.full, "thumbnail": self.picture.src,
            "parameters": job.setting.model_dump(mode="json"),
            "activation": self.item.activation, "reference": self.item.reference,
            "ratio": self.ratio, "status": self.item.status,
            "retried_because": self.item.retried_because, "flags": list(self.flags),
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
class AttributionCell:
    """One method's map for one class: the overlay shown, the gray map and the raw array beside it."""

    method: str
    overlay: Picture
    gray: str
    raw: str
    empty: bool  # no positive evidence: the page says so instead of showing a blank heatmap


@dataclass(frozen=True)
class AttributionRow:
    index: int
    caption: str
    probability: float
    cells: list[AttributionCell]

    def record(self) -> dict[str, Any]:
        """This class's entry in atlas.json."""
        return {"index": self.index, "caption": self.caption, "probability": self.probability,
                "cells": {cell.method: {"overlay": cell.overlay.src, "gray": cell.gray, "raw": cell.raw,
                                        "empty": cell.empty} for cell in self.cells}}


@dataclass(frozen=True)
class Sanity:
    """A model page's sanity check: per method, the map as more top layers are re-initialised."""

    image: str
    caption: str
    target_layer: str
    randomized: list[int]
    weighted_layers: int
    rows: list[tuple[str, bool, list[tuple[Picture | None, float | None]]]]  # method, passed, (overlay, Spearman)


@dataclass(frozen=True)
class Sidebar:
    """A model's visualized layers, in network order, beside each of the model's pages."""

    model: str
    targets: tuple[Target, ...]
    current: str | None  # the layer shown, "depth" for the depth page, None on the model page


class SiteWriter:
    def __init__(self, root: Path, config: LoadedConfig, models: dict[str, LoadedModel], plan: Plan,
                 items: list[Item], views: dict[FeatureJob | AttributionJob | SanityJob, Bundle]):
        self.root = root
        self.views = views
        self.config = config
        self.models = models
        self.plan = plan
        self.env = _environment()
        self.pages = 0
        self.items_by_target: dict[tuple[str, str], list[Item]] = defaultdict(list)
        for item in items:
            self.items_by_target[(item.job.model, item.job.layer)].append(item)
        self.records: list[dict[str, Any]] = []
        self.view_records: list[dict[str, Any]] = []
        self.comparison_records: list[dict[str, Any]] = []
        self.items = {(i.job.model, i.job.layer, i.job.setting_name, i.job.filter): i for i in items}
        # Filled as pages are written, reused by the comparison pages and across settings: each file copied once.
        self.attribution_tables: dict[tuple[str, str], list[AttributionRow]] = {}
        self.example_grids: dict[tuple[str, int], DatasetExamples] = {}

    def page(self, relative: str, template: str, root: str | None = None, sidebar: Sidebar | None = None,
             **context: Any) -> None:
        """Render one page; `root` overrides the relative way back to the site root (404.html)."""
        base_url = self.config.config.site.base_url
        canonical = f"{base_url.rstrip('/')}/{relative}" if base_url and root is None else ""
        html = self.env.get_template(template).render(
            root="../" * relative.count("/") if root is None else root, site=self.config.config.site,
            version=__version__, canonical=canonical, sidebar=sidebar, **context
        )
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
        self.pages += 1

    def picture(self, item: Item, target_px: int, thumbnail: bool) -> Picture:
        """Copy the result's PNG into the site; for a grid (`thumbnail`), a small copy of large ones."""
        job = item.job
        full = f"{job.model}/{job.layer}/img/{job.filter}-{job.setting_name}.png"
        destination = self.root / full
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.result.png, destination)
        # the PNG's own size: neuron renders are their receptive field's size, diversity strips N inputs wide
        width, height = int(item.result.meta["width"]), int(item.result.meta["height"])
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

    def tile(self, item: Item, target_px: int = GRID_PX, thumbnail: bool = True) -> Tile:
        job = item.job
        return Tile(item, self.picture(item, target_px, thumbnail), self.models[job.model].caption(job.layer, job.filter),
                    f"{job.model}/{job.layer}/filter-{job.filter}.html")

    def write(self) -> int:
        (self.root / ".nojekyll").write_text("")
        shutil.copytree(templates_dir() / "static", self.root / "static")
        settings = self.config.config.settings
        summaries = []
        for model_id, model in self.models.items():
            order = [layer.name for layer in model.layers()]
            targets = tuple(sorted((t for t in self.plan.targets if t.model == model_id),
                                   key=lambda t: order.index(t.layer)))
            for target in targets:
                self.write_target(model, target, settings, Sidebar(model_id, targets, target.layer))
            if targets:
                self.write_depth(model, targets)
            views, sanity = self.write_views(model, Sidebar(model_id, targets, "views"))
            self.page(f"{model_id}/index.html", "model.html", model=model, targets=targets, views=views, sanity=sanity,
                      training_chart=loss_chart(model.history, width=440, x_label="epoch"),
                      layers=model.layers(), rendered={t.layer: len(t.filters) for t in targets},
                      breadcrumbs=[(model_id, None)], sidebar=Sidebar(model_id, targets, None))
            summaries.append({**self.model_summary(model, targets), "views": views})
        comparisons = [self.write_comparison(comparison) for comparison in self.plan.comparisons]
        self.page("index.html", "index.html", summaries=summaries, comparisons=comparisons, breadcrumbs=[])
        base_url = self.config.config.site.base_url
        # GitHub Pages serves 404.html at any depth: only absolute links work from everywhere.
        self.page("404.html", "404.html", root=f"{base_url.rstrip('/')}/" if base_url else "",
                  models=list(self.models), breadcrumbs=[])
        atlas = {"title": self.config.config.site.title, "generator": f"gallery {__version__}",
                 "base_url": base_url, "models": [model_record(model) for model in self.models.values()],
                 "items": self.records, "views": self.view_records, "comparisons": self.comparison_records}
        (self.root / "atlas.json").write_text(json.dumps(atlas, indent=1), encoding="utf-8")
        return self.pages

    def copy(self, bundle: Bundle, name: str, folder: str, as_name: str | None = None) -> str:
        """Copy one file of a stored bundle into the site; returns its path relative to the site root."""
        relative = f"{folder}/{as_name or name}"
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle.folder / name, self.root / relative)
        return relative

    def examples(self, item: Item) -> DatasetExamples | None:
        """The test images beside a picture: those that drive its unit furthest the setting's way.
        Settings that share a direction and objective share them, so each grid is copied once."""
        if item.examples is None:
            return None
        key = (item.examples.key, item.job.filter)
        if key not in self.example_grids:
            self.example_grids[key] = self._copy_examples(item)
        return self.example_grids[key]

    def _copy_examples(self, item: Item) -> DatasetExamples:
        assert item.examples is not None
        job, meta = item.job, item.examples.meta
        entry = meta["filters"][str(job.filter)]
        name = f"{job.filter}-{meta['objective']}{'-lowest' if meta['lowest'] else ''}.png"
        src = self.copy(item.examples, entry["png"], f"{job.model}/{job.layer}/examples", name)
        with Image.open(self.root / src) as grid:
            width, height = grid.size
        lowest = "lower" if meta["lowest"] else "raise"
        picture = Picture(src, src, *display_size((height, width), DETAIL_PX), f"the {len(entry['values'])} test "
                          f"images that {lowest} {job.layer} {self.models[job.model].caption(job.layer, job.filter)} most")
        return DatasetExamples(picture, meta["objective"], meta["lowest"], entry["values"], entry["indices"])

    def write_views(self, model: LoadedModel, sidebar: Sidebar) -> tuple[list[tuple[str, str, str]], Sanity | None]:
        """The feature-map and attribution pages of one model; returns (kind, image, page) for the links,
        and the sanity check for the model page."""
        links, sanity = [], None
        for job, bundle in self.views.items():
            if job.model != model.id:
                continue
            if isinstance(job, SanityJob):
                sanity = self.sanity(model, job, bundle)
                continue
            kind = "features" if isinstance(job, FeatureJob) else "attribution"
            folder, page = f"{model.id}/{kind}/{job.image}", f"{model.id}/{kind}/{job.image}.html"
            seen = Picture(self.copy(bundle, "input.png", folder), "", *self.input_size(model, DETAIL_PX // 2),
                           f"{job.image} as {model.id} sees it")
            common = {"model": model, "job": job, "seen": seen, "sidebar": sidebar,
                      "breadcrumbs": [(model.id, "../index.html"), (f"{kind}: {job.image}", None)]}
            record: dict[str, Any] = {"kind": kind, "model": model.id, "image": job.image, "page": page,
                                      "input": seen.src}
            if isinstance(job, FeatureJob):
                layers = [(layer, Picture(self.copy(bundle, layer["png"], folder), "",
                                          *display_size((layer["height"], layer["width"]), FEATURE_GRID_PX),
                                          f"{layer['name']}: {layer['channels']} feature maps of {job.image}"))
                          for layer in bundle.meta["layers"]]
                self.page(page, "features.html", layers=layers, chart=dead_chart(bundle.meta["layers"]), **common)
                record["layers"] = [{**{k: layer[k] for k in ("name", "type", "channels", "dead", "dead_share")},
                                     "grid": picture.src} for layer, picture in layers]
            else:
                rows = self.attribution_tables[(model.id, job.image)] = self.attribution_rows(model, bundle, folder)
                self.page(page, "attribution.html", rows=rows, methods=bundle.meta["methods"],
                          target_layer=bundle.meta["target_layer"], **common)
                record.update({"target_layer": bundle.meta["target_layer"], "methods": bundle.meta["methods"],
                               "classes": [row.record() for row in rows]})
            self.view_records.append(record)
            links.append((kind, job.image, page.removeprefix(f"{model.id}/")))
        return links, sanity

    def sanity(self, model: LoadedModel, job: SanityJob, bundle: Bundle) -> Sanity:
        """The sanity-check table of a model page: a row per method, a column per randomisation depth."""
        folder = f"{model.id}/sanity"
        meta = bundle.meta
        caption = model.caption(model.network.layers[-1].name, meta["target"])
        rows = []
        for method in meta["methods"]:
            cells = []
            for count in meta["randomized"]:
                cell = meta["cells"][f"{method}-{count}"]
                picture = None if cell["empty"] else Picture(
                    self.copy(bundle, cell["png"], folder), "", *self.input_size(model, ATTRIBUTION_PX),
                    f"{method} for {caption}, top {count} layers re-initialised")
                cells.append((picture, cell["spearman"]))
            rows.append((method, meta["passed"][method], cells))
        return Sanity(job.image, caption, meta["target_layer"], meta["randomized"], meta["weighted_layers"], rows)

    @staticmethod
    def input_size(model: LoadedModel, target_px: int) -> tuple[int, int]:
        height, width = (int(d) for d in model.network.inputs[0].shape[1:3])
        return display_size((height, width), target_px)

    def attribution_rows(self, model: LoadedModel, bundle: Bundle, folder: str) -> list[AttributionRow]:
        """Per class: its caption, its probability and per method the overlay with its gray map and array."""
        output = model.network.layers[-1].name
        rows = []
        for entry in bundle.meta["classes"]:
            caption = model.caption(output, entry["index"])
            cells = []
            for method in bundle.meta["methods"]:
                name = f"{method}-{entry['index']}"
                overlay = Picture(self.copy(bundle, f"{name}.png", folder), "",
                                  *self.input_size(model, ATTRIBUTION_PX), f"{method} for {caption}")
                cells.append(AttributionCell(method, overlay, self.copy(bundle, f"{name}.gray.png", folder),
                                             self.copy(bundle, f"{name}.npy", folder),
                                             bool(bundle.meta["cells"][name]["empty"])))
            rows.append(AttributionRow(entry["index"], caption, entry["probability"], cells))
        return rows

    def write_comparison(self, comparison: Comparison, page: str | None = None,
                         breadcrumbs: list[tuple[str, str | None]] | None = None, sidebar: Sidebar | None = None,
                         target: Target | None = None) -> dict[str, Any]:
        """One comparison page, a table whose cells are results: of the `compare` section or an automatic
        one at compare/SLUG.html, or a layer's own settings comparison (`page`, `target`) beside its grid."""
        columns: list[str]
        rows: list[tuple[str, str | None, list[Tile | AttributionCell | None]]] = []
        if comparison.kind == "attribution":
            columns = list(comparison.methods)
            for model_id in comparison.models:
                row = self.attribution_tables[(model_id, comparison.image)][0]
                cells = {cell.method: cell for cell in row.cells}
                rows.append((f"{model_id}: {row.caption} ({row.probability:.2f})",
                             f"{model_id}/attribution/{comparison.image}.html", [cells[m] for m in comparison.methods]))
        elif comparison.kind == "depth":
            model_id = comparison.models[0]
            one = len(set(comparison.settings)) == 1
            columns = [f"first {comparison.per_layer} filters or units" + (f", setting {comparison.settings[0]}" if one else "")]
            for layer, setting in zip(comparison.layers, comparison.settings):
                target = next(t for t in self.plan.targets if (t.model, t.layer) == (model_id, layer))
                rows.append((layer if one else f"{layer} ({setting})", f"{model_id}/{layer}/index.html",
                             [self.tile(self.items[(model_id, layer, setting, f)])
                              for f in target.filters[:comparison.per_layer]]))
        else:
            layer = comparison.layers[0]
            pairs = ([(comparison.models[0], name) for name in comparison.settings] if comparison.kind == "settings"
                     else [(model_id, comparison.settings[0]) for model_id in comparison.models])
            columns = [name if comparison.kind == "settings" else self.model_heading(model_id)
                       for model_id, name in pairs]
            for f in comparison.filters:
                caption = self.models[pairs[0][0]].caption(layer, f)
                rows.append((caption, f"{pairs[0][0]}/{layer}/filter-{f}.html" if comparison.kind == "settings" else None,
                             [self.tile(self.items[(model_id, layer, name, f)]) for model_id, name in pairs]))
        page = page or f"compare/{comparison.slug}.html"
        self.page(page, "comparison.html", comparison=comparison, columns=columns, rows=rows, target=target,
                  settings={name: self.config.config.settings[name] for name in comparison.settings},
                  fields=SETTING_FIELDS, breadcrumbs=breadcrumbs or [("compare", None), (comparison.title, None)],
                  sidebar=sidebar)
        record = {"kind": comparison.kind, "title": comparison.title, "page": page, "models": list(comparison.models)}
        self.comparison_records.append(record)
        return record

    def model_heading(self, model_id: str) -> str:
        accuracy = self.models[model_id].test_accuracy
        return model_id if accuracy is None else f"{model_id} ({100 * accuracy:.1f}% test accuracy)"

    def model_summary(self, model: LoadedModel, targets: tuple[Target, ...]) -> dict[str, Any]:
        return {
            "model": model,
            "targets": targets,
            "images": sum(len(self.items_by_target[(model.id, t.layer)]) for t in targets),
            "params": model.network.count_params(),
        }

    def write_depth(self, model: LoadedModel, targets: tuple[Target, ...]) -> None:
        """The first few filters of every visualized layer, input to output, under one setting.

        The setting is the first one every layer shares, so the rows differ only in depth; a layer
        without it falls back to its own first setting.
        """
        shared = [name for name in targets[0].settings if all(name in t.settings for t in targets)]
        settings = tuple(shared[0] if shared else target.settings[0] for target in targets)
        self.write_comparison(
            Comparison("depth", "", f"{model.id}: layers by depth", (model.id,), tuple(t.layer for t in targets),
                       settings, per_layer=DEPTH_FILTERS),
            page=f"{model.id}/depth.html", sidebar=Sidebar(model.id, targets, "depth"),
            breadcrumbs=[(model.id, "index.html"), ("depth", None)])

    def write_target(self, model: LoadedModel, target: Target, settings: dict[str, Setting], sidebar: Sidebar) -> None:
        """The layer, compare and filter pages of one layer."""
        items = self.items_by_target[(target.model, target.layer)]
        grid = {(i.job.filter, i.job.setting_name): self.tile(i) for i in items}
        examples = {key: self.examples(tile.item) for key, tile in grid.items()}
        for name in target.settings:
            for f in target.filters:
                found = examples[(f, name)]
                self.records.append({**grid[(f, name)].record(), "examples": found.record() if found else None})
        base = f"{target.model}/{target.layer}"
        crumbs = [(target.model, "../index.html"), (target.layer, None)]
        used = {name: settings[name] for name in target.settings}
        captions = {f: model.caption(target.layer, f) for f in target.filters}
        common = {"model": model, "target": target, "settings": used, "fields": SETTING_FIELDS,
                  "captions": captions, "sidebar": sidebar}
        self.page(f"{base}/index.html", "layer.html", grid=grid, breadcrumbs=crumbs,
                  flagged=sum(bool(tile.flags) for tile in grid.values()),
                  flag_counts=Counter(flag for tile in grid.values() for flag in tile.flags), **common)
        self.write_comparison(
            Comparison("settings", "", f"{target.model} / {target.layer}: settings compared", (target.model,),
                       (target.layer,), target.settings, target.filters),
            page=f"{base}/compare.html", sidebar=sidebar, target=target,
            breadcrumbs=[(target.model, "../index.html"), (target.layer, "index.html"), ("compare", None)])
        for position, filter_index in enumerate(target.filters):
            neighbours = (target.filters[position - 1] if position else None,
                          target.filters[position + 1] if position + 1 < len(target.filters) else None)
            views = [(self.tile(grid[(filter_index, name)].item, DETAIL_PX, thumbnail=False),
                      result_chart(grid[(filter_index, name)].item)) for name in target.settings]
            shown = {found.picture.src: found for name in target.settings if (found := examples[(filter_index, name)])}
            self.page(f"{base}/filter-{filter_index}.html", "filter.html", filter=filter_index, views=views,
                      examples=list(shown.values()),
                      neighbours=neighbours,
                      breadcrumbs=[(target.model, "../index.html"), (target.layer, "index.html"),
                                   (captions[filter_index], None)], **common)


def write(out: Path, config: LoadedConfig, models: dict[str, LoadedModel], plan: Plan, items: list[Item],
          views: dict[FeatureJob | AttributionJob | SanityJob, Bundle]) -> int:
    """Write the whole site into a temporary folder beside `out`, then swap it in."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        pages = SiteWriter(staging, config, models, plan, items, views).write()
        retired = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            os.replace(out, retired)
        os.replace(staging, out)
        shutil.rmtree(retired, ignore_errors=True)
        return pages
    finally:
        shutil.rmtree(staging, ignore_errors=True)
