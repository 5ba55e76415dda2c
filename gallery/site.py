"""The static site: pages laid out from the plan and stored results, rendered with Jinja2.

URLs come from model, layer, filter and setting names only, never from build order, so links into
the atlas survive rebuilds. Every link is relative, so the site works from file://, from any HTTP
server and under a GitHub Pages sub-path. The site is written to a temporary folder and swapped in
at the end: a failed build leaves the previous site as it was.

Loss curves are small inline SVG polylines written here: a plotting library would add a font and
a stylesheet per chart for a few lines of markup.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from gallery import __version__
from gallery.config import LoadedConfig, Setting
from gallery.models import LoadedModel
from gallery.plan import Plan, Target

if TYPE_CHECKING:
    from gallery.build import Item

GRID_PX = 96
DETAIL_PX = 280
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

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="loss per step">',
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


@dataclass(frozen=True)
class Picture:
    """One image as a page shows it: where it is and how big."""

    src: str  # relative to the site root
    width: int
    height: int
    alt: str


class SiteWriter:
    def __init__(self, root: Path, config: LoadedConfig, models: dict[str, LoadedModel], plan: Plan,
                 items: list[Item]):
        self.root = root
        self.config = config
        self.models = models
        self.plan = plan
        self.env = _environment()
        self.pages = 0
        self.items_by_target: dict[tuple[str, str], list[Item]] = defaultdict(list)
        for item in items:
            self.items_by_target[(item.job.model, item.job.layer)].append(item)

    def page(self, relative: str, template: str, **context: Any) -> None:
        depth = relative.count("/")
        base_url = self.config.config.site.base_url
        canonical = f"{base_url.rstrip('/')}/{relative}" if base_url else ""
        html = self.env.get_template(template).render(
            root="../" * depth, site=self.config.config.site, version=__version__, canonical=canonical, **context
        )
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
        self.pages += 1

    def picture(self, item: Item, target_px: int) -> Picture:
        job = item.job
        src = f"{job.model}/{job.layer}/img/{job.filter}-{job.setting_name}.png"
        destination = self.root / src
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.result.png, destination)
        shape = self.models[job.model].network.inputs[0].shape[1:3]
        width, height = display_size((int(shape[0]), int(shape[1])), target_px)
        caption = self.models[job.model].caption(job.layer, job.filter)
        alt = f"{job.model} {job.layer} {caption}, setting {job.setting_name}"
        return Picture(src, width, height, alt)

    def write(self) -> int:
        (self.root / ".nojekyll").write_text("")
        shutil.copytree(templates_dir() / "static", self.root / "static")
        settings = self.config.config.settings
        for model_id, model in self.models.items():
            targets = [t for t in self.plan.targets if t.model == model_id]
            for target in targets:
                self.write_target(model, target, settings)
            self.page(f"{model_id}/index.html", "model.html", model=model, targets=targets,
                      training_chart=loss_chart(model.history, width=440, x_label="epoch"),
                      layers=model.layers(), rendered={t.layer: len(t.filters) for t in targets},
                      breadcrumbs=[(model_id, None)])
        summaries = [self.model_summary(model) for model in self.models.values()]
        self.page("index.html", "index.html", summaries=summaries, breadcrumbs=[])
        return self.pages

    def model_summary(self, model: LoadedModel) -> dict[str, Any]:
        targets = [t for t in self.plan.targets if t.model == model.id]
        return {
            "model": model,
            "targets": targets,
            "images": sum(len(self.items_by_target[(model.id, t.layer)]) for t in targets),
            "params": model.network.count_params(),
        }

    def write_target(self, model: LoadedModel, target: Target, settings: dict[str, Setting]) -> None:
        items = self.items_by_target[(target.model, target.layer)]
        grid = {(i.job.filter, i.job.setting_name): (i, self.picture(i, GRID_PX)) for i in items}
        base = f"{target.model}/{target.layer}"
        crumbs = [(target.model, "../index.html"), (target.layer, None)]
        used = {name: settings[name] for name in target.settings}
        captions = {f: model.caption(target.layer, f) for f in target.filters}
        self.page(f"{base}/index.html", "layer.html", model=model, target=target, grid=grid,
                  captions=captions, settings=used, fields=SETTING_FIELDS, breadcrumbs=crumbs)
        self.page(f"{base}/compare.html", "compare.html", model=model, target=target, grid=grid,
                  captions=captions, settings=used, fields=SETTING_FIELDS,
                  breadcrumbs=[(target.model, "../index.html"), (target.layer, "index.html"), ("compare", None)])
        for position, filter_index in enumerate(target.filters):
            neighbours = (target.filters[position - 1] if position else None,
                          target.filters[position + 1] if position + 1 < len(target.filters) else None)
            views = [(grid[(filter_index, name)][0], self.picture(grid[(filter_index, name)][0], DETAIL_PX),
                      loss_chart(grid[(filter_index, name)][0].result.meta["losses"]))
                     for name in target.settings]
            self.page(f"{base}/filter-{filter_index}.html", "filter.html", model=model, target=target,
                      filter=filter_index, views=views, settings=used, fields=SETTING_FIELDS,
                      neighbours=neighbours, captions=captions,
                      breadcrumbs=[(target.model, "../index.html"), (target.layer, "index.html"),
                                   (captions[filter_index], None)])


def write(out: Path, config: LoadedConfig, models: dict[str, LoadedModel], plan: Plan, items: list[Item]) -> int:
    """Write the whole site into a temporary folder beside `out`, then swap it in."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        pages = SiteWriter(staging, config, models, plan, items).write()
        retired = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            os.replace(out, retired)
        os.replace(staging, out)
        shutil.rmtree(retired, ignore_errors=True)
        return pages
    finally:
        shutil.rmtree(staging, ignore_errors=True)
