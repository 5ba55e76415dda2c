"""Where the templates are, the one Jinja2 environment, and how big a picture is drawn.

Shared by the site, figures and reports; like the rest of gallery.site it needs no TensorFlow, so
`gallery report` and `gallery figure` start in a second.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import jinja2
import matplotlib
import numpy as np

from gallery.methods import label
from gallery.pixels import channels_shown


def templates_dir() -> Path:
    """Inside an installed wheel the templates sit in the package; in a checkout, beside it."""
    packaged = Path(__file__).parent.parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent.parent / "templates"


def number(value: float | None, spec: str = ".4g") -> str:
    """A number as a reader sees it; "n/a" where there is none (a network that gave NaN): never "nan"."""
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


@functools.cache
def environment() -> jinja2.Environment:
    """Autoescaped, and strict: a name a template uses but a page does not give is an error, not blank."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["number"] = number
    env.globals["channels_shown"] = channels_shown
    env.filters["method_label"] = label
    return env


def colormap_ramp(name: str, stops: int = 11) -> str:
    """A matplotlib colormap as a CSS gradient, 0 to 1 left to right: the colour bar of a heatmap."""
    colours = matplotlib.colormaps[name](np.linspace(0, 1, stops), bytes=True)[:, :3]
    return "linear-gradient(to right, " + ", ".join(f"rgb({r}, {g}, {b})" for r, g, b in colours) + ")"


def display_size(shape: tuple[int, int], target: int, panels: int = 1) -> tuple[int, int]:
    """Small inputs scale up by a whole factor (crisp nearest-neighbour pixels); large ones down.

    `shape` is one panel's; a strip of `panels` side by side (a diversity setting) keeps each panel
    at the size a single image would get.
    """
    height, width = shape
    scale = max(1, target // max(height, width)) if max(height, width) <= target else target / max(height, width)
    return round(width * panels * scale), round(height * scale)
