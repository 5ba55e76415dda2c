"""Small inline SVG charts: loss curves per step (or epoch) and dead channels by depth.

Written by hand: a plotting library would add a font and a stylesheet per chart for a few lines
of markup, and the site must stay small and work offline.
"""

from __future__ import annotations

from markupsafe import escape as html_escape

from gallery.results import FeatureLayer, Item

# Fixed colours for the series every chart has; any other series (a new image prior) takes the
# next free colour of PALETTE, in the order the engine records them.
SERIES_COLORS = {"activation": "#d9480f", "total": "#495057", "loss": "#d9480f", "val_loss": "#f08c00",
                 "accuracy": "#1c7ed6", "val_accuracy": "#2b8a3e"}
PALETTE = ("#1c7ed6", "#2b8a3e", "#ae3ec9", "#f08c00", "#0c8599", "#862e9c")


def colors(names: list[str]) -> dict[str, str]:
    free = iter(PALETTE)
    return {name: SERIES_COLORS.get(name) or next(free, "#868e96") for name in names}


def result_chart(item: Item) -> str:
    """A result's losses per step; a retried result's second stage starts at a marked line."""
    losses = item.result.meta.losses
    second_stage = len(losses["total"]) // 2 if item.retried_because else None
    return loss_chart(losses, mark=second_stage)


def loss_chart(losses: dict[str, list[float | None]], width: int = 360, height: int = 150, x_label: str = "step",
               mark: int | None = None) -> str:
    """Named series over steps (or epochs) as one SVG with a polyline each and a legend; `mark`: a step
    to draw a vertical line at. Steps without a number (None) are left out of their line."""
    series = {name: [(i, v) for i, v in enumerate(values) if v is not None]
              for name, values in losses.items() if any(values)}
    series = {name: points for name, points in series.items() if points}
    if not series:
        return ""
    low = min(v for points in series.values() for _, v in points)
    high = max(v for points in series.values() for _, v in points)
    span = (high - low) or 1.0
    steps = max(len(v) for v in losses.values())
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
    palette = colors(list(losses))
    for index, (name, values) in enumerate(series.items()):
        points = " ".join(point(i, v) for i, v in values)
        parts.append(f'<polyline fill="none" stroke="{palette[name]}" stroke-width="1.5" points="{points}"/>')
        parts.append(f'<text x="{left + 4 + index * 80}" y="{height - 4}" style="fill:{palette[name]}">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def dead_chart(layers: list[FeatureLayer], width: int = 360, height: int = 140) -> str:
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
        bar_h = plot_h * layer.dead_share
        parts.append(f'<rect x="{left + index * step + step * 0.15:.1f}" y="{top + plot_h - bar_h:.1f}" '
                     f'width="{step * 0.7:.1f}" height="{bar_h:.1f}" style="fill:#d9480f">'
                     f'<title>{html_escape(layer.name)}: {100 * layer.dead_share:.0f}% dead</title></rect>')
    parts.append("</svg>")
    return "".join(parts)
