"""The site's pages and files as a reader and a script see them: atlas.json, depth page, sidebar,
thumbnails, lightbox and filter markup, 404 page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import MnistAtlas, offline_copy
from PIL import Image

from gallery import build
from gallery.site import GRID_PX, THUMB_COLORS, display_size, write_thumbnail


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str, *present: str, **equal: str) -> list[dict[str, str | None]]:
        """Tags named `tag` that have every attribute in `present` and the values in `equal`."""
        return [a for t, a in self.tags
                if t == tag and all(k in a for k in present) and all(a.get(k) == v for k, v in equal.items())]


def elements(page: Path) -> Elements:
    return Elements(page.read_text(encoding="utf-8"))


def file_model_atlas(folder: Path, channels: int, size: int, steps: int = 2) -> Path:
    """A one-conv-layer model saved to a file, every channel rendered in a few steps; returns the site."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    outputs = keras.layers.Conv2D(channels, 3, activation="relu", name="conv")(inputs)
    keras.Model(inputs, outputs).save(folder / "conv.keras")
    config = folder / "atlas.yaml"
    config.write_text(yaml.safe_dump({
        "site": {"title": "file model"},
        "models": [{"id": "net", "source": "file", "path": "conv.keras"}],
        "settings": {"quick": {"steps": steps}},
        "activation_max": [{"model": "net", "layer": "conv", "settings": ["quick"]}],
    }))
    build.run(config, folder / "site", folder / "cache")
    return folder / "site"


def test_atlas_json_lists_every_item_with_working_urls(mnist_atlas: MnistAtlas) -> None:
    atlas = json.loads((mnist_atlas.site / "atlas.json").read_text())
    items = atlas["items"]
    assert atlas["title"] == "MNIST CNN atlas" and len(items) == 176
    assert len({(i["model"], i["layer"], i["filter"], i["setting"]) for i in items}) == 176
    for item in items:
        assert (mnist_atlas.site / item["page"]).is_file() and (mnist_atlas.site / item["image"]).is_file()
        assert item["thumbnail"] == item["image"]  # 28x28 digits go into grids as they are
        assert item["parameters"]["steps"] == 200
        assert (item["width"], item["height"]) == Image.open(mnist_atlas.site / item["image"]).size == (28, 28)
        assert item["status"] in ("converged", "rising", "regularizer-dominated")
    three = next(i for i in items if (i["model"], i["layer"], i["filter"], i["setting"]) == ("mnist", "preds", 3, "clear"))
    assert three["caption"] == "3 digit 3" and three["objective"] == "unit"
    assert three["page"] == "mnist/preds/filter-3.html" and three["image"] == "mnist/preds/img/3-clear.png"
    assert three["parameters"]["tv_weight"] == 100 and three["parameters"]["jitter"] == 2
    assert three["ratio"] == pytest.approx(three["activation"] / three["reference"])
    filter_page = (mnist_atlas.site / three["page"]).read_text()
    assert f'class="activation">{three["activation"]:.4g}<' in filter_page
    for item in items:  # every flag says why: an unconverged verdict, a retry, a picture below the best test image
        expected = ([] if item["status"] == "converged" else [item["status"]]) + (
            ["retried"] if item["retried_because"] else []) + (["weak"] if item["activation"] < item["reference"] else [])
        assert item["flags"] == expected


def test_atlas_json_describes_models_views_and_comparisons(mnist_atlas: MnistAtlas) -> None:
    atlas = json.loads((mnist_atlas.site / "atlas.json").read_text())
    models = {m["id"]: m for m in atlas["models"]}
    assert set(models) == {"mnist", "mnist_1epoch"}
    assert models["mnist"]["test_accuracy"] > models["mnist_1epoch"]["test_accuracy"] > 0.5
    assert [layer["name"] for layer in models["mnist"]["layers"]][:3] == ["input", "conv2d_1", "conv2d_2"]
    assert models["mnist"]["params"] == sum(layer["params"] for layer in models["mnist"]["layers"])
    views = {(v["kind"], v["model"]): v for v in atlas["views"]}
    assert set(views) == {("features", "mnist"), ("attribution", "mnist"), ("attribution", "mnist_1epoch")}
    features = views["features", "mnist"]
    assert [layer["name"] for layer in features["layers"]] == ["conv2d_1", "conv2d_2", "max_pooling2d_1"]
    attribution = views["attribution", "mnist"]
    paths = [features["page"], features["input"], *(layer["grid"] for layer in features["layers"]), attribution["page"]]
    for row in attribution["classes"]:
        assert set(row["cells"]) == set(attribution["methods"])
        paths += [path for cell in row["cells"].values() for path in (cell["overlay"], cell["gray"], cell["raw"])]
    paths += [c["page"] for c in atlas["comparisons"]]
    assert all((mnist_atlas.site / path).is_file() for path in paths)
    assert {c["kind"] for c in atlas["comparisons"]} == {"settings", "depth", "models", "attribution"}
    for item in atlas["items"]:  # the best of the dataset examples is the bar the ratio is measured against
        assert item["examples"]["values"][0] == pytest.approx(item["reference"], rel=1e-5, abs=1e-6)
        assert (mnist_atlas.site / item["examples"]["image"]).is_file()


def test_depth_page_shows_first_filters_of_each_layer_in_order(mnist_atlas: MnistAtlas) -> None:
    page = mnist_atlas.site / "mnist" / "depth.html"
    table = re.search(r'<table class="comparison.*?</table>', page.read_text(), re.DOTALL).group(0)
    assert "first 6 filters or units, setting default</th>" in table  # the one setting every layer shares
    rows = re.findall(r"<tr>.*?</tr>", table.split("<tbody>")[1], re.DOTALL)
    assert [re.search(r'<a href="\.\./mnist/(\w+)/index.html">', row).group(1) for row in rows] == \
        ["conv2d_1", "conv2d_2", "preds"]
    for row, layer in zip(rows, ["conv2d_1", "conv2d_2", "preds"]):
        images = re.findall(r'<img src="\.\./([^"]+)"', row)
        assert images == [f"mnist/{layer}/img/{f}-default.png" for f in range(6)]
    for linking in ("mnist/index.html", "index.html"):
        assert any(a["href"].endswith("depth.html") for a in elements(mnist_atlas.site / linking).all("a", "href"))


def test_sidebar_lists_the_models_layers_on_its_pages(mnist_atlas: MnistAtlas) -> None:
    pages = list((mnist_atlas.site / "mnist").glob("**/*.html"))
    assert len(pages) == 1 + 1 + 3 * 2 + 10 + 32 + 64 + 2  # + feature maps and attribution of a digit
    for page in pages:
        text = page.read_text()
        sidebar = re.search(r'<nav class="sidebar".*?</nav>', text, re.DOTALL)
        assert sidebar, f"{page} has no sidebar"
        layers = re.findall(r'href="[./]*mnist/(\w+)/index.html"', sidebar.group(0))
        assert layers == ["conv2d_1", "conv2d_2", "preds"], page
        current = re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', sidebar.group(0))
        relative = page.relative_to(mnist_atlas.site).as_posix()
        expected = {"mnist/index.html": "mnist", "mnist/depth.html": "all layers by depth"}.get(relative, page.parent.name)
        assert current == ([] if expected in ("features", "attribution") else [expected]), page
    assert 'class="sidebar"' not in (mnist_atlas.site / "index.html").read_text()


def test_grids_link_filter_pages_and_full_images_for_the_lightbox(mnist_atlas: MnistAtlas) -> None:
    page = mnist_atlas.site / "mnist" / "preds" / "index.html"
    found = elements(page)
    items = found.all("li", "data-filter")
    assert len(items) == 70 and {i["data-caption"] for i in items} == {f"{d} digit {d}" for d in range(10)}
    links = found.all("a", "data-full")
    assert len(links) == 70
    for link in links:
        assert re.fullmatch(r"\.\./\.\./mnist/preds/filter-\d\.html", link["href"] or "")
        assert link["data-page"] == link["href"] and (page.parent / (link["data-full"] or "")).is_file()
        assert (link["data-caption"] or "").startswith("mnist / preds / ")
    form = found.all("form")[0]
    assert "hidden" in form, "the filter box is useless without JavaScript, so atlas.js shows it"
    # The filter page's images open their PNG without JavaScript.
    for link in elements(mnist_atlas.site / "mnist" / "preds" / "filter-3.html").all("a", "data-full"):
        assert link["href"] == link["data-full"] and link["href"].endswith(".png")


def test_flagged_pictures_are_marked_for_the_filter_box(mnist_atlas: MnistAtlas) -> None:
    items = json.loads((mnist_atlas.site / "atlas.json").read_text())["items"]
    for layer in ("conv2d_1", "conv2d_2", "preds"):
        flagged = sorted((i["filter"], i["flags"]) for i in items
                         if (i["model"], i["layer"]) == ("mnist", layer) and i["flags"])
        found = elements(mnist_atlas.site / "mnist" / layer / "index.html")
        assert sorted((int(a["data-filter"] or ""), (a["data-flags"] or "").split())
                      for a in found.all("li", "data-flags")) == flagged
        assert bool(found.all("input", name="flagged")) == bool(flagged)


def test_every_page_is_self_contained(mnist_atlas: MnistAtlas) -> None:
    """No CDN, web font or remote script: the atlas works offline and from file://."""
    assert {p.name for p in (mnist_atlas.site / "static").iterdir()} == {"style.css", "atlas.js", "icon.svg"}
    for page in mnist_atlas.site.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text), page
        assert "static/atlas.js" in text and "<meta name=\"viewport\"" in text
    assert "url(" not in (mnist_atlas.site / "static" / "style.css").read_text()


def test_404_page_links_home_relative_or_from_base_url(mnist_atlas: MnistAtlas, tmp_path: Path) -> None:
    links = [a["href"] for a in elements(mnist_atlas.site / "404.html").all("a", "href")]
    assert links == ["index.html", "index.html", "mnist/index.html", "mnist_1epoch/index.html"]
    base = "https://example.org/atlas"
    config = offline_copy(mnist_atlas.config, tmp_path, site={"title": "t", "base_url": base})
    build.run(config, tmp_path / "site", mnist_atlas.cache)
    found = elements(tmp_path / "site" / "404.html")
    assert [a["href"] for a in found.all("a", "href")] == [f"{base}/index.html"] * 2 + [
        f"{base}/mnist/index.html", f"{base}/mnist_1epoch/index.html"]
    assert found.all("link", rel="stylesheet")[0]["href"] == f"{base}/static/style.css"
    assert not found.all("link", rel="canonical")
    canonical = elements(tmp_path / "site" / "mnist" / "depth.html").all("link", rel="canonical")
    assert canonical[0]["href"] == f"{base}/mnist/depth.html"


def test_large_inputs_get_small_palette_thumbnails_in_grids(tmp_path: Path) -> None:
    site = file_model_atlas(tmp_path, channels=3, size=64)
    grid = elements(site / "net" / "conv" / "index.html").all("img")
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
    import keras

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
