"""The site's pages and files as a reader and a script see them: atlas.json, depth page, sidebar, filter markup, 404, feature-map and attribution pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from conftest import MnistAtlas, elements, offline_copy
from PIL import Image

from gallery import build, models, results, site
from gallery.methods import DEFAULT_METHODS, METHODS
from gallery.plan import Plan
from gallery.results import AttributionMeta, Stored


def test_feature_map_page_shows_every_layer(mnist_atlas: MnistAtlas) -> None:
    page = (mnist_atlas.site / "mnist" / "features" / "digit7.html").read_text()
    assert 'src="../../mnist/features/digit7/input.png" width="140" height="140"' in page
    dead = []
    for layer, channels in [("conv2d_1", 32), ("conv2d_2", 64), ("max_pooling2d_1", 64)]:
        row = re.search(rf'<td><a href="#{layer}">{layer}</a></td><td>\w+</td><td>{channels}</td>\s*'
                        rf'<td class="dead">(\d+)% \((\d+)\)</td>', page)
        assert row, f"no table row for {layer}"
        assert 0 <= int(row.group(2)) <= channels
        dead.append(int(row.group(2)))
    # the chart is drawn exactly when some layer has a dead channel; otherwise a sentence says none is
    assert ('aria-label="dead channel share by depth"' in page) == any(dead)
    assert ("No channel is dead on this image" in page) == (not any(dead))
    # each grid links to its full-size PNG: 16 tiles of 26 px and 15 px of gaps a row for conv2d_1
    grid = re.search(r'<a href="(\.\./\.\./mnist/features/digit7/0\.png)" class="channels" data-layer="conv2d_1" '
                     r'data-channels="32" data-per-row="16" data-dead="[\d ]*"><img src="\1" width="(\d+)" height="(\d+)"',
                     page)
    assert grid and (int(grid.group(2)), int(grid.group(3))) == (16 * 27 - 1, 2 * 27 - 1)


def test_attribution_page_has_a_row_per_class_and_a_column_per_method(mnist_atlas: MnistAtlas) -> None:
    page = (mnist_atlas.site / "mnist" / "attribution" / "digit7.html").read_text()
    rows = re.findall(r'<span class="class">([^<]+)</span> <small class="probability">probability ([\d.e+-]+)'
                      r'</small></h2>(.*?)</section>', page, re.DOTALL)
    assert rows[0][0] == "digit 7"  # top 2: the digit itself first
    assert len(rows) == 2 and float(rows[0][1]) > float(rows[1][1])
    for _, _, cells in rows:
        assert re.findall(r"<strong>([^<]+)</strong>", cells) == [METHODS[m].label for m in DEFAULT_METHODS]
        assert cells.count("<img") + cells.count("no positive evidence") == len(DEFAULT_METHODS)
    assert all(f"<dt>{METHODS[m].label}</dt>" in page for m in DEFAULT_METHODS)  # each method explained
    assert "<code>max_pooling2d_1</code> (chosen automatically" in page  # not dropout_1, an identity at inference
    for link in ("mnist/index.html", "index.html"):
        text = (mnist_atlas.site / link).read_text()
        assert "features/digit7.html" in text and "attribution/digit7.html" in text


def test_empty_heatmap_says_no_positive_evidence(mnist_atlas: MnistAtlas, tmp_path: Path) -> None:
    loaded, plan = build.check(mnist_atlas.config)
    job = next(job for job in plan.attributions if job.model == "mnist")
    folder = next(p.parent for p in (mnist_atlas.cache / "renders").rglob("meta.json")
                  if len(json.loads(p.read_text()).get("classes", [])) == 2)  # mnist's top 2, not mnist_1epoch's top 1
    meta = json.loads((folder / "meta.json").read_text())
    first = f"gradcam-{meta['classes'][0]['index']}"
    meta["cells"][first]["empty"] = True
    empty = sum(cell["empty"] for cell in meta["cells"].values())
    spec = loaded.config.models[0]
    info = models.architecture(spec, loaded)
    only = Plan((), (), (), (job,))
    bundle = Stored("k", folder, results.load(AttributionMeta, meta))
    site.write_into(tmp_path, site.Contents(loaded.config, {spec.id: info}, only, [], {job: bundle}))
    page = (tmp_path / "mnist" / "attribution" / "digit7.html").read_text()
    assert page.count("no positive evidence") == empty and f"/{first}.png" not in page
    assert f"/gradcam-{meta['classes'][1]['index']}.png" in page


def test_attribution_cells_offer_the_gray_map_and_the_raw_array(mnist_atlas: MnistAtlas) -> None:
    page = mnist_atlas.site / "mnist" / "attribution" / "digit7.html"
    text = page.read_text()
    grays = re.findall(r'<a href="([^"]+\.gray\.png)">gray map</a> · <a href="([^"]+\.npy)" download>', text)
    assert len(grays) == 2 * len(DEFAULT_METHODS)
    for gray, raw in grays:
        array = np.load(page.parent / raw)
        assert array.shape == (28, 28) and array.dtype == np.float32
        pixels = np.asarray(Image.open(page.parent / gray))
        assert pixels.shape == (28, 28)
        positive = np.maximum(array, 0)
        if positive.max() > 0:  # the gray map is the raw map, ReLU'd and scaled to its maximum
            np.testing.assert_allclose(pixels / 255.0, positive / positive.max(), atol=1 / 255 + 1e-6)


def test_model_page_shows_the_randomisation_sanity_check(mnist_atlas: MnistAtlas) -> None:
    text = (mnist_atlas.site / "mnist" / "index.html").read_text()
    section = re.search(r'<h2 id="sanity-check">.*?</table>', text, re.DOTALL).group(0)
    header = re.findall(r"<th>([^<]+)</th>", section.split("<tbody>")[0])
    # the mnist CNN has 4 layers with weights: conv, conv, dense, dense
    assert header == ["method", "trained", "top 1 re-initialised", "top 2 re-initialised", "top 3 re-initialised",
                      "all 4 layers re-initialised", "verdict"]
    rows = re.findall(r'<th scope="row">([\w-]+)</th>(.*?)</tr>', section, re.DOTALL)
    assert [method for method, _ in rows] == ["Saliency", "Grad-CAM"]  # the papers' names
    for method, cells in rows:
        rhos = [float(r) for r in re.findall(r"&rho; = (-?[\d.]+)", cells)]
        assert len(rhos) + cells.count("n/a (empty map)") == 4
        assert all(-1 <= r <= 1 for r in rhos)
        passed = "passes: the map changes" in cells
        last = re.findall(r"&rho; = (-?[\d.]+)|n/a", cells)[-1]
        assert passed == (last == "" or float(last) < 0.5), method
    # Grad-CAM of the digit on a fully re-initialised network keeps little of the trained ranking.
    assert "passes" in dict(rows)["Grad-CAM"]


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
    assert three["caption"] == "digit 3" and three["objective"] == "unit"
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
    assert len(items) == 70 and {i["data-caption"] for i in items} == {f"digit {d}" for d in range(10)}
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
    for page in ("index.html", "mnist/depth.html", "mnist/attribution/digit7.html"):  # absolute: chats fetch it
        image = elements(tmp_path / "site" / page).all("meta", property="og:image")[0]["content"]
        assert image.startswith(f"{base}/") and (tmp_path / "site" / image.removeprefix(f"{base}/")).is_file()
    sitemap = (tmp_path / "site" / "sitemap.xml").read_text()
    pages = sorted(str(p.relative_to(tmp_path / "site")) for p in (tmp_path / "site").rglob("*.html"))
    assert sorted(re.findall(r"<loc>([^<]+)</loc>", sitemap)) == sorted(
        f"{base}/{page}" for page in pages if page != "404.html")
    assert not (mnist_atlas.site / "sitemap.xml").exists()  # no absolute addresses without base_url


def test_every_page_has_a_link_preview_that_exists(mnist_atlas: MnistAtlas) -> None:
    for page in mnist_atlas.site.rglob("*.html"):
        found = elements(page)
        image = found.all("meta", property="og:image")
        assert image and found.all("meta", property="og:title"), page
        assert (page.parent / image[0]["content"]).resolve().is_file(), page
    with Image.open(mnist_atlas.site / "preview.png") as preview:
        assert preview.size == (1200, 630)
        assert np.asarray(preview.convert("L")).std() > 10  # the index's pictures, not a blank card
    filter_page = elements(mnist_atlas.site / "mnist" / "preds" / "filter-7.html")
    assert filter_page.all("meta", property="og:image")[0]["content"].endswith(".png")
    assert "preview.png" not in filter_page.all("meta", property="og:image")[0]["content"]  # its own picture


def test_index_opens_with_each_models_readable_pictures(mnist_atlas: MnistAtlas) -> None:
    index = (mnist_atlas.site / "index.html").read_text()
    strips = re.findall(r'<h2><a href="([\w]+)/index.html">\w+</a> <small>(\w+) · setting (\w+)</small></h2>\s*'
                        r'<ul class="grid strip">(.*?)</ul>', index, re.DOTALL)
    chosen = {model: (layer, setting) for model, layer, setting, _ in strips}
    assert chosen["mnist"] == ("preds", "clear")  # the config's site.highlight
    assert chosen["mnist_1epoch"] == ("preds", "clear")  # its only setting, chosen without a highlight
    atlas = json.loads((mnist_atlas.site / "atlas.json").read_text())
    for model, layer, setting, tiles in strips:
        links = re.findall(r'<a href="([^"]+filter-(\d+)\.html)"', tiles)
        assert 0 < len(links) <= 8 and all((mnist_atlas.site / href).is_file() for href, _ in links)
        order = {item["filter"]: (bool(item["flags"]), -(item["ratio"] or 0.0)) for item in atlas["items"]
                 if (item["model"], item["layer"], item["setting"]) == (model, layer, setting)}
        shown = [order[int(unit)] for _, unit in links]
        assert shown == sorted(shown)  # unflagged first, then the units that beat the test images most
        assert len(links) == min(8, len(order))


def test_a_first_layer_shows_its_kernel_weights(mnist_atlas: MnistAtlas) -> None:
    layer = mnist_atlas.site / "mnist" / "conv2d_1"
    sources = [a["src"] for a in elements(layer / "index.html").all("img", "src")]
    assert "../../mnist/conv2d_1/kernels.png" in sources
    grid = np.asarray(Image.open(layer / "kernels.png").convert("L"))
    assert grid.shape == (23, 23)  # 32 kernels of 3x3, 6 per row, 1 px apart
    tiles = np.pad(grid, ((0, 1), (0, 1)), constant_values=255).reshape(6, 4, 6, 4)[:, :3, :, :3]
    weights = tiles[:5].reshape(-1)  # the 5 full rows, without the gaps
    assert weights.min() == 0 or weights.max() == 255  # the layer's largest weight at black or white
    assert 64 < weights.mean() < 192 and len(np.unique(weights)) > 20
    filter_page = elements(layer / "filter-3.html")
    assert "../../mnist/conv2d_1/kernels/3.png" in [a["src"] for a in filter_page.all("img", "src")]
    assert Image.open(layer / "kernels" / "3.png").size == (3, 3)
    deeper = mnist_atlas.site / "mnist" / "conv2d_2"
    assert not (deeper / "kernels.png").exists()
    assert "kernels" not in (deeper / "index.html").read_text()


def test_every_attribution_map_shows_its_deletion_and_insertion_against_random(mnist_atlas: MnistAtlas) -> None:
    atlas = json.loads((mnist_atlas.site / "atlas.json").read_text())
    view = next(v for v in atlas["views"] if v["kind"] == "attribution" and v["model"] == "mnist")
    flagged = 0
    for entry in view["classes"]:
        bar = entry["random"]
        assert 0 <= bar["deletion"] <= 1 and 0 <= bar["insertion"] <= 1
        for method in view["methods"]:
            cell = entry["cells"][method]
            assert 0 <= cell["deletion"] <= 1 and 0 <= cell["insertion"] <= 1
            assert cell["no_better_than_random"] == (cell["insertion"] <= bar["insertion"])
            flagged += cell["no_better_than_random"]
    top = view["classes"][0]  # the digit the network sees: nearly every map puts it back (and takes it away)
    cells = [top["cells"][method] for method in view["methods"]]  # faster than chance; coarse Grad-CAM may not
    assert sum(cell["insertion"] > top["random"]["insertion"] for cell in cells) >= len(cells) - 2
    assert sum(cell["deletion"] < top["random"]["deletion"] for cell in cells) >= len(cells) - 2
    page = (mnist_atlas.site / view["page"]).read_text()
    assert page.count("insertion no better than random") == flagged
    assert page.count('<svg class="chart"') == len(view["classes"]) * len(view["methods"])
    assert page.count("A random pixel order: deletion") == len(view["classes"])


def test_a_folder_of_images_gets_a_page_each_and_a_summary(tmp_path: Path) -> None:
    """Three photos in a folder, attributed on a small classifier: three pages at MODEL/attribution/
    FOLDER/STEM.html and the folder's summary (a row per method, a map per image), every link working."""
    from conftest import broken_links

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(tmp_path / "net.keras")
    (tmp_path / "photos").mkdir()
    rng = np.random.default_rng(0)
    for name in ("tabby.png", "ginger.png", "black.png"):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "photos" / name)
    config = tmp_path / "atlas.yaml"
    config.write_text(yaml.safe_dump({
        "models": [{"id": "net", "source": "file", "path": "net.keras"}],
        "images": {"cats": {"dir": "photos"}},
        "feature_maps": [{"model": "net", "images": ["cats"], "layers": ["conv"]}],
        "attribution": [{"model": "net", "images": ["cats"], "classes": {"top": 2},
                         "methods": ["saliency", "gradcam", "occlusion"]}]}))
    site = tmp_path / "site"
    build.run(config, site, tmp_path / "cache")
    for stem in ("black", "ginger", "tabby"):
        page = (site / "net" / "attribution" / "cats" / f"{stem}.html").read_text()
        assert f"Image file: <code>{stem}.png</code>" in page and str(tmp_path) not in page  # no author's folders
    summary = site / "net" / "attribution" / "cats" / "index.html"
    text = summary.read_text()
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>(\d+) of (\d+)</td>"
                      r"<td>(\d+) of (\d+)</td></tr>", text)
    assert [row[0] for row in rows] == ["Saliency", "Grad-CAM", "Occlusion"]
    assert all(row[4] == "3" and row[6] == "6" for row in rows)  # 3 images' most probable class; x 2 classes
    assert re.findall(r'href="../../../net/attribution/cats/(\w+)\.html"', text) == ["black", "ginger", "tabby"]
    atlas = json.loads((site / "atlas.json").read_text())
    folder = next(view for view in atlas["views"] if view["kind"] == "attribution-folder")
    assert folder["images"] == ["cats/black", "cats/ginger", "cats/tabby"]
    pages = [v for v in atlas["views"] if v["kind"] == "attribution"]
    for method, found in folder["methods"].items():
        top = [max(v["classes"], key=lambda entry: entry["probability"]) for v in pages]
        assert found["insertion"] == pytest.approx(np.mean([entry["cells"][method]["insertion"] for entry in top]))
        beaten = [not entry["cells"][method]["no_better_than_random"] for v in pages for entry in v["classes"]]
        assert found["every_class"] == {"beats_random": sum(beaten), "pairs": 6}
    model_page = (site / "net" / "index.html").read_text()
    assert "attribution across the images of cats" in model_page
    # Feature maps too: one summary page instead of a link per image.
    assert "feature maps of the images of cats" in model_page and "feature maps of cats/black" not in model_page
    features = (site / "net" / "features" / "cats" / "index.html").read_text()
    assert re.findall(r'href="../../../net/features/cats/(\w+)\.html"', features) == ["black", "ginger", "tabby"]
    maps = next(view for view in atlas["views"] if view["kind"] == "features-folder")
    dead = [layer["dead_share"] for v in atlas["views"] if v["kind"] == "features" for layer in v["layers"]]
    assert maps["images"] == ["cats/black", "cats/ginger", "cats/tabby"] and len(dead) == 3
    assert maps["dead_share"]["conv"] == pytest.approx(np.mean(dead))
    assert f"{maps['dead_share']['conv']:.0%}" in features
    assert broken_links(site) == []


def test_a_large_layer_is_paged_with_every_setting_of_a_filter_on_one_page() -> None:
    from gallery.site.pages import PAGE_TILES, paged

    assert paged(tuple(range(10)), 3) == [("index.html", tuple(range(10)))]
    pages = paged(tuple(range(1280)), 3)  # 170 filters x 3 settings a page
    assert [name for name, _ in pages][:3] == ["index.html", "page-2.html", "page-3.html"] and len(pages) == 8
    assert all(len(shown) * 3 <= PAGE_TILES for _, shown in pages)
    assert [f for _, shown in pages for f in shown] == list(range(1280))
    assert paged((7,), 600) == [("index.html", (7,))]  # more settings than a page holds: one filter a page


def test_a_pager_link_reads_as_a_range_only_for_a_run_of_filters() -> None:
    from gallery.site.pages import pager_label

    captions = {f: str(f) for f in range(600)} | {3: "cat", 4: "dog"}
    assert pager_label(tuple(range(512, 1024)), {f: str(f) for f in range(1024)}) == "512–1023"
    assert pager_label((3, 4), captions) == "cat–dog"  # a class layer's filters are captioned by their classes
    assert pager_label((2, 9, 40, 532), captions) == "2 … 532 (4 filters)"  # drawn at random: not all of 2-532
    assert pager_label((7,), captions) == "7"


def test_the_settings_table_shows_max_steps_only_where_steps_are_auto() -> None:
    from gallery.config import Setting
    from gallery.site.layout import environment
    from gallery.site.pages import setting_fields

    settings = {"quick": Setting(steps=32), "au": Setting(steps="auto", max_steps=64)}
    fields = setting_fields(settings)
    table = environment().from_string('{% import "_macros.html" as m %}{{ m.setting_table(settings, fields) }}')
    rows = re.findall(r"<tr><th scope=\"row\">(\w+)</th>(.*?)</tr>", table.render(settings=settings, fields=fields))
    cells = {name: re.findall(r"<td>(.*?)</td>", row)[1:] for name, row in rows}  # after the note
    assert fields == ["steps", "max_steps"] and cells == {"quick": ["32", "—"], "au": ["auto", "64"]}
