"""`gallery figure` on a small fake site (real PNGs, an atlas.json as a build writes it) and on a real one."""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CHANNELS, UNITS, Page, brightness
from PIL import Image

from gallery.cli import main
from gallery.errors import GalleryError
from gallery.figure import label, write_comparison_figure, write_figure
from gallery.report import write_report

SVG = "{http://www.w3.org/2000/svg}"


XLINK = "{http://www.w3.org/1999/xlink}href"


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


def test_figure_into_a_folder_takes_its_default_name_there(site: Path, tmp_path: Path) -> None:
    png, svg = write_figure(site, "mnist", "conv2d_1", out=tmp_path)
    assert png.parent == svg.parent == tmp_path and png.name.startswith("mnist-conv2d_1-")
    assert Image.open(png).size[0] > 100 and svg.read_text().lstrip().startswith("<?xml")


def test_figure_replaces_its_own_files_only(site: Path, tmp_path: Path) -> None:
    (tmp_path / "thesis.svg").write_text("<svg>my drawing</svg>")
    result = CliRunner().invoke(main, ["figure", "mnist", "conv2d_1", "--site", str(site), "-o",
                                       str(tmp_path / "thesis")])
    assert result.exit_code == 2 and "thesis.svg: a file gallery did not write" in result.output
    assert (tmp_path / "thesis.svg").read_text() == "<svg>my drawing</svg>" and not (tmp_path / "thesis.png").exists()


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
    ({"model": "cifar", "layer": "conv2d_1"}, "no model 'cifar' (known: mnist)"),
    ({"model": "mnist", "layer": "conv2d_9"}, "no visualized layer 'conv2d_9' (did you mean 'conv2d_1'?)"),
    ({"model": "mnist", "layer": "dense_1"}, "no visualized layer 'dense_1' (known: conv2d_1, preds)"),
    ({"model": "mnist", "layer": "conv2d_1", "setting": "clear"},
     "no setting 'clear' (known: default, diversity)"),
    ({"model": "mnist", "layer": "conv2d_1", "filters": [1, 7]}, "no filter '7' (known: 0-3)"),
])
def test_figure_names_what_the_site_has_when_asked_for_what_it_has_not(site: Path, tmp_path: Path,
                                                                       arguments: dict[str, Any],
                                                                       message: str) -> None:
    with pytest.raises(GalleryError, match=re.escape(message)):
        write_figure(site, out=tmp_path / "figure", **arguments)
    assert not list(tmp_path.glob("figure*"))


def test_figure_defaults_to_the_setting_the_site_shows_a_layer_under_first(site: Path, tmp_path: Path) -> None:
    atlas = json.loads((site / "atlas.json").read_text())
    atlas["models"][0]["readable"] = {"conv2d_1": "diversity", "preds": "default"}
    (site / "atlas.json").write_text(json.dumps(atlas))
    _, svg_path = write_figure(site, "mnist", "conv2d_1", out=tmp_path / "figure")
    assert svg_texts(svg_path)[0] == "mnist / conv2d_1 · diversity"
    assert [p.size for p in svg_images(svg_path)] == [(140, 28)] * CHANNELS


def test_comparison_figure_is_the_page_as_a_labelled_table(site: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    png_path, svg_path = write_comparison_figure(site, "mnist/conv2d_1/compare", dpi=100)
    assert (png_path, svg_path) == (Path("mnist-conv2d_1-compare.png"), Path("mnist-conv2d_1-compare.svg"))
    texts = svg_texts(svg_path)
    assert texts[0] == "conv2d_1 settings"
    assert texts[1:] == [f"Filter {f}" for f in range(CHANNELS)] + ["default", "diversity"]  # no repeated captions
    pictures = svg_images(svg_path)
    assert [p.size for p in pictures] == [(28, 28)] * CHANNELS + [(140, 28)] * CHANNELS  # row by row
    for index, picture in enumerate(pictures):
        assert np.asarray(picture.convert("L")).mean() == pytest.approx(brightness(index % CHANNELS), abs=1)
    width, height = png_size(png_path)
    assert width > 2 * height  # 4 columns of 5:1 boxes over 2 rows


def test_comparison_figure_names_the_comparisons_the_site_has(site: Path, tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match=re.escape("no comparison 'mnist/conv2d_1/comapre' (did you mean "
                                                     "'mnist/conv2d_1/compare'?)")):
        write_comparison_figure(site, "mnist/conv2d_1/comapre", tmp_path / "figure")
    assert not list(tmp_path.glob("figure*"))


@pytest.mark.parametrize("arguments", [[], ["mnist"], ["mnist", "conv2d_1", "--compare", "mnist/conv2d_1/compare"]])
def test_figure_command_needs_a_layer_or_a_comparison_not_both(site: Path, arguments: list[str]) -> None:
    result = CliRunner().invoke(main, ["figure", "--site", str(site), *arguments])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")


def test_figure_command_draws_a_comparison(site: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["figure", "--site", str(site), "--compare", "mnist/conv2d_1/compare",
                                       "-o", str(tmp_path / "sweep"), "--dpi", "72"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sweep.png").is_file() and (tmp_path / "sweep.svg").is_file()


def test_figure_and_report_ask_for_a_build_without_a_site(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="atlas.json not found: run `gallery build` first"):
        write_figure(tmp_path / "site", "mnist", "conv2d_1")
    with pytest.raises(GalleryError, match="atlas.json not found: run `gallery build` first"):
        write_report(tmp_path / "site")


def test_missing_picture_is_an_error_not_a_hole(site: Path, tmp_path: Path) -> None:
    (site / "mnist/features/digit7/input.png").unlink()
    with pytest.raises(GalleryError, match="input.png is missing: the site is incomplete"):
        write_report(site, out=tmp_path / "report.html")


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
    assert "preds Dense · setting clear · 8 of 10 pictures" in " ".join(" ".join(page.text).split())

    atlas = json.loads((mnist_atlas.site / "atlas.json").read_text())
    assert atlas["models"][0]["readable"]["preds"] == "clear"  # the config's site.highlight
    sweep = next(entry for entry in atlas["comparisons"] if entry["id"] == "mnist/preds/compare")
    _, svg_path = write_comparison_figure(mnist_atlas.site, sweep["id"], tmp_path / "sweep")
    texts = svg_texts(svg_path)
    assert {"default", "clear", "tv_300"} <= set(texts) and "digit 7" in texts
    assert len(svg_images(svg_path)) == sum(len(row["cells"]) for row in sweep["rows"])
    for attributes in page.all("img"):
        header, payload = (attributes["src"] or "").split(",", 1)
        assert header == "data:image/png;base64"
        Image.open(io.BytesIO(base64.b64decode(payload))).verify()
    text = " ".join(" ".join(page.text).split())
    accuracy = json.loads((mnist_atlas.site / "atlas.json").read_text())["models"][0]["test_accuracy"]
    assert f"test accuracy {100 * accuracy:.2f}%" in text
    assert [a["id"] for a in page.all("section") if a.get("class") == "layer"] == \
        ["layer-conv2d_1", "layer-conv2d_2", "layer-preds"]
