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
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import escape as html_escape
from PIL import Image

from gallery import __version__
from gallery.config import LoadedConfig, Setting
from gallery.models import LoadedModel
from gallery.plan import AttributionJob, FeatureJob, Plan, Target

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
CHART_COLORS = {"activation": "#d9480f", "lp_norm": "#1c7ed6", "tv": "#2b8a3e", "total": "#495057",
                "loss": "#d9480f", "val_loss": "#f08c00", "accuracy": "#1c7ed6", "val_accuracy": "#2b8a3e"}
SETTING_FIELDS = ("steps", "tv_weight", "tv_beta", "lp_norm_weight", "lp_p", "jitter", "learning_rate", "seed")


def templates_dir() -> Path:
    """Inside an installed wheel the templates sit in the package; in a checkout, beside it."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )


def display_size(shape: tuple[int, int], target: int) -> tuple[int, int]:
    """Small inputs scale up by a whole factor (crisp nearest-neighbour pixels); large ones down."""
    height, width = shape
    scale = max(1, target // max(height, width)) if max(height, width) <= target else target / max(height, width)
    return round(width * scale), round(height * scale)


def write_thumbnail(source: Path, target: Path, size: tuple[int, int]) -> None:
    """Shrink to the displayed size (never enlarge: CSS does that crisply) and cut to a palette."""
    with Image.open(source) as image:
        small = image.convert("RGB")
    small.thumbnail(size, Image.Resampling.LANCZOS)
    small.quantize(THUMB_COLORS, method=Image.Quantize.FASTOCTREE).save(target, format="PNG", optimize=True)


def loss_chart(losses: dict[str, list[float]], width: int = 360, height: int = 150, x_label: str = "step") -> str:
    """Named series over steps (or epochs) as one SVG with a polyline each and a legend."""
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


@dataclass(frozen=True)
class Picture:
    """One image as a page shows it: where it is and how big."""

    src: str  # what the page loads, relative to the site root: a thumbnail in grids
    full: str  # the full-size PNG, relative to the site root: for the lightbox and the no-JS link
    width: int
    height: int
    alt: str


@dataclass(frozen=True)
class Tile:
    """One result as every page and atlas.json present it: picture, caption, filter page, verdict."""

    item: Item
    picture: Picture
    caption: str
    page: str  # the filter page, relative to the site root

    @property
    def ratio(self) -> float | None:
        """How many times the best test image's value the picture reaches; None without a positive one."""
        reference = self.item.reference
        return self.item.result.meta["activation"] / reference if reference is not None and reference > 0 else None

    @property
    def flags(self) -> tuple[str, ...]:
        """What a reader may want to look at twice: "weak", a picture below the best test image."""
        reference = self.item.reference
        return ("weak",) if reference is not None and self.item.result.meta["activation"] < reference else ()

    @property
    def title(self) -> str:
        """The lightbox caption: where the image is from and how strongly it drives its unit."""
        job = self.item.job
        ratio = f", {self.ratio:.2f}x the best test image" if self.ratio is not None else ""
        return (f"{job.model} / {job.layer} / {self.caption} · {job.setting_name} · "
                f"activation {self.item.result.meta['activation']:.4g}{ratio}")

    def record(self) -> dict[str, Any]:
        """This result's entry in atlas.json."""
        job = self.item.job
        return {
            "model": job.model, "layer": job.layer, "objective": job.objective, "filter": job.filter,
            "caption": self.caption, "setting": job.setting_name, "page": self.page,
            "image": self.picture.full, "thumbnail": self.picture.src,
            "parameters": job.setting.model_dump(mode="json"),
            "activation": self.item.result.meta["activation"], "reference": self.item.reference,
            "ratio": self.ratio, "flags": list(self.flags),
        }


@dataclass(frozen=True)
class Sidebar:
    """A model's visualized layers, in network order, beside each of the model's pages."""

    model: str
    targets: tuple[Target, ...]
    current: str | None  # the layer shown, "depth" for the depth page, None on the model page


class SiteWriter:
    def __init__(self, root: Path, config: LoadedConfig, models: dict[str, LoadedModel], plan: Plan,
                 items: list[Item], views: dict[FeatureJob | AttributionJob, Bundle]):
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
        height, width = (int(d) for d in self.models[job.model].network.inputs[0].shape[1:3])
        size = display_size((height, width), target_px)
        src = full
        if thumbnail and max(height, width) > SMALL_INPUT_PX:
            src = full.removesuffix(".png") + ".thumb.png"
            if not (self.root / src).exists():
                write_thumbnail(destination, self.root / src, size)
        caption = self.models[job.model].caption(job.layer, job.filter)
        alt = f"{job.model} {job.layer} {caption}, setting {job.setting_name}"
        return Picture(src, full, *size, alt)

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
            grids = {target.layer: self.write_target(model, target, settings, Sidebar(model_id, targets, target.layer))
                     for target in targets}
            if targets:
                self.write_depth(model, targets, grids)
            views = self.write_views(model, Sidebar(model_id, targets, "views"))
            self.page(f"{model_id}/index.html", "model.html", model=model, targets=targets, views=views,
                      training_chart=loss_chart(model.history, width=440, x_label="epoch"),
                      layers=model.layers(), rendered={t.layer: len(t.filters) for t in targets},
                      breadcrumbs=[(model_id, None)], sidebar=Sidebar(model_id, targets, None))
            summaries.append({**self.model_summary(model, targets), "views": views})
        self.page("index.html", "index.html", summaries=summaries, breadcrumbs=[])
        base_url = self.config.config.site.base_url
        # GitHub Pages serves 404.html at any depth: only absolute links work from everywhere.
        self.page("404.html", "404.html", root=f"{base_url.rstrip('/')}/" if base_url else "",
                  models=list(self.models), breadcrumbs=[])
        atlas = {"title": self.config.config.site.title, "generator": f"gallery {__version__}",
                 "base_url": base_url, "items": self.records}
        (self.root / "atlas.json").write_text(json.dumps(atlas, indent=1), encoding="utf-8")
        return self.pages

    def copy(self, bundle: Bundle, name: str, folder: str) -> str:
        """Copy one file of a stored bundle into the site; returns its path relative to the site root."""
        relative = f"{folder}/{name}"
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle.folder / name, self.root / relative)
        return relative

    def write_views(self, model: LoadedModel, sidebar: Sidebar) -> list[tuple[str, str, str]]:
        """The feature-map and attribution pages of one model; returns (kind, image, page) for the links."""
        links = []
        for job, bundle in self.views.items():
            if job.model != model.id:
                continue
            kind = "features" if isinstance(job, FeatureJob) else "attribution"
            folder, page = f"{model.id}/{kind}/{job.image}", f"{model.id}/{kind}/{job.image}.html"
            seen = Picture(self.copy(bundle, "input.png", folder), "", *self.input_size(model, DETAIL_PX // 2),
                           f"{job.image} as {model.id} sees it")
            common = {"model": model, "job": job, "seen": seen, "sidebar": sidebar,
                      "breadcrumbs": [(model.id, "../index.html"), (f"{kind}: {job.image}", None)]}
            if isinstance(job, FeatureJob):
                layers = [(layer, Picture(self.copy(bundle, layer["png"], folder), "",
                                          *display_size((layer["height"], layer["width"]), FEATURE_GRID_PX),
                                          f"{layer['name']}: {layer['channels']} feature maps of {job.image}"))
                          for layer in bundle.meta["layers"]]
                self.page(page, "features.html", layers=layers, chart=dead_chart(bundle.meta["layers"]), **common)
            else:
                self.page(page, "attribution.html", rows=self.attribution_rows(model, bundle, folder),
                          methods=bundle.meta["methods"], target_layer=bundle.meta["target_layer"], **common)
            links.append((kind, job.image, page.removeprefix(f"{model.id}/")))
        return links

    @staticmethod
    def input_size(model: LoadedModel, target_px: int) -> tuple[int, int]:
        height, width = (int(d) for d in model.network.inputs[0].shape[1:3])
        return display_size((height, width), target_px)

    def attribution_rows(self, model: LoadedModel, bundle: Bundle,
                         folder: str) -> list[tuple[str, float, list[Picture | None]]]:
        """Per class: its caption, its probability and an overlay per method (None: no positive evidence)."""
        output = model.network.layers[-1].name
        rows = []
        for entry in bundle.meta["classes"]:
            caption = model.caption(output, entry["index"])
            cells: list[Picture | None] = []
            for method in bundle.meta["methods"]:
                name = f"{method}-{entry['index']}"
                cells.append(None if bundle.meta["cells"][name]["empty"] else Picture(
                    self.copy(bundle, f"{name}.png", folder), "", *self.input_size(model, ATTRIBUTION_PX),
                    f"{method} for {caption}"))
            rows.append((caption, entry["probability"], cells))
        return rows

    def model_summary(self, model: LoadedModel, targets: tuple[Target, ...]) -> dict[str, Any]:
        return {
            "model": model,
            "targets": targets,
            "images": sum(len(self.items_by_target[(model.id, t.layer)]) for t in targets),
            "params": model.network.count_params(),
        }

    def write_depth(self, model: LoadedModel, targets: tuple[Target, ...],
                    grids: dict[str, dict[tuple[int, str], Tile]]) -> None:
        """The first few filters of every visualized layer, input to output, under one setting.

        The setting is the first one every layer shares, so the rows differ only in depth; a layer
        without it falls back to its own first setting.
        """
        shared = [name for name in targets[0].settings if all(name in t.settings for t in targets)]
        rows = []
        for target in targets:
            setting = shared[0] if shared else target.settings[0]
            rows.append((target, setting, [grids[target.layer][(f, setting)] for f in target.filters[:DEPTH_FILTERS]]))
        self.page(f"{model.id}/depth.html", "depth.html", model=model, rows=rows, count=DEPTH_FILTERS,
                  breadcrumbs=[(model.id, "index.html"), ("depth", None)], sidebar=Sidebar(model.id, targets, "depth"))

    def write_target(self, model: LoadedModel, target: Target, settings: dict[str, Setting],
                     sidebar: Sidebar) -> dict[tuple[int, str], Tile]:
        """The layer, compare and filter pages of one layer; returns its grid, keyed by (filter, setting)."""
        items = self.items_by_target[(target.model, target.layer)]
        grid = {(i.job.filter, i.job.setting_name): self.tile(i) for i in items}
        self.records.extend(grid[(f, name)].record() for name in target.settings for f in target.filters)
        base = f"{target.model}/{target.layer}"
        crumbs = [(target.model, "../index.html"), (target.layer, None)]
        used = {name: settings[name] for name in target.settings}
        captions = {f: model.caption(target.layer, f) for f in target.filters}
        common = {"model": model, "target": target, "settings": used, "fields": SETTING_FIELDS,
                  "captions": captions, "sidebar": sidebar}
        self.page(f"{base}/index.html", "layer.html", grid=grid, breadcrumbs=crumbs,
                  flagged=sum(bool(tile.flags) for tile in grid.values()), **common)
        self.page(f"{base}/compare.html", "compare.html", grid=grid,
                  breadcrumbs=[(target.model, "../index.html"), (target.layer, "index.html"), ("compare", None)],
                  **common)
        for position, filter_index in enumerate(target.filters):
            neighbours = (target.filters[position - 1] if position else None,
                          target.filters[position + 1] if position + 1 < len(target.filters) else None)
            views = [(self.tile(grid[(filter_index, name)].item, DETAIL_PX, thumbnail=False),
                      loss_chart(grid[(filter_index, name)].item.result.meta["losses"]))
                     for name in target.settings]
            self.page(f"{base}/filter-{filter_index}.html", "filter.html", filter=filter_index, views=views,
                      neighbours=neighbours,
                      breadcrumbs=[(target.model, "../index.html"), (target.layer, "index.html"),
                                   (captions[filter_index], None)], **common)
        return grid


def write(out: Path, config: LoadedConfig, models: dict[str, LoadedModel], plan: Plan, items: list[Item],
          views: dict[FeatureJob | AttributionJob, Bundle]) -> int:
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
