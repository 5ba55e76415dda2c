"""Model sources: files loaded in safe mode, keras.applications with their preprocessing in the graph, errors."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REPO, one_line_error, write_config
from PIL import Image

from gallery import build, config, models
from gallery.cli import main


def test_corrupt_model_file(tmp_path: Path) -> None:
    (tmp_path / "broken.keras").write_bytes(b"PK\x03\x04 this is no model")
    path = write_config(tmp_path, "    source: file\n    path: broken.keras", "conv")
    assert one_line_error(path) == (f"error: {path}:4: models[0].path: broken.keras: not a Keras model file "
                                    "(a .keras file is a zip archive; this one is not)")


def test_lambda_layer_refused_under_safe_mode(tmp_path: Path) -> None:
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Conv2D(2, 3, name="conv")(keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    path = write_config(tmp_path, "    source: file\n    path: lambda.keras", "conv")
    line = one_line_error(path)
    assert line.startswith(f"error: {path}:4: models[0].path: cannot load lambda.keras: it has a Lambda layer")
    assert "safe_mode=False" in line and "gallery.load_model in Python" in line


def test_unknown_application(tmp_path: Path) -> None:
    path = write_config(tmp_path, "    source: keras_applications\n    name: VGG17\n    weights: null", "block1_conv1")
    assert one_line_error(path) == (f"error: {path}:4: models[0].name: keras.applications has no model 'VGG17' "
                                    "(did you mean 'VGG19'?)")


def test_a_reference_folder_that_is_not_there_is_found_by_validate(tmp_path: Path) -> None:
    inputs = keras.Input((8, 8, 1))
    keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs)).save(tmp_path / "net.keras")
    path = write_config(tmp_path, "    source: file\n    path: net.keras\n    data: {dir: nodata}", "conv")
    assert one_line_error(path) == f"error: {path}:5: models[0].data.dir: folder not found: nodata"


def binary_model(folder: Path) -> Path:
    """A Sequential cats-vs-dogs CNN as Keras books write it: no Input layer, one sigmoid unit, .h5."""
    model = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu", input_shape=(16, 16, 3), name="conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, activation="sigmoid")])
    model.save(folder / "binary.h5")
    return folder / "binary.h5"


@pytest.mark.parametrize("first", [[], [keras.layers.Resizing(12, 12), keras.layers.RandomFlip()]])
def test_a_model_that_rescales_its_own_input_takes_pixels_0_to_255(tmp_path: Path, first: list) -> None:
    """Keras's tutorials start with Rescaling(1./255): gallery feeds such a model 0-255 pixels, which is
    what it predicts on, not 0-1 (which it would see as black)."""
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Rescaling(1 / 255)(keras.Sequential(first)(inputs) if first else inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x))
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)).save(tmp_path / "rescaling.keras")
    loaded = config.load(write_config(tmp_path, "    source: file\n    path: rescaling.keras", "conv"))
    model = models.load(loaded.config.models[0], loaded, tmp_path / "cache")
    assert model.input_range == (0.0, 255.0)
    pixels = np.random.default_rng(0).integers(0, 256, (12, 12, 3)).astype(np.uint8)
    np.testing.assert_allclose(model.input_of(pixels), pixels.astype(np.float32), atol=0.5)
    explicit = config.load(write_config(tmp_path, "    source: file\n    path: rescaling.keras\n"
                                                  "    input_range: [0, 1]", "conv"))
    assert models.load(explicit.config.models[0], explicit, tmp_path / "cache").input_range == (0.0, 1.0)


def test_a_sigmoid_unit_takes_its_two_classes_names_and_explains_either(tmp_path: Path) -> None:
    binary_model(tmp_path)
    Image.new("RGB", (16, 16)).save(tmp_path / "cat.png")
    path = write_config(tmp_path, "    source: file\n    path: binary.h5\n    labels: [cat, dog]", "conv")
    path.write_text(path.read_text() + "images: {cat: cat.png}\n"
                                       "attribution:\n  - {model: net, images: [cat], classes: [cat, dog]}\n")
    _, plan = build.check(path)
    info = plan.models["net"]
    assert plan.attributions[0].classes == (0, 1) and info.classes == 2
    assert [info.class_caption(0), info.class_caption(1), info.caption(info.output.name, 0)] == ["0 cat", "1 dog",
                                                                                                  "0 dog"]
    path.write_text(path.read_text().replace("[cat, dog]", "[cat, dog, fox]", 1))
    assert one_line_error(path) == (f"error: {path}:5: models[0].labels: 3 names for the 1 unit of the output "
                                    "(a single unit takes 1 name, or 2: its opposite class, then its own)")
    listed = CliRunner().invoke(main, ["layers", str(path)])  # the command that helps mend it still works
    assert listed.exit_code == 0 and "conv" in listed.output


def test_an_array_image_that_is_not_the_models_input_is_found_by_validate(tmp_path: Path) -> None:
    binary_model(tmp_path)
    np.save(tmp_path / "four.npy", np.zeros((16, 16, 4), np.float32))
    path = write_config(tmp_path, "    source: file\n    path: binary.h5", "conv")
    path.write_text(path.read_text() + "images: {four: four.npy}\nfeature_maps:\n  - {model: net, images: [four]}\n")
    assert one_line_error(path) == (f"error: {path}:11: images.four: four.npy: a .npy image of shape [16, 16, 4] "
                                    "for model 'net', whose input is [16, 16, 3]")


def test_file_model_builds_offline(tmp_path: Path) -> None:
    inputs = keras.Input((10, 12, 3))
    outputs = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    keras.Sequential([inputs, keras.layers.Conv2D(3, 3, activation="relu", name="conv")]).save(tmp_path / "seq.keras")
    keras.Model(inputs, outputs).save(tmp_path / "func.keras")
    for name in ("seq", "func"):
        path = write_config(tmp_path, f"    source: file\n    path: {name}.keras", "conv", "all")
        summary = build.run(path, tmp_path / f"site-{name}", tmp_path / "cache")
        assert summary.rendered == 3
        assert Image.open(tmp_path / f"site-{name}" / "net" / "conv" / "img" / "2-default.png").size == (12, 10)


@pytest.mark.parametrize("name, layer, units", [("VGG16", "block5_conv3", 512), ("ResNet50", "conv5_block3_out", 2048)])
def test_report_configs_validate_and_build_with_random_weights(tmp_path: Path, name: str, layer: str, units: int) -> None:
    """configs/vgg16.yaml and resnet50.yaml with weights: null, a tiny input and 2 steps (offline)."""
    source = REPO / "configs" / f"{name.lower()}.yaml"
    assert CliRunner().invoke(main, ["validate", str(source)]).exit_code == 0
    loaded = config.load(source)
    network = models.network(loaded.config.models[0], loaded)
    assert network.get_layer(layer).output.shape[-1] == units
    assert network.get_layer("pixels").output.shape[1:] == (224, 224, 3)
    path = write_config(tmp_path, f"    source: keras_applications\n    name: {name}\n    weights: null\n"
                                  "    input_shape: [64, 64, 3]", layer, "[1, 2]")
    summary = build.run(path, tmp_path / "site", tmp_path / "cache")
    assert summary.rendered == 2
    assert Image.open(tmp_path / "site" / "net" / layer / "img" / "1-default.png").mode == "RGB"


def test_attribution_of_an_application_without_its_classifier_is_one_line(tmp_path: Path) -> None:
    """With input_shape, an application is built without its top: no class scores to explain."""
    Image.new("RGB", (32, 32)).save(tmp_path / "cat.png")
    path = write_config(tmp_path, "    source: keras_applications\n    name: VGG16\n    weights: null\n"
                                  "    input_shape: [32, 32, 3]", "block1_conv1")
    path.write_text(path.read_text() + "images: {cat: cat.png}\nattribution:\n  - {model: net, images: [cat]}\n")
    assert one_line_error(path) == (
        f"error: {path}:15: attribution[0].model: model 'net' ends in a (None, 1, 1, 512) output ('block5_pool'), "
        "not one score per class: attribution explains a classifier's scores (keras_applications with "
        "input_shape is built without its classifier)")


@pytest.mark.parametrize("input_shape, side", [(None, 224), ((96, 96, 3), 96)])
def test_mobilenet_v3_leaves_its_input_size_free_and_still_builds(input_shape: tuple | None, side: int) -> None:
    """MobileNetV3's own input is (None, None, 3), and its public module does not re-export it."""
    spec = config.ApplicationModel(id="m", source="keras_applications", name="MobileNetV3Small", weights=None,
                                   input_shape=input_shape)
    network = models.network(spec, config.LoadedConfig(Path("x.yaml"), config.Config(models=[spec]), {}))
    assert network.inputs[0].shape[1:] == (side, side, 3)
    assert network.get_layer("expanded_conv_project").output.shape[-1] == 16


def test_an_applications_layer_names_do_not_depend_on_what_was_built_before() -> None:
    """Keras numbers unnamed layers (re_lu_14) per process: validate, build and `gallery layers` must agree.
    MobileNetV3's own logits are a 1x1 map, so its CAM layer is the last map with more than one position."""
    spec = config.ApplicationModel(id="m", source="keras_applications", name="MobileNetV3Small", weights=None)
    loaded = config.LoadedConfig(Path("x.yaml"), config.Config(models=[spec]), {})
    first = [layer.name for layer in models.network(spec, loaded).layers]
    keras.Sequential([keras.Input((4, 4, 1)), keras.layers.ReLU(), keras.layers.Activation("relu")])  # more names
    assert [layer.name for layer in models.network(spec, loaded).layers] == first
    info = models.architecture(spec, loaded)
    assert info.attribution_layer is not None and info.layer(info.attribution_layer).output_shape[1:3] == (7, 7)


def test_application_preprocessing_is_inside_the_graph() -> None:
    """Pixels go in: VGG16's own caffe preprocessing (BGR, mean subtracted) runs in the model."""
    spec = config.ApplicationModel(id="v", source="keras_applications", name="VGG16", weights=None,
                                   input_shape=(32, 32, 3))
    loaded = config.LoadedConfig(Path("x.yaml"), config.Config(models=[spec]), {})
    network = models.network(spec, loaded)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    inner = keras.Model(network.inputs, network.get_layer("block1_conv1").input)
    expected = keras.applications.vgg16.preprocess_input(pixels.copy())
    np.testing.assert_allclose(inner.predict(pixels, verbose=0), expected, rtol=1e-5, atol=1e-3)


def test_validate_says_imagenet_weights_are_a_download_of_the_build(tmp_path: Path) -> None:
    path = write_config(tmp_path, "    source: keras_applications\n    name: MobileNetV2\n    weights: imagenet\n"
                                  "    input_shape: [96, 96, 3]", "Conv1")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "net: ImageNet weights are downloaded by the first build" in result.output


def test_a_changed_preprocess_is_a_changed_network_for_the_cache(tmp_path: Path) -> None:
    """Preprocessing layers have no weights: the cache keys must still tell caffe from tf."""
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs)).save(tmp_path / "net.keras")
    found = {}
    for mode in ("caffe", "tf", None):
        preprocess = f"\n    preprocess: {{mode: {mode}}}" if mode else ""
        loaded = config.load(write_config(tmp_path, f"    source: file\n    path: net.keras{preprocess}", "conv"))
        found[mode] = models.load(loaded.config.models[0], loaded, tmp_path / "cache")
    assert found["caffe"].weights_hash == found["tf"].weights_hash == found[None].weights_hash
    assert len({model.computation for model in found.values()}) == 3
    assert found[None].computation == found[None].weights_hash  # caches of models without preprocess stay valid
