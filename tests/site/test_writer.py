"""Pictures as pages show them: thumbnails and sizes."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest
import yaml
from conftest import elements, file_model_atlas
from PIL import Image

from gallery import build
from gallery.site.layout import display_size
from gallery.site.writer import GRID_PX, THUMB_COLORS, write_thumbnail


def test_large_inputs_get_small_palette_thumbnails_in_grids(tmp_path: Path) -> None:
    site = file_model_atlas(tmp_path, channels=3, size=64)
    images = elements(site / "net" / "conv" / "index.html").all("img")
    grid = [i for i in images if "/img/" in (i["src"] or "")]  # beside the first layer's kernel weights
    assert [i["src"] for i in images if i not in grid] == ["../../net/conv/kernels.png"]
    assert [i["src"] for i in grid] == [f"../../net/conv/img/{f}-quick.thumb.png" for f in range(3)]
    assert {(i["width"], i["height"]) for i in grid} == {("64", "64")}
    for f in range(3):
        full, thumb = site / f"net/conv/img/{f}-quick.png", site / f"net/conv/img/{f}-quick.thumb.png"
        with Image.open(thumb) as image:
            assert image.mode == "P" and image.size == (64, 64) and len(image.getcolors()) <= THUMB_COLORS
        assert thumb.stat().st_size < full.stat().st_size / 2
    detail = elements(site / "net" / "conv" / "filter-1.html").all("img")
    assert detail[0]["src"] == "../../net/conv/img/1-quick.png"


@pytest.mark.parametrize(("size", "expected"), [((224, 224), (96, 96)), ((300, 150), (96, 48)), ((48, 48), (48, 48))])
def test_thumbnails_shrink_to_the_grid_never_enlarge(tmp_path: Path, size: tuple[int, int],
                                                      expected: tuple[int, int]) -> None:
    """Sizes are Pillow's (width, height)."""
    source = tmp_path / "full.png"
    Image.radial_gradient("L").resize(size).convert("RGB").save(source)
    write_thumbnail(source, tmp_path / "thumb.png", display_size((size[1], size[0]), GRID_PX))
    with Image.open(tmp_path / "thumb.png") as thumb:
        assert thumb.size == expected


def test_strips_and_receptive_field_renders_are_shown_at_their_own_size(tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 3, activation="relu", name="conv")(inputs)).save(tmp_path / "c.keras")
    config = tmp_path / "atlas.yaml"
    config.write_text(yaml.safe_dump({
        "models": [{"id": "net", "source": "file", "path": "c.keras"}],
        "settings": {"one": {"steps": 3}, "three": {"steps": 3, "diversity": 3},
                     "centre": {"steps": 3, "objective": "neuron"}},
        "activation_max": [{"model": "net", "layer": "conv", "settings": ["one", "three", "centre"]}],
    }))
    build.run(config, tmp_path / "site", tmp_path / "cache")
    items = {i["setting"]: i for i in json.loads((tmp_path / "site" / "atlas.json").read_text())["items"] if i["filter"] == 0}
    assert (items["one"]["width"], items["one"]["height"]) == (12, 12)
    assert (items["three"]["width"], items["three"]["height"]) == (36, 12)
    assert (items["centre"]["width"], items["centre"]["height"]) == (3, 3)  # one 3x3 conv: its receptive field
    assert "the channel's centre unit, drawn at its receptive field (3&times;3 px)" in \
        (tmp_path / "site" / "net" / "conv" / "filter-0.html").read_text()
    for page in ("net/conv/index.html", "net/conv/filter-0.html"):
        found = {a["src"].rsplit("/", 1)[-1]: (int(a["width"] or 0), int(a["height"] or 0))
                 for a in elements(tmp_path / "site" / page).all("img", "src")}
        width, height = found["0-one.png"]
        assert found["0-three.png"] == (3 * width, height), page
