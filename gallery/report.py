"""A one-file report of one model, to attach to an email or a course submission.

The HTML file holds everything: its CSS in a <style>, every image as a data: URI, no script. It
opens offline, from any folder, and makes no request at all. It summarises the model (accuracy,
parameters, architecture), shows a row of activation-maximization pictures per visualized layer,
feature maps and attribution examples.

Like a figure (gallery.figure, whose Atlas it shares), a report is made from a built site, so it
shows the site's own pictures and loads no model. Pictures are inlined as the site stores
them (grid thumbnails); only large ones (feature-map grids, ImageNet-size overlays) are shrunk
first, which keeps a report of a few layers within a few megabytes.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from gallery.config import Setting
from gallery.errors import GalleryError, unknown
from gallery.figure import Atlas, label
from gallery.files import VERSIONED, Output, ours, output_path, write_bytes
from gallery.methods import label as label_of
from gallery.site.layout import display_size, environment

# Largest side of each kind of picture. The CSS shows pictures, inputs and overlays at one height,
# so their limit only caps the file; a feature-map grid is shown at its own size.
TILE_PX = 480  # a grid thumbnail (a diversity strip is several pictures side by side)
FEATURE_GRID_PX = 720
CELL_PX = 240  # inputs and attribution overlays
FEATURE_GRIDS = 2  # grids per feature view: the first and the last layer, shallow against deep


@dataclass(frozen=True)
class InlineImage:
    """A PNG as the report embeds it: a data: URI and the size it is shown at."""

    src: str
    width: int
    height: int
    alt: str


@dataclass(frozen=True)
class InlineTile:
    """One activation-maximization picture with its caption and how strongly it drives its unit."""

    image: InlineImage
    label: str
    ratio: float | None
    status: str


@dataclass(frozen=True)
class LayerRow:
    """The first pictures of one visualized layer under the setting the report shows it under."""

    layer: dict[str, Any]  # the layer's entry in the model's architecture
    setting: str
    parameters: dict[str, Any]
    tiles: list[InlineTile]
    total: int  # pictures of the layer under the setting


def inline_png(path: Path, alt: str, max_px: int) -> InlineImage:
    """The file's own bytes when it is a PNG within `max_px`, else a shrunk PNG copy; shown at most `max_px`."""
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG" or max(image.size) > max_px:
                picture = image.convert("L" if image.mode == "L" else "RGB")
                picture.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
                buffer = io.BytesIO()
                picture.save(buffer, format="PNG", optimize=True)
                data = buffer.getvalue()
                width, height = picture.size
            else:
                width, height = image.size
    except OSError as exc:
        raise GalleryError(f"{path}: not a readable image ({exc}): run `gallery build` again") from None
    return InlineImage(f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}",
                       *display_size((height, width), max_px), alt)


def _layer_row(atlas: Atlas, model_id: str, layer: dict[str, Any], per_layer: int, wanted: str | None) -> LayerRow:
    """`wanted` where the layer was rendered under it, else the setting the site shows the layer under first."""
    known = atlas.settings(model_id, layer["name"])
    setting = wanted if wanted in known else atlas.readable(model_id, layer["name"])
    items = atlas.items(model_id, layer["name"], setting)
    tiles = [InlineTile(inline_png(atlas.file(item["thumbnail"]), f"{model_id} {layer['name']} {label(item)}", TILE_PX),
                  label(item), item["ratio"], item["status"])
             for item in items[:per_layer]]
    return LayerRow(layer, setting, changed_from_default(items[0]["parameters"]), tiles, len(items))


def changed_from_default(parameters: dict[str, Any]) -> dict[str, Any]:
    """The setting's keys that differ from keras-vis's recipe: all a reader needs to redo it."""
    default = Setting().model_dump(mode="json")
    return {key: value for key, value in parameters.items() if key in default and value != default[key]}


def _feature_view(atlas: Atlas, view: dict[str, Any]) -> dict[str, Any]:
    layers = view["layers"]
    shown = layers if len(layers) <= FEATURE_GRIDS else [layers[0], layers[-1]]
    grids = [(layer, inline_png(atlas.file(layer["grid"]), f"{layer['name']}: {layer['channels']} feature maps",
                                FEATURE_GRID_PX)) for layer in shown]
    return {**view, "input": inline_png(atlas.file(view["input"]), view["image"], CELL_PX), "grids": grids}


def _overlay(atlas: Atlas, entry: dict[str, Any], method: str) -> InlineImage | None:
    """One cell of the attribution table; None where the method found no positive evidence."""
    cell = entry["cells"][method]
    if cell["empty"]:
        return None
    return inline_png(atlas.file(cell["overlay"]), f"{label_of(method)} for {entry['caption']}", CELL_PX)


def _attribution_view(atlas: Atlas, view: dict[str, Any]) -> dict[str, Any]:
    rows = [(entry, [_overlay(atlas, entry, method) for method in view["methods"]]) for entry in view["classes"]]
    return {**view, "input": inline_png(atlas.file(view["input"]), view["image"], CELL_PX), "rows": rows}


def write_report(site: Path, model: str | None = None, out: Output = None, per_layer: int = 8,
                 setting: str | None = None) -> Path:
    """Write one self-contained HTML report of `model` (None: the site's only model) from a built site.

    Each layer shows under `setting` where it was rendered under it, else under the setting the site
    shows it under first. `out` defaults to MODEL-report.html in the current folder (in `out`, where it
    is a folder); returns it.
    """
    atlas = Atlas(site)
    entry = atlas.model(model)
    out = output_path(out, f"{entry['id']}-report.html")
    ours(out, rb'<meta name="generator" content="' + VERSIONED + rb'">')
    model_id = entry["id"]
    visualized = atlas.layers(model_id)
    if setting is not None:
        known = list(dict.fromkeys(name for layer in visualized for name in atlas.settings(model_id, layer)))
        if setting not in known:
            raise GalleryError(f"{atlas.path}: model '{model_id}': {unknown('setting', setting, known)}")
    rows = [_layer_row(atlas, model_id, layer, per_layer, setting)
            for layer in entry["layers"] if layer["name"] in visualized]
    html = environment().get_template("report.html").render(
        atlas=atlas.data, model=entry, rows=rows, rendered={row.layer["name"]: row.total for row in rows},
        features=[_feature_view(atlas, view) for view in atlas.views(model_id, "features")],
        attributions=[_attribution_view(atlas, view) for view in atlas.views(model_id, "attribution")],
    )
    write_bytes(out, html.encode("utf-8"))  # whole or not at all: a reader never meets half a report
    return out
