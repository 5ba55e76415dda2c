"""The Python API: the same pictures as a build, the same cache and the same one-line errors, results
that show themselves, and every public name documented."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import REPO, MnistAtlas
from PIL import Image

import gallery
from gallery import config, plan


def test_every_public_name_is_documented_and_import_is_light() -> None:
    text = (REPO / "docs" / "api.md").read_text()
    for name in gallery.__all__:
        assert f"gallery.{name}" in text, name
    code = "import gallery, sys; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_visualize_gives_the_builds_pictures_byte_for_byte(mnist_atlas: MnistAtlas, tmp_path: Path) -> None:
    """Rendered anew (no cache; the same filters as the config, so the same batches) and read from the
    build's cache: both the site's pictures, pixel for pixel."""
    net = gallery.load_model("mnist_cnn", epochs=12, batch_size=128, cache=mnist_atlas.cache)
    clear = {"tv_weight": 100, "lp_norm_weight": 5, "lp_p": 1, "jitter": 2}
    fresh = gallery.visualize(net, "preds", setting=clear, cache=None)
    cached = gallery.visualize(net, "preds", setting=clear, cache=mnist_atlas.cache)
    assert fresh.rendered == 10 and cached.rendered == 0
    for index, digit in enumerate(range(10)):
        site = np.asarray(Image.open(mnist_atlas.site / f"mnist/preds/img/{digit}-clear.png"))
        np.testing.assert_array_equal(fresh.images[index][..., 0], site)
        np.testing.assert_array_equal(cached.images[index][..., 0], site)
    assert fresh.statuses == cached.statuses and fresh.activations == pytest.approx(cached.activations)
    assert all(ratio > 1 for ratio in cached.ratios)


def test_results_show_themselves_and_save(mnist_atlas: MnistAtlas, tmp_path: Path) -> None:
    net = gallery.load_model("mnist_cnn", epochs=12, batch_size=128, cache=mnist_atlas.cache)
    digits = gallery.visualize(net, "preds", filters=[0, 1, 2], cache=mnist_atlas.cache)
    page = digits._repr_html_()
    assert page.count("<img") == 3 and "digit 0" in page and "data:image/png;base64," in page
    grid = Image.open(io.BytesIO(digits._repr_png_()))
    assert grid.size[0] >= 2 * 28 and grid.mode == "RGB"
    assert len(list(digits.save(tmp_path / "digits").glob("*.png"))) == 3
    assert digits.save(tmp_path / "digits.png").is_file()
    assert len(digits.figure().axes) == 3
    maps = gallery.attribute(net, REPO / "configs" / "images" / "digit7.png", classes=2, methods=["gradcam"],
                             cache=mnist_atlas.cache)
    assert maps.classes[0] == 7 and "Grad-CAM" in maps._repr_html_()
    assert repr(maps) == f"<gallery.Attributions {maps.title}: 2 pictures>"  # no arrays dumped by print()
    assert maps.to_numpy().shape == (2, 1, 28, 28)
    twice = gallery.attribute(net, REPO / "configs" / "images" / "digit7.png", classes=1,
                              methods=["gradcam", "saliency", "gradcam"], cache=mnist_atlas.cache)
    assert twice.methods == ["gradcam", "saliency"] and twice.to_numpy().shape == (1, 2, 28, 28)
    features = gallery.feature_maps(net, "sample:coffee", layers=["conv2d_1"], cache=mnist_atlas.cache)
    assert features.layers == ["conv2d_1"] and features.to_numpy()["conv2d_1"].ndim == 3


@pytest.mark.parametrize("call, says", [
    (lambda net: gallery.visualize(net, "pred"), "no layer 'pred' (did you mean 'preds'?)"),
    (lambda net: gallery.visualize(net, "preds", tv_wieght=1), "tv_wieght: unknown key 'tv_wieght' (did you mean"),
    (lambda net: gallery.visualize(net, "preds", steps=True), "steps"),
    (lambda net: gallery.visualize(net, "preds", filters=[10]), "filter 10 is out of range"),
    (lambda net: gallery.visualize(net, "preds", setting="lucdi"), "no preset 'lucdi' (did you mean 'lucid'?)"),
    (lambda net: gallery.attribute(net, "sample:coffee", methods=["gradcm"]), "did you mean 'gradcam'"),
    (lambda net: gallery.attribute(net, "sample:coffee", methods=[]), "methods: give one or more of saliency, smoothgrad"),
    (lambda net: gallery.attribute(net, "sample:coffee", methods=[["gradcam"]]), "methods: names of attribution"),
    (lambda net: gallery.load_model("nowhere.keras"), "model file not found"),
    (lambda net: gallery.load_model("mnist_cnnn"), "no builtin model or model file 'mnist_cnnn' (did you mean "
                                                   "'mnist_cnn'?)"),
    (lambda net: gallery.visualize(object(), "preds"), "a model is a gallery.Model, a Keras model"),
    (lambda net: gallery.visualize(net, "preds", filters=[10]), "has 10 (0-9)"),
    (lambda net: gallery.sanity_check(net, "sample:coffee", target=10), "no class 10 (classes 0-9, or digit 0"),
    (lambda net: gallery.attribute(net, "sample:coffee", classes="digit 11"), "no class 'digit 11'"),
])
def test_errors_are_one_line(mnist_atlas: MnistAtlas, call: object, says: str) -> None:
    net = gallery.load_model("mnist_cnn", epochs=12, batch_size=128, cache=mnist_atlas.cache)
    with pytest.raises(gallery.GalleryError) as error:
        call(net)  # type: ignore[operator]
    assert says in str(error.value) and "\n" not in str(error.value) and "(python)" not in str(error.value)


def test_atlas_from_a_dict_validates_and_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its paths are relative to the working directory, as a notebook's are; no file is written for it."""
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3, name="c")(inputs)))
    keras.Model(inputs, outputs).save(tmp_path / "net.keras")
    config = {"models": [{"id": "net", "source": "file", "path": "net.keras"}],
              "settings": {"quick": {"steps": 2}},
              "activation_max": [{"model": "net", "layer": "c", "settings": ["quick"]}]}
    atlas = gallery.Atlas(config)
    assert len(atlas.validate().jobs) == 3
    summary = atlas.build(out=tmp_path / "site", cache=tmp_path / "cache")
    assert summary.rendered == 3 and re.search(r"rendered 3, cached 0", summary.line())
    assert not list((tmp_path / "cache").glob("*.yaml"))
    with pytest.raises(gallery.GalleryError, match="activation_max\\[0\\].layre: unknown key"):
        gallery.Atlas({**config, "activation_max": [{"model": "net", "layre": "c"}]}).validate()
    with pytest.raises(gallery.GalleryError, match="working directory.*e.g. out='site'") as refused:
        atlas.build(out=".", cache=tmp_path / "cache")  # an error names the argument to change, not a CLI option
    assert "--site" not in str(refused.value)


def test_filters_take_the_configs_forms_and_one_index(tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(5, 3, name="c")(inputs)))
    net = gallery.load_model(keras.Model(inputs, outputs))
    quick = {"steps": 2}
    assert gallery.visualize(net, "c", "all", quick, cache=None).filters == [0, 1, 2, 3, 4]
    drawn = gallery.visualize(net, "c", {"random": 2, "seed": 3}, quick, cache=None).filters
    assert drawn == plan.random_filters(config.RandomFilters(random=2, seed=3), 5) and len(drawn) == 2
    assert gallery.visualize(net, "c", 4, quick, cache=None).filters == [4]
    assert gallery.visualize(net, "c", np.int64(4), quick, cache=None).filters == [4]  # np.argmax's kind
    for wrong, says in (("al", "is not 'all', a filter index"), ([1.5], "is not 'all'"),
                        ({"random": 0}, "filters: random: Input should be greater than or equal to 1")):
        with pytest.raises(gallery.GalleryError, match=re.escape(says)) as error:
            gallery.visualize(net, "c", wrong, quick, cache=None)
        assert "\n" not in str(error.value)
    photos = [np.full((12, 12, 3), value, np.uint8) for value in (0, 128, 255)]
    examples = gallery.dataset_examples(net, "c", images=photos, filters={"random": 2, "seed": 3}, k=2)
    assert examples.filters == drawn and [found.crops.shape[0] for found in examples.examples] == [2, 2]
    folder = tmp_path / "photos"
    folder.mkdir()
    for value in (0, 255):
        Image.new("RGB", (12, 12), (value, value, value)).save(folder / f"{value}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a photo")  # skipped, as a config's folder skips it
    from_folder = gallery.dataset_examples(net, "c", images=folder, filters=[0], k=3)
    assert from_folder.examples[0].crops.shape[0] == 2
    np.save(folder / "four.npy", np.zeros((12, 12, 4), np.float32))  # reads, but is not this model's input
    with pytest.raises(gallery.GalleryError, match=r"four\.npy: a \.npy image of shape \(12, 12, 4\)"):
        gallery.dataset_examples(net, "c", images=folder, filters=[0], k=3)


def test_a_keras_model_object_takes_the_keys_a_model_file_takes(tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu", name="c")(inputs))
    network = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x))
    (tmp_path / "labels.txt").write_text("apple\nbanana\ncherry\n")
    (tmp_path / "photos").mkdir()
    for value in (30, 200):
        Image.new("RGB", (12, 12), (value, 255 - value, 90)).save(tmp_path / "photos" / f"{value}.png")
    photo = np.full((12, 12, 3), 200, np.uint8)
    plain = gallery.load_model(network)
    caffe = gallery.load_model(network, preprocess={"mode": "caffe"}, labels=str(tmp_path / "labels.txt"),
                               data=tmp_path / "photos")
    assert caffe.input_range == (0.0, 255.0) and plain.input_range == (0.0, 1.0)
    assert caffe.caption("out", 1) == "1 banana"
    assert caffe._loaded.test_images is not None and len(caffe._loaded.test_images) == 2
    assert not np.allclose(gallery.attribute(caffe, photo, 3, "gradcam").probabilities,
                           gallery.attribute(plain, photo, 3, "gradcam").probabilities)
    maps = gallery.attribute(caffe, photo, [1], ["gradcam", "gradcam_plus_plus"])
    assert sorted(p.name for p in maps.save(tmp_path / "maps").glob("*.png")) == [
        "000-Grad-CAM_1_banana.png", "001-Grad-CAMplusplus_1_banana.png"]
    with Image.open(maps.save(tmp_path / "maps.png")) as grid:  # the labelled figure, not a bare strip
        assert grid.size[1] > 2 * 12
    for call, says in ((lambda: gallery.load_model(network, preprocess={"bogus": 1}), "preprocess.bogus: unknown key"),
                       (lambda: gallery.load_model(network, epochs=3), "epochs: only a builtin model trains"),
                       (lambda: gallery.load_model("mnist_cnn", preprocess={"mode": "tf"}),
                        "preprocess: builtin model 'mnist_cnn' has its own"),
                       (lambda: gallery.attribute(plain, photo, 0), "classes=0"),
                       (lambda: gallery.Atlas(42), "an atlas is a config file's path or a dict")):
        with pytest.raises(gallery.GalleryError, match=re.escape(says)) as error:
            call()
        assert "\n" not in str(error.value)
