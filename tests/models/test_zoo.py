"""A zoo of models as users bring them, each built with one config: activation maximization on an
inner layer, feature maps of every layer, every attribution method, the sanity check and dataset
examples from a folder of reference images. No traceback, every page and link there, and Grad-CAM on
the models that end in global average pooling equal to the class activation map."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner
from conftest import REPO, broken_links
from PIL import Image

from gallery.cli import main
from gallery.methods import DEFAULT_METHODS

FIXTURES = REPO / "tests" / "fixtures"
L = keras.layers


def head(x: object, classes: int = 3) -> object:
    return L.Dense(classes, activation="softmax", name="classes")(L.GlobalAveragePooling2D(name="gap")(x))


def seq_in_functional() -> keras.Model:
    backbone = keras.Sequential([keras.Input((16, 16, 3)), L.Conv2D(6, 3, activation="relu", name="a"),
                                 L.Conv2D(8, 3, activation="relu", name="b")], name="backbone")
    inputs = keras.Input((16, 16, 3))
    return keras.Model(inputs, head(backbone(inputs)))


def functional_in_functional() -> keras.Model:
    inner_in = keras.Input((16, 16, 3))
    inner = keras.Model(inner_in, L.Conv2D(8, 3, activation="relu", name="b")(
        L.Conv2D(6, 3, activation="relu", name="a")(inner_in)), name="backbone")
    inputs = keras.Input((16, 16, 3))
    return keras.Model(inputs, head(inner(inputs)))


def seq_in_seq() -> keras.Model:
    model = keras.Sequential([keras.Sequential([L.Conv2D(6, 3, activation="relu", name="a"),
                                                L.Conv2D(8, 3, activation="relu", name="b")], name="backbone"),
                              L.GlobalAveragePooling2D(name="gap"), L.Dense(3, activation="softmax", name="classes")])
    model.build((None, 16, 16, 3))
    return model


def application_two_deep() -> keras.Model:
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    inputs = keras.Input((32, 32, 3))
    tuned = keras.Model(inputs, head(base(inputs)), name="tuned")
    outer_in = keras.Input((32, 32, 3))
    return keras.Model(outer_in, tuned(outer_in))


def sequential_without_input() -> keras.Model:
    model = keras.Sequential([L.Conv2D(6, 3, activation="relu", name="a"), L.MaxPooling2D(name="pool"),
                              L.Dropout(0.3, name="drop"), L.Flatten(name="flat"),
                              L.Dense(3, activation="softmax", name="classes")])
    model.build((None, 14, 14, 3))
    return model


def residual_non_square() -> keras.Model:
    inputs = keras.Input((20, 28, 3))
    x = L.Conv2D(8, 3, padding="same", name="stem")(inputs)
    y = L.BatchNormalization(name="bn")(L.Conv2D(8, 3, padding="same", name="branch")(x))
    x = L.ReLU(name="relu")(L.Add(name="add")([x, y]))
    return keras.Model(inputs, head(x))


def four_channels() -> keras.Model:
    inputs = keras.Input((16, 16, 4))
    return keras.Model(inputs, head(L.Conv2D(6, 3, activation="relu", name="a")(inputs)))


def normalized_inside() -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = L.Normalization(mean=[120.0, 110.0, 100.0], variance=[3000.0, 2900.0, 2800.0], name="norm")(
        L.Rescaling(1.0, name="rescale")(inputs))
    return keras.Model(inputs, head(L.Conv2D(6, 3, activation="relu", name="a")(x)))


def two_outputs() -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(6, 3, activation="relu", name="a")(inputs)
    return keras.Model(inputs, [head(x), L.Dense(1, name="size")(L.Flatten()(x))])


@dataclass(frozen=True)
class Zoo:
    id: str
    build: Callable[[], keras.Model] | None  # None: a committed file
    layer: str  # the inner layer whose filters are drawn
    file: str = "model.keras"
    keys: dict[str, object] = field(default_factory=dict)  # more of the model's config keys
    gap: bool = True  # ends in GlobalAveragePooling2D + Dense: Grad-CAM is the CAM


ZOO = [
    Zoo("seq-in-functional", seq_in_functional, "backbone/b"),
    Zoo("functional-in-functional", functional_in_functional, "backbone/a"),
    Zoo("seq-in-seq", seq_in_seq, "backbone/b", keys={"labels": ["cat", "dog", "bird"]}),
    pytest.param(Zoo("application-two-deep", application_two_deep, "tuned/mobilenetv2_0.35_32/block_3_expand",
                     keys={"preprocess": {"mode": "tf"}}), marks=pytest.mark.slow),  # 40 s: pytest -m slow
    Zoo("tf-keras-2-sequential-h5", None, "conv2", file="tfkeras2_sequential.h5", gap=False),
    Zoo("sequential-keras", sequential_without_input, "a", gap=False),
    Zoo("residual-bn-non-square", residual_non_square, "branch"),
    Zoo("four-channels", four_channels, "a"),
    Zoo("normalization-inside", normalized_inside, "a", keys={"input_range": [0.0, 255.0]}),
    Zoo("two-outputs", two_outputs, "a", keys={"output": "classes"}),
]


def references(folder: Path, channels: int) -> None:
    """Reference images in class subfolders and loose, RGBA for a 4-channel model, one unreadable."""
    rng = np.random.default_rng(3)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    for index in range(6):
        path = folder / ("cats" if index % 2 else "dogs") / f"{index}.png" if index < 4 else folder / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (24, 30, channels), dtype=np.uint8)
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)
    (folder / "broken.png").write_bytes(b"not an image")


@pytest.mark.parametrize("zoo", ZOO, ids=lambda zoo: zoo.id)
def test_every_feature_works_on_a_users_model(zoo: Zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keras.utils.set_random_seed(0)
    if zoo.build is None:
        shutil.copy(FIXTURES / zoo.file, tmp_path / zoo.file)
    else:
        zoo.build().save(tmp_path / zoo.file)
    channels = 1 if zoo.build is None else 4 if zoo.id == "four-channels" else 3
    references(tmp_path / "refs", channels)
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (40, 40, 4), dtype=np.uint8), "RGBA").save(
        tmp_path / "picture.png")
    (tmp_path / "atlas.yaml").write_text(yaml.safe_dump({
        "models": [{"id": "net", "source": "file", "path": zoo.file, "data": {"dir": "refs"}, **zoo.keys}],
        "settings": {"quick": {"steps": 4}},
        "images": {"picture": "picture.png"},
        "activation_max": [{"model": "net", "layer": zoo.layer, "filters": [0, 1], "settings": ["quick"]}],
        "feature_maps": [{"model": "net", "images": ["picture"], "layers": "all"}],
        "attribution": [{"model": "net", "images": ["picture"], "classes": {"top": 2}}],
    }))
    monkeypatch.chdir(tmp_path)
    layers = CliRunner().invoke(main, ["layers", "atlas.yaml"], catch_exceptions=False)
    assert layers.exit_code == 0 and zoo.layer in layers.output, layers.output
    result = CliRunner().invoke(main, ["build", "atlas.yaml", "--site", "site"], catch_exceptions=False)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    site = tmp_path / "site"
    assert broken_links(site) == []
    atlas = json.loads((site / "atlas.json").read_text())
    items = [item for item in atlas["items"] if item["layer"] == zoo.layer]
    assert len(items) == 2 and all(item["reference"] is not None for item in items)  # measured against the refs
    assert all((site / item["page"]).is_file() and (site / item["image"]).is_file() for item in items)
    features, attribution = sorted((v for v in atlas["views"]), key=lambda v: v["kind"], reverse=True)
    assert features["kind"] == "features" and len(features["layers"]) >= 1
    assert {cell for entry in attribution["classes"] for cell in entry["cells"]} == set(DEFAULT_METHODS)
    assert "re-initialised" in (site / "net" / "index.html").read_text()  # the sanity check
    examples = [item["examples"] for item in items]
    assert all(found and (site / found["image"]).is_file() and len(found["values"]) == 6 for found in examples)
    table = (site / "net" / "index.html").read_text().split('<table class="sanity">')[1].split("</table>")[0]
    sanity = {method: "passes" if "passes" in verdict else "fails" for method, verdict in
              re.findall(r'<th scope="row">([^<]+)</th>.*?<td class="verdict">(.*?)</td>', table, re.DOTALL)}
    assert set(sanity) == {"Saliency", "Grad-CAM"}
    print(f"{zoo.id}: ratios {[item['ratio'] for item in items]}, verdicts {[item['status'] for item in items]}, "
          f"attribution layer {attribution['target_layer']}, sanity check {sanity}")
    if zoo.gap:
        gradcam_is_cam(tmp_path, site, attribution)


def gradcam_is_cam(folder: Path, site: Path, attribution: dict[str, object]) -> None:
    """The class activation map (Zhou et al. 2016) from the dense weights and the target layer's maps,
    against the raw Grad-CAM the site offers: the same map (Grad-CAM's weights are CAM's over h*w)."""
    from gallery import config, models

    loaded = config.load(folder / "atlas.yaml")
    model = models.load(loaded.config.models[0], loaded, folder / "cache")
    network, layer = model.network, attribution["target_layer"].replace("/", ">")
    pixels = np.asarray(Image.open(folder / "picture.png"))
    maps = keras.Model(network.inputs, network.get_layer(layer).output)(model.input_of(pixels)[None])[0].numpy()
    kernel = network.get_layer(network.layers[-1].name).get_weights()[0]
    for entry in attribution["classes"]:
        cam = np.einsum("hwc,c->hw", maps, kernel[:, entry["index"]]) / (maps.shape[0] * maps.shape[1])
        size = model.network.inputs[0].shape[1:3]
        cam = tf.image.resize(cam[None, ..., None], size, "bilinear")[0, ..., 0].numpy()
        raw = np.load(site / entry["cells"]["gradcam"]["raw"])
        np.testing.assert_allclose(raw, cam, rtol=1e-4, atol=1e-5 * max(np.abs(cam).max(), 1e-6))
