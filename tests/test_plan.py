"""The plan from a config and plain ModelInfo records: no network is built, no TensorFlow imported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from gallery import build, config, plan
from gallery.architecture import LayerInfo, ModelInfo
from gallery.errors import GalleryError
from gallery.methods import DEFAULT_METHODS

LAYERS = (
    LayerInfo("input", "InputLayer", (None, 8, 8, 1), 0, None),
    LayerInfo("conv", "Conv2D", (None, 6, 6, 4), 40, 4, spatial=True),
    LayerInfo("pool", "MaxPooling2D", (None, 3, 3, 4), 0, 4, spatial=True),
    LayerInfo("gate", "Conv2D", (None, 1, 1, 4), 20, 4, spatial=True),  # a squeeze-excite gate: no map to show
    LayerInfo("flat", "Flatten", (None, 36), 0, 36),
    LayerInfo("out", "Dense", (None, 3), 111, 3, squashing=True),
)
INFO = ModelInfo("net", LAYERS, (8, 8, 1), 151, {"out": ("cat", "dog", "bird")}, attribution_layer="pool")


def planned(tmp_path: Path, **sections: object) -> plan.Plan:
    path = tmp_path / "atlas.yaml"
    path.write_text(yaml.safe_dump({"models": [{"id": "net", "source": "builtin", "builtin": "mnist_cnn"}],
                                    **sections}))
    return plan.build(config.load(path), {"net": INFO})


def test_targets_come_in_network_order_with_first_stages_first(tmp_path: Path) -> None:
    result = planned(tmp_path, settings={"first": {"steps": 3}, "second": {"start_from": "first"}},
                     activation_max=[{"model": "net", "layer": "out", "settings": ["second"]},
                                     {"model": "net", "layer": "conv", "filters": [3, 1, 3]}])
    assert [(t.layer, t.kind, t.filters, t.settings, t.linearized) for t in result.targets] == [
        ("conv", "channel", (3, 1), ("default",), False), ("out", "unit", (0, 1, 2), ("first", "second"), True)]
    assert len(result.jobs) == 2 + 3 * 2
    assert [j.setting_name for j in result.jobs_of(result.targets[1], "second")] == ["second"] * 3


def test_every_layer_gets_a_settings_page_and_every_model_a_depth_page(tmp_path: Path) -> None:
    result = planned(tmp_path, activation_max=[{"model": "net", "layer": "conv"}, {"model": "net", "layer": "out"}])
    pages = {c.page: c for c in result.layer_pages}
    assert set(pages) == {"net/conv/compare.html", "net/out/compare.html", "net/depth.html"}
    depth = pages["net/depth.html"]
    assert [row.label for row in depth.rows] == ["conv", "out"] and depth.home == "net" and depth.layer is None
    assert [cell.filter for cell in depth.rows[1].cells] == [0, 1, 2]
    out = pages["net/out/compare.html"]
    assert [row.label for row in out.rows] == ["0 cat", "1 dog", "2 bird"] and out.layer == "out"


def test_attribution_defaults_to_the_models_cam_layer_and_reads_class_names(tmp_path: Path) -> None:
    result = planned(tmp_path, images={"x": "sample:coffee"},
                     attribution=[{"model": "net", "images": ["x"], "classes": ["dog", 0]}],
                     feature_maps=[{"model": "net", "images": ["x"]}])
    (job,) = result.attributions
    assert (job.target_layer, job.detected, job.classes) == ("pool", True, (1, 0))
    assert result.features[0].layers == ("conv", "pool")  # `layers: all`, less the 1x1 gate
    assert result.sanity[0].target == 1


@pytest.mark.parametrize("sections, message", [
    ({"activation_max": [{"model": "net", "layer": "input"}]}, "layer 'input' (InputLayer, output (None, 8, 8, 1)) has no"),
    ({"activation_max": [{"model": "net", "layer": "cnv"}]}, "model 'net' has no layer 'cnv' (did you mean 'conv'?)"),
    ({"activation_max": [{"model": "net", "layer": "out", "filters": [3]}]}, "filter 3 is out of range"),
    ({"images": {"x": "sample:coffee"}, "feature_maps": [{"model": "net", "images": ["x"], "layers": ["out"]}]},
     "layer 'out' has no spatial (rank-4) output"),
    ({"activation_max": [{"model": "net", "layer": "out"}], "site": {"highlight": {"net": {"layer": "conv"}}}},
     "model 'net' renders no layer 'conv'"),
    ({"activation_max": [{"model": "net", "layer": "out"}], "site": {"highlight": {"nte": {}}}},
     "no model 'nte' (did you mean 'net'?)"),
    ({"activation_max": [{"model": "net", "layer": "out"}], "site": {"highlight": {"net": {"setting": "clear"}}}},
     "net/out is not rendered under setting 'clear' (rendered: default)"),
])
def test_names_the_network_lacks_are_config_errors(tmp_path: Path, sections: dict[str, object], message: str) -> None:
    with pytest.raises(GalleryError, match=re.escape(message)):
        planned(tmp_path, **sections)


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
    ("sample:chelsea", "photos", ":6: images.cat: photos: a folder, not an image file: write {dir: photos}"),
    ("    images: [cat]\nattribution", "    images: [cat]\n    layers: [dense_1]\nattribution",
     ":10: feature_maps[0].layers[0]: layer 'dense_1' has no spatial (rank-4) output"),
])
def test_image_config_errors_name_file_and_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    (tmp_path / "photos").mkdir()
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
    assert attribution.classes == (3, 1) and attribution.top is None and attribution.methods == tuple(DEFAULT_METHODS)


def test_a_folder_is_each_of_its_images_with_names_from_their_files(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    for name in ("b cat.png", "a.jpg", "more/c.png", "index.png", "a.png"):
        Image.new("RGB", (30, 20), (10, 200, 30)).save(photos / name)
    (photos / "notes.txt").write_text("not an image")
    path = tmp_path / "good.yaml"
    path.write_text(BASE.replace("images:\n", "images:\n  photos: {dir: photos, limit: 4}\n").replace(
        "    images: [cat]\n    classes: [digit 3, 1]", "    images: [photos]\n    classes: [digit 3, 1]"))
    _, plan = build.check(path)
    assert plan.folders == {"photos": ("photos/a", "photos/a-2", "photos/b-cat", "photos/index-2")}
    assert [job.image for job in plan.attributions] == list(plan.folders["photos"])
    assert plan.images["photos/a-2"] == str(photos / "a.png") and "photos/more/c" not in plan.images  # the limit


def test_an_unreadable_file_in_a_folder_is_skipped_with_a_warning_and_the_next_one_taken(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "c.png"):
        Image.new("RGB", (30, 20), (10, 200, 30)).save(photos / name)
    (photos / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 an iPhone photo renamed from .heic")
    path = tmp_path / "good.yaml"
    path.write_text(BASE.replace("images:\n", "images:\n  photos: {dir: photos, limit: 2}\n").replace(
        "    images: [cat]\n    classes: [digit 3, 1]", "    images: [photos]\n    classes: [digit 3, 1]"))
    _, plan = build.check(path)
    assert plan.folders == {"photos": ("photos/a", "photos/c")}
    assert "skipping 1 unreadable image in" in caplog.text and "b.jpg" in caplog.text


def test_folder_names_keep_their_letters_and_never_differ_only_in_case(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("niño foto.png", "A.png", "a.jpg"):
        Image.new("RGB", (30, 20)).save(photos / name)
    path = tmp_path / "good.yaml"
    path.write_text(BASE.replace("images:\n", "images:\n  photos: {dir: photos}\n  Cat: sample:chelsea\n"))
    with pytest.raises(GalleryError, match="images.cat: 'cat' and 'Cat' differ only in case"):
        build.check(path)
    path.write_text(BASE.replace("images:\n", "images:\n  photos: {dir: photos}\n").replace(
        "    images: [cat]\n    classes: [digit 3, 1]", "    images: [photos]\n    classes: [digit 3, 1]"))
    _, plan = build.check(path)
    assert plan.folders["photos"] == ("photos/A", "photos/a-2", "photos/nino-foto")


def test_an_empty_or_missing_folder_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("images:\n", "images:\n  photos: {dir: empty}\n  gone: {dir: nowhere}\n"))
    with pytest.raises(GalleryError) as error:
        build.check(path)
    lines = str(error.value).splitlines()
    assert any("images.photos.dir: no readable images in folder empty" in line for line in lines)
    assert any("images.gone.dir: folder not found: nowhere" in line for line in lines)
