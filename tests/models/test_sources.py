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
    assert line.startswith(f"error: {path}:4: models[0].path: cannot load lambda.keras:")
    assert "safe_mode" in line


def test_unknown_application(tmp_path: Path) -> None:
    path = write_config(tmp_path, "    source: keras_applications\n    name: VGG17\n    weights: null", "block1_conv1")
    assert one_line_error(path) == (f"error: {path}:4: models[0].name: keras.applications has no model 'VGG17' "
                                    "(did you mean 'VGG19'?)")


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
