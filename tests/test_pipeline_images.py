"""What the network sees of an image: feature-map and attribution pages, their numbers and config errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import skimage.data
from PIL import Image
from conftest import REPO, MnistAtlas

from gallery import build, config, images, models, site
from gallery.errors import GalleryError
from gallery.plan import Plan
from gallery.renderers.attribution import METHODS, Explainer
from gallery.store import Bundle

# Chelsea (451x300) is resized to 256 on its short side (scale 256/300) and centre-cropped to
# 224x224, so original (x, y) lands at (x * 0.853 - 80, y * 0.853 - 16). Her face from the eyes to
# the chin, x 135-340 and y 65-265 in the original, is then this box [x0, y0, x1, y1] in the crop:
CHELSEA_FACE = (35, 40, 210, 210)
TIGER_CAT = 282


def test_feature_map_page_shows_every_layer(mnist_atlas: MnistAtlas) -> None:
    page = (mnist_atlas.site / "mnist" / "features" / "digit7.html").read_text()
    assert 'src="../../mnist/features/digit7/input.png" width="140" height="140"' in page
    assert '<svg class="chart"' in page and "dead channel share by depth" in page
    for layer, channels in [("conv2d_1", 32), ("conv2d_2", 64), ("max_pooling2d_1", 64)]:
        row = re.search(rf'<td><a href="digit7.html#{layer}">{layer}</a></td><td>\w+</td><td>{channels}</td>\s*'
                        rf'<td class="dead">(\d+)% \((\d+)\)</td>', page)
        assert row, f"no table row for {layer}"
        assert 0 <= int(row.group(2)) <= channels
    # each grid links to its full-size PNG: 16 tiles of 26 px and 15 px of gaps a row for conv2d_1
    grid = re.search(r'<a href="(\.\./\.\./mnist/features/digit7/0\.png)" class="channels" data-layer="conv2d_1" '
                     r'data-channels="32" data-per-row="16" data-dead="[\d ]*"><img src="\1" width="(\d+)" height="(\d+)"',
                     page)
    assert grid and (int(grid.group(2)), int(grid.group(3))) == (16 * 27 - 1, 2 * 27 - 1)


def test_attribution_page_has_a_row_per_class_and_a_column_per_method(mnist_atlas: MnistAtlas) -> None:
    page = (mnist_atlas.site / "mnist" / "attribution" / "digit7.html").read_text()
    header = re.search(r"<thead><tr><th>class</th><th>probability</th>(.*?)</tr></thead>", page).group(1)
    assert re.findall(r"<th>(\w+)</th>", header) == list(METHODS)
    rows = re.findall(r'<th scope="row">([^<]+)</th><td class="probability">([\d.e+-]+)</td>(.*?)</tr>', page, re.DOTALL)
    assert rows[0][0] == "7 digit 7"  # top 2: the digit itself first
    assert len(rows) == 2 and float(rows[0][1]) > float(rows[1][1])
    for _, _, cells in rows:
        assert cells.count("<td>") == len(METHODS)
        assert cells.count("<img") + cells.count("no positive evidence") == len(METHODS)
    assert "dropout_1" in page  # the auto-detected Grad-CAM layer
    for link in ("mnist/index.html", "index.html"):
        text = (mnist_atlas.site / link).read_text()
        assert "features/digit7.html" in text and "attribution/digit7.html" in text


def test_gradcam_of_tiger_cat_peaks_on_chelsea_face(tmp_path: Path) -> None:
    loaded = config.load(REPO / "configs" / "imagenet-offline.yaml")
    model = models.load(loaded.config.models[0], loaded, tmp_path)
    image = images.model_input(model, skimage.data.chelsea())
    assert image.shape == (224, 224, 3) and image.min() >= model.input_range[0] and image.max() <= model.input_range[1]
    result = Explainer(model.network, input_range=model.input_range).explain(image, [TIGER_CAT], ["gradcam"])
    heatmap = result["gradcam", TIGER_CAT].heatmap
    y, x = np.unravel_index(heatmap.argmax(), heatmap.shape)
    x0, y0, x1, y1 = CHELSEA_FACE
    assert x0 <= x <= x1 and y0 <= y <= y1, f"Grad-CAM peak at ({x}, {y}), outside the face box {CHELSEA_FACE}"


def test_model_input_maps_pixels_onto_the_input_range(mnist_atlas: MnistAtlas) -> None:
    loaded = config.load(mnist_atlas.config)
    model = models.LoadedModel(loaded.config.models[0], models.architecture(loaded.config.models[0], loaded),
                               "", (0.0, 1.0), "")
    pixels = np.zeros((56, 56, 3), np.uint8)
    pixels[:28] = 255
    seen = images.model_input(model, pixels)
    assert seen.shape == (28, 28, 1) and seen[0, 0, 0] == pytest.approx(1.0) and seen[-1, 0, 0] == pytest.approx(0.0)


def test_config_methods_match_the_renderer() -> None:
    assert get_args(config.Method) == METHODS


BASE = """\
models:
  - id: mnist
    source: builtin
    builtin: mnist_cnn
images:
  cat: sample:chelsea
feature_maps:
  - model: mnist
    images: [cat]
attribution:
  - model: mnist
    images: [cat]
    classes: [digit 3, 1]
"""


@pytest.mark.parametrize("old, new, expected", [
    ("    images: [cat]\nattribution", "    images: [dog]\nattribution",
     ":9: feature_maps[0].images[0]: no image 'dog' (known: cat)"),
    ("[digit 3, 1]", "[digit 3, digt 1]", ":13: attribution[0].classes[1]: no class 'digt 1' (did you mean 'digit 1'?)"),
    ("[digit 3, 1]", "[10]", ":13: attribution[0].classes[0]: class 10 is out of range: model 'mnist' has 10 (0-9)"),
    ("sample:chelsea", "sample:cat", ":6: images.cat: unknown sample 'sample:cat'"),
    ("    images: [cat]\nattribution", "    images: [cat]\n    layers: [dense_1]\nattribution",
     ":10: feature_maps[0].layers[0]: layer 'dense_1' has no spatial (rank-4) output"),
])
def test_image_config_errors_name_file_and_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    assert old in BASE
    path.write_text(BASE.replace(old, new))
    with pytest.raises(GalleryError) as error:
        build.check(path)
    assert str(error.value).startswith(f"{path}{expected}")


def test_valid_image_config_plans_one_page_each(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(BASE)
    _, plan = build.check(path)
    (features,), (attribution,) = plan.features, plan.attributions
    assert features.layers == ("conv2d_1", "conv2d_2", "max_pooling2d_1")
    assert attribution.classes == (3, 1) and attribution.top is None and attribution.methods == METHODS


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
    model = models.LoadedModel(spec, models.architecture(spec, loaded), "", (0.0, 1.0), "")
    only = Plan((), (), (), (job,))
    site.SiteWriter(tmp_path, loaded, {spec.id: model}, only, [], {job: Bundle("k", folder, meta)}).write()
    page = (tmp_path / "mnist" / "attribution" / "digit7.html").read_text()
    assert page.count("no positive evidence") == empty and f"/{first}.png" not in page
    assert f"/gradcam-{meta['classes'][1]['index']}.png" in page


def test_attribution_cells_offer_the_gray_map_and_the_raw_array(mnist_atlas: MnistAtlas) -> None:
    page = mnist_atlas.site / "mnist" / "attribution" / "digit7.html"
    text = page.read_text()
    grays = re.findall(r'<a href="([^"]+\.gray\.png)">gray map</a> · <a href="([^"]+\.npy)" download>', text)
    assert len(grays) == 2 * len(METHODS)
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
    rows = re.findall(r'<th scope="row">(\w+)</th>(.*?)</tr>', section, re.DOTALL)
    assert [method for method, _ in rows] == ["saliency", "gradcam"]
    for method, cells in rows:
        rhos = [float(r) for r in re.findall(r"&rho; = (-?[\d.]+)", cells)]
        assert len(rhos) + cells.count("n/a (empty map)") == 4
        assert all(-1 <= r <= 1 for r in rhos)
        passed = "passes: the map changes" in cells
        last = re.findall(r"&rho; = (-?[\d.]+)|n/a", cells)[-1]
        assert passed == (last == "" or float(last) < 0.5), method
    # Grad-CAM of the digit on a fully re-initialised network keeps little of the trained ranking.
    assert "passes" in dict(rows)["gradcam"]
