"""`gallery figure` and `gallery report` on a small fake site: real PNGs, an atlas.json as a build
writes it, no model and no TensorFlow build."""

from __future__ import annotations

import base64
import io
import json
import random
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gallery.errors import GalleryError
from gallery.figure import label, write_figure
from gallery.report import FEATURE_GRID_PX, write_report

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
CHANNELS = 4  # filters rendered on conv2d_1
UNITS = 3  # units rendered on preds


def brightness(index: int) -> int:
    """Filter k's fake picture is one flat gray, brighter with k, so a picture shows where it came from."""
    return 40 + 50 * index


def png(site: Path, relative: str, shape: tuple[int, ...], value: int = 128) -> str:
    path = site / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)
    return relative


def item(site: Path, layer: str, objective: str, index: int, caption: str, setting: str,
         shape: tuple[int, ...] = (28, 28)) -> dict[str, Any]:
    image = png(site, f"mnist/{layer}/img/{index}-{setting}.png", shape, brightness(index))
    return {"model": "mnist", "layer": layer, "objective": objective, "filter": index, "caption": caption,
            "setting": setting, "page": f"mnist/{layer}/filter-{index}.html", "image": image, "thumbnail": image,
            "parameters": {"steps": 64, "tv_weight": 0.001, "seed": None}, "activation": 2.0 + index,
            "reference": 1.0, "ratio": 2.0 + index, "flags": [],
            "status": "rising" if index == 1 else "converged"}


def model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "description": "The report's MNIST CNN", "data_source": "bundled digits",
            "test_accuracy": 0.972, "params": 1_199_882, "page": f"{model_id}/index.html",
            "layers": [{"name": "input", "type": "InputLayer", "output_shape": "(None, 28, 28, 1)", "params": 0,
                        "units": None},
                       {"name": "conv2d_1", "type": "Conv2D", "output_shape": "(None, 26, 26, 32)", "params": 320,
                        "units": 32},
                       {"name": "dense_1", "type": "Dense", "output_shape": "(None, 128)", "params": 1_179_776,
                        "units": 128},
                       {"name": "preds", "type": "Dense", "output_shape": "(None, 10)", "params": 1_290, "units": 10}]}


def fake_site(site: Path, base_url: str = "", models: tuple[str, ...] = ("mnist",)) -> Path:
    """conv2d_1: 4 channels under "default" and "diversity" (wide strips); preds: 3 named units;
    one feature view (its first grid wider than a report shows) and one attribution view with an empty cell."""
    items = [item(site, "conv2d_1", "channel", f, str(f), "default") for f in range(CHANNELS)]
    items += [item(site, "conv2d_1", "channel", f, str(f), "diversity", (28, 140)) for f in range(CHANNELS)]
    items += [item(site, "preds", "unit", u, f"{u} digit {u}", "default", (28, 28, 3)) for u in range(UNITS)]
    random.Random(0).shuffle(items)  # a build may list a layer's pictures in any order
    feature_layers = [{"name": name, "channels": 32, "dead": dead, "dead_share": dead / 32,
                       "grid": png(site, f"mnist/features/digit7/{n}.png", shape)}
                      for n, (name, dead, shape) in enumerate([("conv2d_1", 0, (200, 1000, 3)),
                                                               ("conv2d_2", 3, (100, 100, 3)),
                                                               ("dense_1", 8, (40, 100, 3))])]
    attribution = "mnist/attribution/digit7"
    classes = [{"index": index, "caption": f"digit {index}", "probability": probability,
                "cells": {method: {"overlay": png(site, f"{attribution}/{method}-{index}.png", (28, 28, 3)),
                                   "gray": f"{attribution}/{method}-{index}.gray.png",
                                   "raw": f"{attribution}/{method}-{index}.npy",
                                   "empty": (method, index) == ("gradcam", 1)}
                          for method in ("saliency", "gradcam")}}
               for index, probability in [(7, 0.99), (1, 0.004)]]
    atlas = {
        "title": "MNIST atlas", "generator": "gallery 0.1.0", "base_url": base_url,
        "models": [model(model_id) for model_id in models],
        "items": items,
        "views": [{"kind": "features", "model": "mnist", "image": "digit7", "page": "mnist/features/digit7.html",
                   "input": png(site, "mnist/features/digit7/input.png", (28, 28)), "layers": feature_layers},
                  {"kind": "attribution", "model": "mnist", "image": "digit7", "page": "mnist/attribution/digit7.html",
                   "input": png(site, f"{attribution}/input.png", (28, 28)), "target_layer": "conv2d_2",
                   "methods": ["saliency", "gradcam"], "classes": classes}],
        "comparisons": [{"kind": "settings", "title": "conv2d_1 settings", "page": "compare/conv2d_1.html"}],
    }
    (site / "atlas.json").write_text(json.dumps(atlas, indent=1), encoding="utf-8")
    return site


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    return fake_site(tmp_path / "site")


def svg_texts(svg: Path) -> list[str]:
    return ["".join(text.itertext()) for text in ET.parse(svg).getroot().iter(f"{SVG}text")]


def svg_images(svg: Path) -> list[Image.Image]:
    """The SVG's embedded pictures, decoded, in document (grid) order."""
    images = []
    for element in ET.parse(svg).getroot().iter(f"{SVG}image"):
        header, payload = element.attrib[XLINK].split(",", 1)
        assert header == "data:image/png;base64"
        images.append(Image.open(io.BytesIO(base64.b64decode(payload))))
    return images


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_figure_writes_a_labelled_grid_as_png_at_print_resolution_and_standalone_svg(site: Path,
                                                                                       tmp_path: Path) -> None:
    png_path, svg_path = write_figure(site, "mnist", "conv2d_1", out=tmp_path / "figures" / "conv.png")

    assert (png_path, svg_path) == (tmp_path / "figures" / "conv.png", tmp_path / "figures" / "conv.svg")
    with Image.open(png_path) as image:
        image.load()
        assert image.format == "PNG"
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    texts = svg_texts(svg_path)
    assert texts[0] == "mnist / conv2d_1 · default"  # the first setting the layer has
    assert [t for t in texts if t.startswith("Filter")] == [f"Filter {f}" for f in range(CHANNELS)]
    pictures = svg_images(svg_path)
    assert len(pictures) == CHANNELS
    # Each picture embedded at its own 28x28 pixels, gray, in filter order although atlas.json is shuffled.
    assert [p.size for p in pictures] == [(28, 28)] * CHANNELS
    for index, picture in enumerate(pictures):
        red, green, blue = np.asarray(picture.convert("RGB")).reshape(-1, 3).mean(axis=0)
        assert red == green == blue == pytest.approx(brightness(index), abs=1)
    assert "image-rendering:pixelated" in svg_path.read_text(encoding="utf-8")


def test_figure_is_the_same_file_when_written_again(site: Path, tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_figure(site, "mnist", "conv2d_1", out=tmp_path / "a")]
    second = [p.read_bytes() for p in write_figure(site, "mnist", "conv2d_1", out=tmp_path / "a")]
    assert first == second


def test_figure_shape_follows_columns_and_picture_shape(site: Path, tmp_path: Path) -> None:
    def aspect(**options: Any) -> float:
        width, height = png_size(write_figure(site, "mnist", "conv2d_1", out=tmp_path / "figure", title=False,
                                              dpi=72, **options)[0])
        return width / height

    assert 0.75 < aspect() < 1.3  # 4 square pictures: 2 x 2 by default
    assert aspect(columns=4) > 3
    assert aspect(columns=1) < 0.35
    assert aspect(columns=9) == pytest.approx(aspect(columns=4))  # never more columns than pictures
    assert 0.75 < aspect(setting="diversity") < 1.3  # 4 strips of 5:1 stacked in one column
    assert aspect(setting="diversity", columns=2) > 1.6
    assert [p.size for p in svg_images(tmp_path / "figure.svg")] == [(140, 28)] * CHANNELS


def test_figure_of_chosen_filters_and_units(site: Path, tmp_path: Path) -> None:
    _, svg_path = write_figure(site, "mnist", "conv2d_1", out=tmp_path / "pick", filters=[3, 1], title=False)
    assert svg_texts(svg_path) == ["Filter 3", "Filter 1"]
    assert len(svg_images(svg_path)) == 2

    _, svg_path = write_figure(site, "mnist", "preds", out=tmp_path / "units", columns=3)
    assert " ".join(svg_texts(svg_path)) == "mnist / preds · default Unit 0: digit 0 Unit 1: digit 1 Unit 2: digit 2"
    assert [p.size for p in svg_images(svg_path)] == [(28, 28)] * UNITS
    assert png_size(tmp_path / "units.png")[0] > png_size(tmp_path / "pick.png")[0]


@pytest.mark.parametrize(("objective", "caption", "expected"), [
    ("channel", "12", "Filter 12"),
    ("unit", "3", "Unit 3"),
    ("unit", "3 digit 3", "Unit 3: digit 3"),
    ("unit", "digit 3", "Unit 3: digit 3"),
])
def test_label_names_filters_and_units(objective: str, caption: str, expected: str) -> None:
    index = int(re.match(r"\d+", expected.split()[1]).group())
    assert label({"objective": objective, "filter": index, "caption": caption}) == expected


@pytest.mark.parametrize(("arguments", "message"), [
    ({"model": "cifar", "layer": "conv2d_1"}, "no model 'cifar'; known: mnist"),
    ({"model": "mnist", "layer": "conv2d_9"}, "no visualized layer 'conv2d_9'; known: conv2d_1, preds"),
    ({"model": "mnist", "layer": "dense_1"}, "no visualized layer 'dense_1'; known: conv2d_1, preds"),
    ({"model": "mnist", "layer": "conv2d_1", "setting": "clear"},
     "no setting 'clear'; known: default, diversity"),
    ({"model": "mnist", "layer": "conv2d_1", "filters": [1, 7]}, "no filter '7'; known: 0-3"),
])
def test_figure_names_what_the_site_has_when_asked_for_what_it_has_not(site: Path, tmp_path: Path,
                                                                       arguments: dict[str, Any],
                                                                       message: str) -> None:
    with pytest.raises(GalleryError, match=re.escape(message)):
        write_figure(site, out=tmp_path / "figure", **arguments)
    assert not list(tmp_path.glob("figure*"))


def test_figure_and_report_ask_for_a_build_without_a_site(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="atlas.json not found: run `gallery build` first"):
        write_figure(tmp_path / "site", "mnist", "conv2d_1")
    with pytest.raises(GalleryError, match="atlas.json not found: run `gallery build` first"):
        write_report(tmp_path / "site")


def test_missing_picture_is_an_error_not_a_hole(site: Path, tmp_path: Path) -> None:
    (site / "mnist/features/digit7/input.png").unlink()
    with pytest.raises(GalleryError, match="input.png is missing: the site is incomplete"):
        write_report(site, out=tmp_path / "report.html")


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of the whole page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, **equal: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in equal.items())]


def test_report_is_one_file_with_every_image_inlined(site: Path, tmp_path: Path) -> None:
    out = write_report(site, out=tmp_path / "mail" / "report.html")

    html = out.read_text(encoding="utf-8")
    page = Page(html)
    images = page.all("img")
    # 4 + 3 pictures, a feature input and 2 of its 3 grids, an attribution input and 3 of 4 overlays.
    assert len(images) == 4 + 3 + 1 + 2 + 1 + 3
    for attributes in images:
        header, payload = (attributes["src"] or "").split(",", 1)
        assert header == "data:image/png;base64"
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as picture:
            picture.verify()
            assert picture.format == "PNG"
            assert max(picture.size) <= FEATURE_GRID_PX  # the 1000 px grid shrunk
        assert attributes["alt"]
    grids = [(a["width"], a["height"]) for a in images if a["alt"] and "feature maps" in a["alt"]]
    assert grids == [("720", "144"), ("700", "280")]  # shown at most 720 px wide, small ones scaled up whole
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""\b(?:src|href)=(?!["']?data:)""", html)  # nothing loaded or linked from beside it
    assert not page.all("script") and not page.all("link")

    text = " ".join(" ".join(page.text).split())
    assert "test accuracy 97.20%" in text
    assert "parameters 1,199,882" in text
    layer_rows = [a["id"] for a in page.all("section") if a.get("class") == "layer"]
    assert layer_rows == ["layer-conv2d_1", "layer-preds"]
    assert "conv2d_1 Conv2D · setting default · 4 of 4 pictures" in text
    assert "Filter 0 2.0×" in text and "Filter 1 3.0× rising" in text and "Unit 2: digit 2 4.0×" in text
    assert "conv2d_2 32 9% (3)" in text  # every feature layer's dead share in the table
    assert text.count("no positive evidence") == 1
    assert "Made with gallery 0.1.0." in text


def test_report_shows_per_layer_pictures_and_links_the_online_atlas(tmp_path: Path) -> None:
    site = fake_site(tmp_path / "site", base_url="https://example.org/atlas/")
    out = write_report(site, "mnist", tmp_path / "report.html", per_layer=2)

    page = Page(out.read_text(encoding="utf-8"))
    assert page.all("a") == [{"href": "https://example.org/atlas/"}]  # a link to follow, never a request
    text = " ".join(" ".join(page.text).split())
    assert "conv2d_1 Conv2D · setting default · 2 of 4 pictures" in text
    assert "Filter 2" not in text


def test_report_needs_a_model_name_when_the_site_has_several(tmp_path: Path) -> None:
    site = fake_site(tmp_path / "site", models=("mnist", "mnist_small"))
    with pytest.raises(GalleryError, match="2 models, name one of: mnist, mnist_small"):
        write_report(site)
    with pytest.raises(GalleryError, match="no model 'cifar'; known: mnist, mnist_small"):
        write_report(site, "cifar")


def test_figure_and_report_of_the_real_mnist_atlas(mnist_atlas: Any, tmp_path: Path) -> None:
    """The commands read what a real build wrote: every picture present, offline, in the right place."""
    png_path, svg_path = write_figure(mnist_atlas.site, "mnist", "preds", "clear", tmp_path / "preds")
    svg = ET.parse(svg_path).getroot()
    assert len(svg.findall(f".//{SVG}image")) == 10
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert [f"Unit {d}: digit {d}" for d in range(10)] == [t for t in texts if t.startswith("Unit")]
    assert Image.open(png_path).info["dpi"][0] == pytest.approx(300, abs=1)

    out = write_report(mnist_atlas.site, "mnist", tmp_path / "report.html")
    page = Page(out.read_text(encoding="utf-8"))
    for attributes in page.all("img"):
        header, payload = (attributes["src"] or "").split(",", 1)
        assert header == "data:image/png;base64"
        Image.open(io.BytesIO(base64.b64decode(payload))).verify()
    text = " ".join(" ".join(page.text).split())
    accuracy = json.loads((mnist_atlas.site / "atlas.json").read_text())["models"][0]["test_accuracy"]
    assert f"test accuracy {100 * accuracy:.2f}%" in text
    assert [a["id"] for a in page.all("section") if a.get("class") == "layer"] == \
        ["layer-conv2d_1", "layer-conv2d_2", "layer-preds"]
