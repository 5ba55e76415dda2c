"""The inline charts: round tick values that span the data, points inside the plot box, a log axis for
wide sweeps, and no chart at all where there is nothing to draw."""

from __future__ import annotations

import math
import re

import pytest

from gallery.results import Faithfulness, FeatureLayer
from gallery.site import charts


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (0.013, 0.97), (-3.2, 41.0), (1200.0, 98000.0), (5.0, 5.0)])
def test_ticks_are_round_and_inside_the_range(low: float, high: float) -> None:
    values = charts.ticks(low, high)
    assert values and all(low - 1e-9 <= v <= high + 1e-9 for v in values)
    if high > low:
        steps = {round(b - a, 9) for a, b in zip(values, values[1:])}
        assert len(steps) == 1  # evenly spaced
        step = steps.pop()
        assert round(step / 10 ** math.floor(math.log10(step)), 9) in (1, 2, 5)  # 1, 2 or 5 times a power of ten
        assert 2 <= len(values) <= 8


def points(svg: str) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for line in re.findall(r'points="([^"]+)"', svg)
            for pair in line.split()]


def test_line_chart_draws_every_point_inside_its_frame() -> None:
    svg = charts.line_chart({"loss": [(0, 3.0), (1, 2.0), (2, 0.5)], "val_loss": [(0, 2.5), (2, 1.0)]}, "epoch")
    frame = re.search(r'<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)" class="frame"', svg)
    x0, y0, w, h = map(int, frame.groups())
    drawn = points(svg)
    assert len(drawn) == 5
    assert all(x0 - 0.05 <= x <= x0 + w + 0.05 and y0 - 0.05 <= y <= y0 + h + 0.05 for x, y in drawn)
    # the highest loss is at the top of the frame and the lowest at its bottom
    assert min(y for _, y in drawn) == pytest.approx(y0, abs=0.05)
    assert max(y for _, y in drawn) == pytest.approx(y0 + h, abs=0.05)
    assert ">loss</text>" in svg and ">val_loss</text>" in svg  # a legend entry each


def test_line_chart_is_empty_without_points_and_marks_a_single_point() -> None:
    assert charts.line_chart({"loss": []}, "step") == ""
    assert "<circle" in charts.line_chart({"loss": [(0, 1.0)]}, "step")


def test_sweep_chart_uses_a_log_axis_for_a_wide_sweep() -> None:
    wide = charts.sweep_chart("tv", {"activation": [(0.01, 1.0), (0.1, 2.0), (1.0, 3.0), (10.0, 2.5)]})
    assert "(log scale)" in wide
    xs = [x for x, _ in points(wide)]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.2)  # decades evenly apart
    narrow = charts.sweep_chart("jitter", {"activation": [(2.0, 1.0), (4.0, 2.0), (8.0, 3.0)]})
    assert "(log scale)" not in narrow


def layer(name: str, dead: int, channels: int = 8) -> FeatureLayer:
    return FeatureLayer(name=name, type="Conv2D", channels=channels, dead=dead, dead_share=dead / channels,
                        png="0.png", dead_channels=list(range(dead)), per_row=8, width=10, height=10)


def test_dead_chart_bars_follow_the_dead_share() -> None:
    assert charts.dead_chart([layer("a", 0), layer("b", 0)]) == ""
    svg = charts.dead_chart([layer("a", 0), layer("b", 4), layer("c", 8)])
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" style="fill:#d9480f"', svg)]
    assert heights[0] == 0 and heights[2] == pytest.approx(2 * heights[1], abs=0.1) and heights[2] > 0
    assert "<title>c: 100% dead</title>" in svg


def test_training_charts_put_loss_and_accuracy_on_their_own_axes() -> None:
    drawn = charts.training_charts({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.6, 0.9]})
    assert len(drawn) == 2
    assert 'aria-label="loss by epoch"' in drawn[0] and 'aria-label="accuracy by epoch"' in drawn[1]
    assert charts.training_charts({}) == []


def test_the_faithfulness_chart_shows_its_whole_legend_and_distinct_ticks() -> None:
    flat = [0.3441 + 0.0001 * step for step in range(17)]  # a range of 0.0016: .3g would repeat 0.344
    mine = Faithfulness(0.3, 0.3, flat, flat)
    chart = charts.faithfulness_chart(mine, mine)
    width, height = (float(v) for v in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', chart).groups())
    legend = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" style="fill:[^"]+">([^<]+)</text>', chart)
    assert [name for _, _, name in legend] == ["deletion", "insertion", "random deletion", "random insertion"]
    for x, y, name in legend:  # each inside the drawing, with room for its text (about 6 px a letter)
        assert float(x) + 5.5 * len(name) <= width + 20 and float(y) <= height
    y_ticks = re.findall(r'text-anchor="end">([^<]+)</text>', chart)
    assert len(y_ticks) >= 2 and len(set(y_ticks)) == len(y_ticks)
