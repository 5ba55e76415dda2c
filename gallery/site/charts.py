"""Small inline SVG charts with axes: loss curves per step, training curves per epoch, a settings
sweep, dead channels by depth, and an attribution map's deletion and insertion curves.

Written by hand: a plotting library would add a font and a stylesheet per chart for a few lines
of markup, and the site must stay small and work offline.
"""

from __future__ import annotations

import math

from markupsafe import escape as html_escape

from gallery.plan import count
from gallery.results import Faithfulness, FeatureLayer, Item

# Fixed colours for the series every chart has; any other series (a new image prior) takes the
# next free colour of PALETTE, in the order the engine records them.
SERIES_COLORS = {"activation": "#d9480f", "total": "#495057", "loss": "#d9480f", "val_loss": "#f08c00",
                 "accuracy": "#1c7ed6", "val_accuracy": "#2b8a3e", "ratio": "#1c7ed6",
                 "deletion": "#c92a2a", "insertion": "#2b8a3e", "random deletion": "#ffa8a8",
                 "random insertion": "#8ce99a"}
PALETTE = ("#1c7ed6", "#2b8a3e", "#ae3ec9", "#f08c00", "#0c8599", "#862e9c")


def colors(names: list[str]) -> dict[str, str]:
    free = iter(PALETTE)
    return {name: SERIES_COLORS.get(name) or next(free, "#868e96") for name in names}


def ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) from `low` to `high`: an axis's labels."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(value: float, digits: int = 3) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 and value == round(value) else f"{value:.{digits}g}"


def _labels(values: list[float]) -> list[str]:
    """Tick labels with as few significant digits as keep neighbours apart (0.3441 and 0.3446, not 0.344 twice)."""
    for digits in range(3, 10):
        labels = [_label(value, digits) for value in values]
        if len(set(labels)) == len(labels):
            return labels
    return labels


LEGEND_ENTRY_PX = 92  # the room one legend entry takes; entries wrap onto more lines in a narrow chart


def line_chart(series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str = "", width: int = 360,
               height: int = 170, mark: float | None = None, log_x: bool = False) -> str:
    """Named series of (x, y) points as one SVG: a polyline each, ticked axes, a legend; `mark`: an x to
    draw a dashed vertical line at. Empty ("") when no series has a point."""
    series = {name: points for name, points in series.items() if points}
    if not series:
        return ""
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    scale_x = (lambda x: math.log10(x)) if log_x and min(xs) > 0 else (lambda x: x)
    x_low, x_high = scale_x(min(xs)), scale_x(max(xs))
    y_low, y_high = min(ys), max(ys)
    x_span, y_span = (x_high - x_low) or 1.0, (y_high - y_low) or 1.0
    left, top, plot_w, plot_h = 56, 8, width - 66, height - 52

    def at(x: float, y: float) -> tuple[float, float]:
        return left + plot_w * (scale_x(x) - x_low) / x_span, top + plot_h * (y_high - y) / y_span

    per_row = max(1, (width - left) // LEGEND_ENTRY_PX)
    legend_lines = math.ceil(len(series) / per_row)
    total_height = height + 12 * (legend_lines - 1)
    parts = [(f'<svg class="chart" viewBox="0 0 {width} {total_height}" width="{width}" height="{total_height}" '
              f'role="img" aria-label="{html_escape(y_label or ", ".join(series))} by {html_escape(x_label)}">'),
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>']
    y_ticks = ticks(y_low, y_high)
    for value, text in zip(y_ticks, _labels(y_ticks)):
        y = at(min(xs), value)[1]
        parts.append(f'<line x1="{left - 3}" x2="{left}" y1="{y:.1f}" y2="{y:.1f}" class="tick"/>'
                     f'<text x="{left - 5}" y="{y + 3:.1f}" text-anchor="end">{text}</text>')
    x_ticks = ([10 ** power for power in range(math.ceil(x_low), math.floor(x_high) + 1)] if log_x and min(xs) > 0
               else ticks(min(xs), max(xs)))
    for value, text in zip(x_ticks, _labels(x_ticks)):
        x = at(value, y_low)[0]
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 3}" class="tick"/>'
                     f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{text}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 27}" text-anchor="middle">'
                 f'{html_escape(x_label)}{" (log scale)" if log_x else ""}</text>')
    if mark is not None:
        x = at(mark, y_low)[0]
        parts.append(f'<line class="stage" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#868e96" '
                     f'stroke-dasharray="3 3"><title>second stage from {x_label} {mark:g}</title></line>')
    palette = colors(list(series))
    for index, (name, points) in enumerate(series.items()):
        coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(px, py) for px, py in points))
        parts.append(f'<polyline fill="none" stroke="{palette[name]}" stroke-width="1.5" points="{coordinates}"/>')
        if len(points) == 1:
            x, y = at(*points[0])
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" style="fill:{palette[name]}"/>')
        line, place = divmod(index, per_row)
        parts.append(f'<text x="{left + place * LEGEND_ENTRY_PX}" y="{height - 4 + 12 * line}" '
                     f'style="fill:{palette[name]}">{html_escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def steps(values: list[float | None]) -> list[tuple[float, float]]:
    """Per-step values as points (steps without a number left out)."""
    return [(float(i), float(v)) for i, v in enumerate(values) if v is not None]


def loss_chart(losses: dict[str, list[float | None]], mark: int | None = None) -> str:
    """A result's weighted losses per step, each named series a line (a series that is 0 throughout, none)."""
    return line_chart({name: steps(values) for name, values in losses.items() if any(values)}, "step", "loss",
                      mark=mark)


def result_chart(item: Item) -> str:
    """A result's losses per step; a retried result's second stage starts at a marked line."""
    losses = item.result.meta.losses
    return loss_chart(losses, mark=len(losses["total"]) // 2 if item.retried_because else None)


def training_charts(history: dict[str, list[float]]) -> list[str]:
    """Loss and accuracy per epoch, each on its own axis (their scales have nothing in common)."""
    charts = []
    for kind in ("loss", "accuracy"):
        chosen = {name: [(float(epoch), value) for epoch, value in enumerate(values, start=1)]
                  for name, values in history.items() if name.removeprefix("val_") == kind}
        charts.append(line_chart(chosen, "epoch", kind, width=420))
    return [chart for chart in charts if chart]


def sweep_chart(key: str, points: dict[str, list[tuple[float, float]]]) -> str:
    """Per value of the one key a settings comparison sweeps, the median activation and median ratio
    of its pictures: where the pictures start to change, and where the regularizer wins."""
    xs = [x for values in points.values() for x, _ in values]
    log = bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 20
    return "".join(line_chart({name: values}, key, name, width=340, log_x=log) for name, values in points.items())


def dead_chart(layers: list[FeatureLayer], width: int = 360, height: int = 150) -> str:
    """Each layer's share of dead channels as a bar, input to output: where a network goes quiet. Empty
    ("") when no layer has a dead channel: an empty box says nothing."""
    if not any(layer.dead for layer in layers):
        return ""
    left, top, plot_w, plot_h = 40, 8, width - 48, height - 40
    step = plot_w / max(len(layers), 1)
    parts = [(f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
              f'role="img" aria-label="dead channel share by depth">'),
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>']
    for share in (0, 0.5, 1):
        y = top + plot_h * (1 - share)
        parts.append(f'<line x1="{left - 3}" x2="{left}" y1="{y:.1f}" y2="{y:.1f}" class="tick"/>'
                     f'<text x="{left - 5}" y="{y + 3:.1f}" text-anchor="end">{100 * share:.0f}%</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h + 26}" text-anchor="middle">'
                 f'depth: {count(len(layers), "layer")}, input to output</text>')
    for index, layer in enumerate(layers):
        bar_h = plot_h * layer.dead_share
        parts.append(f'<rect x="{left + index * step + step * 0.15:.1f}" y="{top + plot_h - bar_h:.1f}" '
                     f'width="{step * 0.7:.1f}" height="{bar_h:.1f}" style="fill:#d9480f">'
                     f'<title>{html_escape(layer.name)}: {100 * layer.dead_share:.0f}% dead</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def faithfulness_chart(mine: Faithfulness, random: Faithfulness) -> str:
    """Deletion and insertion of a map against a random order's: the class probability as the share
    of pixels moved grows."""
    def points(curve: list[float | None]) -> list[tuple[float, float]]:
        return [(step / (len(curve) - 1), value) for step, value in enumerate(curve) if value is not None]

    return line_chart({"deletion": points(mine.deletion_curve), "insertion": points(mine.insertion_curve),
                       "random deletion": points(random.deletion_curve),
                       "random insertion": points(random.insertion_curve)},
                      "share of pixels moved", "probability", width=240, height=150)
