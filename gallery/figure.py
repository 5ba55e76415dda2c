"""Print figures: one layer's pictures as a labelled grid, or one comparison page as a table with
its column headings and row labels, as PNG at print resolution and as SVG.

The site shows its grids in HTML; a paper, a slide or a course submission needs one file with the
labels drawn into it, which the 2018 report made with stitch_images and draw_text. matplotlib
draws the grid once for both formats: the PNG at print resolution, the SVG with every picture
embedded as base64 (so it stands alone) and its labels kept as text (searchable and editable).

Figures, like reports (gallery.report, which shares the atlas reading below), are made from a
built site: atlas.json and the PNGs it names. They show exactly the pictures the site shows and
need no model, so no TensorFlow.
"""

from __future__ import annotations

import io
import json
import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from pydantic import BaseModel, ConfigDict, ValidationError

from gallery import __version__
from gallery.errors import GalleryError, unknown
from gallery.files import VERSIONED, Output, ours, output_path, write_bytes

CELL_IN = 1.0  # the shorter side of each picture, in inches
GAP_IN = 0.12  # between pictures, and below each label
LABEL_PT = 8
TITLE_PT = 10
LINE_IN = LABEL_PT / 72 * 1.3
IMAGE_FORMATS = ("png", "svg")


def _unknown(kind: str, name: str, known: list[str], where: str) -> GalleryError:
    return GalleryError(f"{where}: {unknown(kind, name, known)}")


def _ranges(numbers: list[int]) -> list[str]:
    """[0, 1, 2, 5] -> ["0-2", "5"]: a layer's 512 filters fit in a one-line error."""
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return [f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Layer(_Loose):
    name: str


class _Model(_Loose):
    id: str
    layers: list[_Layer]


class _Item(_Loose):
    model: str
    layer: str
    setting: str
    filter: int
    objective: str
    caption: str
    image: str
    thumbnail: str


class _Cell(_Loose):
    image: str | None  # None: an attribution method that found no positive evidence
    caption: str


class _Row(_Loose):
    label: str
    cells: list[_Cell]


class _Column(_Loose):
    label: str
    span: int


class _Comparison(_Loose):
    id: str
    title: str
    columns: list[_Column]
    rows: list[_Row]


class _Shape(_Loose):
    """What figures and reports read of an atlas.json, checked once so a foreign file is one line."""

    models: list[_Model]
    items: list[_Item]
    views: list[dict[str, Any]]
    comparisons: list[_Comparison] = []


class Atlas:
    """A built site: its atlas.json and the folder every path in it is relative to."""

    def __init__(self, site: Path):
        self.root = site
        self.path = site / "atlas.json"
        if site.exists() and not site.is_dir():
            raise GalleryError(f"{site}: a file, not a site folder: name the folder `gallery build` wrote")
        if not self.path.is_file():
            raise GalleryError(f"{self.path} not found: run `gallery build` first (or name the site folder)")
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
            _Shape.model_validate(self.data)
        except ValidationError as exc:
            where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "(top level)"
            raise GalleryError(f"{self.path}: not an atlas.json that gallery wrote ({where}: "
                               f"{exc.errors()[0]['msg']}): run `gallery build` again") from None
        except (OSError, ValueError) as exc:
            raise GalleryError(f"{self.path}: cannot read it ({exc}): run `gallery build` again") from None

    def model(self, model_id: str | None) -> dict[str, Any]:
        """The model's entry; None picks the only model and fails where there are several."""
        models = {model["id"]: model for model in self.data["models"]}
        if model_id is None and len(models) == 1:
            return next(iter(models.values()))
        if model_id is None:
            raise GalleryError(f"{self.path}: {len(models)} models, name one of: {', '.join(models)}")
        if model_id not in models:
            raise _unknown("model", model_id, list(models), str(self.path))
        return models[model_id]

    def layers(self, model_id: str) -> list[str]:
        """The model's visualized layers, input to output."""
        visualized = {item["layer"] for item in self.data["items"] if item["model"] == model_id}
        return [layer["name"] for layer in self.model(model_id)["layers"] if layer["name"] in visualized]

    def settings(self, model_id: str, layer: str) -> list[str]:
        """The settings a visualized layer was rendered with, in the site's order."""
        known = self.layers(model_id)
        if layer not in known:
            raise _unknown("visualized layer", layer, known, f"{self.path}: model '{model_id}'")
        names = (item["setting"] for item in self.data["items"] if (item["model"], item["layer"]) == (model_id, layer))
        return list(dict.fromkeys(names))

    def readable(self, model_id: str, layer: str) -> str:
        """The setting the site shows a layer under first (its readable one); the first for an older site."""
        return self.model(model_id).get("readable", {}).get(layer) or self.settings(model_id, layer)[0]

    def comparison(self, comparison_id: str) -> dict[str, Any]:
        """A comparison page's table, by the id its URL shows (tv-sweep for compare/tv-sweep.html,
        mnist/preds/compare for a layer's settings page)."""
        found = {entry["id"]: entry for entry in self.data.get("comparisons", [])}
        if comparison_id not in found:
            raise _unknown("comparison", comparison_id, list(found), str(self.path))
        return found[comparison_id]

    def items(self, model_id: str, layer: str, setting: str) -> list[dict[str, Any]]:
        """The layer's pictures under one setting, by filter."""
        known = self.settings(model_id, layer)
        if setting not in known:
            raise _unknown("setting", setting, known, f"{self.path}: {model_id} / {layer}")
        chosen = [item for item in self.data["items"]
                  if (item["model"], item["layer"], item["setting"]) == (model_id, layer, setting)]
        return sorted(chosen, key=lambda item: item["filter"])

    def views(self, model_id: str, kind: str) -> list[dict[str, Any]]:
        return [view for view in self.data["views"] if view["model"] == model_id and view["kind"] == kind]

    def file(self, relative: str) -> Path:
        """A file the atlas names; missing means the site is incomplete, not that the picture is optional.
        A path that leads out of the site folder is refused: a report must not inline other files."""
        path = self.root / relative
        if self.root.resolve() not in path.resolve().parents:
            raise GalleryError(f"{self.path}: names {relative}, outside the site folder: run `gallery build` again")
        if not path.is_file():
            raise GalleryError(f"{path} is missing: the site is incomplete, run `gallery build` again")
        return path


def label(item: dict[str, Any]) -> str:
    """A picture's caption: "Filter 12" for a channel; "Unit 3: digit 3" for a named unit, else "Unit 3"."""
    if item["objective"] == "channel":
        return f"Filter {item['filter']}"
    name = item["caption"].removeprefix(f"{item['filter']} ")
    return f"Unit {item['filter']}" if name == str(item["filter"]) else f"Unit {item['filter']}: {name}"


def _pixels(path: Path) -> np.ndarray:
    """RGB pixels: a grayscale picture becomes three equal channels, so it is shown gray, unchanged."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _box(pictures: list[np.ndarray]) -> tuple[float, float]:
    """Inches of the one box every picture of a figure is drawn in: the largest picture's proportions."""
    height = max((p.shape[0] for p in pictures), default=1)
    width = max((p.shape[1] for p in pictures), default=1)
    return CELL_IN * max(width / height, 1), CELL_IN * max(height / width, 1)


def draw_grid(texts: list[str], pictures: list[np.ndarray], columns: int, title: str | None) -> Figure:
    """Pictures in rows of `columns`, each in the same box (the largest picture's proportions), its text below."""
    cell_w, cell_h = _box(pictures)
    chars = max(8, int(cell_w * 72 / (LABEL_PT * 0.6)))
    labels = [textwrap.fill(text, chars) for text in texts]
    row_h = cell_h + max(text.count("\n") + 1 for text in labels) * LINE_IN + GAP_IN
    title_h = TITLE_PT / 72 * 2 if title else 0.0
    rows = math.ceil(len(pictures) / columns)
    fig_w = columns * cell_w + (columns - 1) * GAP_IN
    fig_h = title_h + rows * row_h
    figure = Figure(figsize=(fig_w, fig_h))
    if title:
        figure.text(0, 1, title, ha="left", va="top", fontsize=TITLE_PT, fontweight="bold")
    for position, (pixels, text) in enumerate(zip(pictures, labels)):
        row, column = divmod(position, columns)
        left = column * (cell_w + GAP_IN)
        top = title_h + row * row_h
        axes = figure.add_axes((left / fig_w, 1 - (top + cell_h) / fig_h, cell_w / fig_w, cell_h / fig_h))
        # "none": the SVG embeds the picture's own pixels, drawn pixelated; the PNG resamples to nearest.
        axes.imshow(pixels, interpolation="none")
        axes.set_axis_off()
        figure.text((left + cell_w / 2) / fig_w, 1 - (top + cell_h + GAP_IN / 3) / fig_h, text,
                    ha="center", va="top", fontsize=LABEL_PT, multialignment="center")
    return figure


def write_figure(site: Path, model: str, layer: str, setting: str | None = None, out: Output = None,
                 columns: int | None = None, filters: list[int] | None = None, dpi: int = 300,
                 title: bool = True) -> tuple[Path, Path]:
    """Write `out`.png and `out`.svg: the layer's pictures under `setting` (default: the one the site
    shows it under first) as a labelled grid; `filters` picks some, in that order; returns both paths.

    `out` defaults to MODEL-LAYER-SETTING in the current folder (in `out`, where it is a folder); a .png
    or .svg ending is dropped.
    """
    atlas = Atlas(site)
    setting = setting or atlas.readable(model, layer)
    items = atlas.items(model, layer, setting)
    if filters:
        by_filter = {item["filter"]: item for item in items}
        missing = [f for f in filters if f not in by_filter]
        if missing:
            raise _unknown("filter", str(missing[0]), _ranges(list(by_filter)),
                           f"{atlas.path}: {model} / {layer} · {setting}")
        items = [by_filter[f] for f in filters]
    pictures = [_pixels(atlas.file(item["image"])) for item in items]
    aspect = pictures[0].shape[1] / pictures[0].shape[0]
    columns = min(columns or math.ceil(math.sqrt(len(items) / aspect)), len(items))
    figure = draw_grid([label(item) for item in items], pictures, columns,
                       f"{model} / {layer} · {setting}" if title else None)

    return save(figure, out, f"{model}-{layer}-{setting}".replace("/", "-"), dpi)  # a nested layer's path


WRITER = f"gallery {__version__}"  # the writer's name a figure carries: a rerun may replace it, nothing else
WRITER_MARKS = {"png": rb"tEXtSoftware\x00" + VERSIONED,
                "svg": rb"<dc:creator>\s*<cc:Agent>\s*<dc:title>" + VERSIONED + rb"</dc:title>"}


def save(figure: Figure, out: Output, default: str, dpi: int) -> tuple[Path, Path]:
    """`out`.png and `out`.svg (a .png or .svg ending of `out` is dropped; a folder, or None: `default`
    in it, or here), each written whole and renamed into place; returns both paths."""
    out = output_path(out, default)
    stem = out.with_suffix("") if out.suffix.lower() in (".png", ".svg") else out
    paths = tuple(stem.parent / f"{stem.name}.{kind}" for kind in IMAGE_FORMATS)
    for kind, path in zip(IMAGE_FORMATS, paths):
        ours(path, WRITER_MARKS[kind])
    # Text stays text in the SVG; a fixed hash salt and no date make a rebuilt figure byte-identical.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "gallery"}):
        for kind, path in zip(IMAGE_FORMATS, paths):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=kind, dpi=dpi, bbox_inches="tight", pad_inches=0.05,
                           metadata={"Date": None, "Creator": WRITER} if kind == "svg" else {"Software": WRITER})
            write_bytes(path, buffer.getvalue())
    return paths[0], paths[1]


Cell = tuple[np.ndarray | None, str]  # a table's picture (None: nothing to show) and the text under it


def draw_table(columns: list[tuple[str, int]], rows: list[tuple[str, list[Cell]]], title: str | None) -> Figure:
    """A comparison as a table: column headings (each over `span` pictures) on top, a label left of
    each row, every picture in the same box; a cell's text shows under it where it says more than its
    row and column do (a depth table's unit names), and an empty cell says so."""
    cell_w, cell_h = _box([pixels for _, cells in rows for pixels, _ in cells if pixels is not None])
    count = max(len(cells) for _, cells in rows)
    headings = {start: (text, span) for start, (text, span) in zip(
        np.cumsum([0] + [span for _, span in columns[:-1]]).tolist(), columns)}
    label_chars = 18
    row_labels = [textwrap.fill(label, label_chars) for label, _ in rows]
    label_w = min(max(len(line) for text in row_labels for line in text.split("\n")), label_chars) * LABEL_PT * 0.6 / 72
    chars = max(8, int(cell_w * 72 / (LABEL_PT * 0.6)))
    heading_lines = max((textwrap.fill(text, chars * span).count("\n") + 1 for text, span in columns), default=1)
    header_h = heading_lines * LINE_IN + GAP_IN
    column_texts = {index: text for start, (text, span) in headings.items() for index in range(start, start + span)}
    captioned = any(caption not in (label, column_texts.get(index)) for label, cells in rows
                    for index, (_, caption) in enumerate(cells))
    row_h = cell_h + (LINE_IN if captioned else 0) + GAP_IN
    title_h = TITLE_PT / 72 * 2 if title else 0.0
    fig_w = label_w + GAP_IN + count * cell_w + (count - 1) * GAP_IN
    fig_h = title_h + header_h + len(rows) * row_h
    figure = Figure(figsize=(fig_w, fig_h))
    if title:
        figure.text(0, 1, title, ha="left", va="top", fontsize=TITLE_PT, fontweight="bold")

    def left_of(index: int) -> float:
        return label_w + GAP_IN + index * (cell_w + GAP_IN)

    for start, (text, span) in headings.items():
        middle = (left_of(start) + left_of(start + span - 1) + cell_w) / 2
        figure.text(middle / fig_w, 1 - title_h / fig_h, textwrap.fill(text, chars * span), ha="center", va="top",
                    fontsize=LABEL_PT, fontweight="bold", multialignment="center")
    for position, ((label, cells), text) in enumerate(zip(rows, row_labels)):
        top = title_h + header_h + position * row_h
        figure.text(0, 1 - (top + cell_h / 2) / fig_h, text, ha="left", va="center", fontsize=LABEL_PT)
        for index, (pixels, caption) in enumerate(cells):
            left = left_of(index)
            axes = figure.add_axes((left / fig_w, 1 - (top + cell_h) / fig_h, cell_w / fig_w, cell_h / fig_h))
            axes.set_axis_off()
            if pixels is None:
                axes.text(0.5, 0.5, "no positive\nevidence", ha="center", va="center", fontsize=LABEL_PT - 1,
                          color="#868e96", transform=axes.transAxes)
                continue
            axes.imshow(pixels, interpolation="none")
            if captioned and caption not in (label, column_texts.get(index)):
                figure.text((left + cell_w / 2) / fig_w, 1 - (top + cell_h + GAP_IN / 3) / fig_h, caption,
                            ha="center", va="top", fontsize=LABEL_PT - 1)
    return figure


def write_comparison_figure(site: Path, comparison_id: str, out: Output = None, dpi: int = 300,
                            title: bool = True) -> tuple[Path, Path]:
    """Write `out`.png and `out`.svg: a comparison page's table as one figure (the report's TV sweep,
    a depth table, the same units of two models); `out` defaults to the id with / as - (in `out`, where
    it is a folder)."""
    atlas = Atlas(site)
    entry = atlas.comparison(comparison_id)
    rows = [(row["label"], [(None if cell["image"] is None else _pixels(atlas.file(cell["image"])), cell["caption"])
                            for cell in row["cells"]]) for row in entry["rows"]]
    if not rows:
        raise GalleryError(f"{atlas.path}: comparison '{comparison_id}' has no rows to draw")
    figure = draw_table([(column["label"], column["span"]) for column in entry["columns"]], rows,
                        entry["title"] if title else None)
    return save(figure, out, comparison_id.replace("/", "-"), dpi)
