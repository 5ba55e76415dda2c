"""Models and their data: what loads, what trains, and the one-line errors for what does not."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import REPO, offline_copy
from gallery import build, config, datasets, models
from gallery.cli import main
from gallery.errors import GalleryError

SHARED_CATSDOGS = REPO.parent / "shared" / "data" / "cats_and_dogs_small"


def write_config(folder: Path, model_lines: str, layer: str, filters: str = "[0]") -> Path:
    path = folder / "atlas.yaml"
    path.write_text(f"""\
models:
  - id: net
{model_lines}
settings:
  default: {{steps: 3}}
activation_max:
  - model: net
    layer: {layer}
    filters: {filters}
""")
    return path


def one_line_error(path: Path, command: str = "validate") -> str:
    result = CliRunner().invoke(main, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    return result.output.strip()


def make_image_folder(root: Path, per_class: int = 6, corrupt: bool = False) -> Path:
    rng = np.random.default_rng(0)
    for split in datasets.SPLITS:
        for label, name in enumerate(models.CATSDOGS_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
                pixels[..., label * 2] = 255  # cats red, dogs blue: learnable
                Image.fromarray(pixels).save(folder / f"{name}.{i}.jpg")
    if corrupt:
        (root / "train" / "cats" / "cat.broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        good = (root / "train" / "dogs" / "dogs.0.jpg").read_bytes()
        (root / "train" / "dogs" / "dog.truncated.jpg").write_bytes(good[: len(good) // 2])
    return root


def test_corrupt_model_file(tmp_path: Path) -> None:
    (tmp_path / "broken.keras").write_bytes(b"PK\x03\x04 this is no model")
    path = write_config(tmp_path, "    source: file\n    path: broken.keras", "conv")
    assert one_line_error(path).startswith(f"error: {path}:4: models[0].path: cannot load broken.keras:")


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
    assert one_line_error(path) == f"error: {path}:4: models[0].name: keras.applications has no model 'VGG17'"


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
    network = models.architecture(loaded.config.models[0], loaded)
    assert network.get_layer(layer).output.shape[-1] == units
    assert network.get_layer("pixels").output.shape[1:] == (224, 224, 3)
    path = write_config(tmp_path, f"    source: keras_applications\n    name: {name}\n    weights: null\n"
                                  "    input_shape: [64, 64, 3]", layer, "[1, 2]")
    summary = build.run(path, tmp_path / "site", tmp_path / "cache")
    assert summary.rendered == 2
    assert Image.open(tmp_path / "site" / "net" / layer / "img" / "1-default.png").mode == "RGB"


def test_application_preprocessing_is_inside_the_graph() -> None:
    """Pixels go in: VGG16's own caffe preprocessing (BGR, mean subtracted) runs in the model."""
    spec = config.ModelSpec(id="v", source="keras_applications", name="VGG16", weights=None, input_shape=(32, 32, 3))
    loaded = config.LoadedConfig(Path("x.yaml"), config.Config(models=[spec]), {})
    network = models.architecture(spec, loaded)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    inner = keras.Model(network.inputs, network.get_layer("block1_conv1").input)
    expected = keras.applications.vgg16.preprocess_input(pixels.copy())
    np.testing.assert_allclose(inner.predict(pixels, verbose=0), expected, rtol=1e-5, atol=1e-3)


def test_image_folder_errors_name_the_config_line(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "data")
    for path in (root / "test" / "dogs").iterdir():
        path.unlink()
    config_path = write_config(tmp_path, "    source: builtin\n    builtin: catsdogs_cnn\n    data: {dir: data}\n"
                                         "    train: {epochs: 1, batch_size: 4}", "conv2d_5")
    assert one_line_error(config_path, "build") == (
        f"error: {config_path}:5: models[0].data: no readable images (.jpg, .jpeg, .png) in {root / 'test' / 'dogs'}")
    (root / "test" / "dogs").rmdir()
    assert "has no test/dogs/ folder" in one_line_error(config_path, "build")


def test_corrupt_jpegs_are_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_image_folder(tmp_path / "data", corrupt=True)
    folder = datasets.image_folder(root, models.CATSDOGS_CLASSES)
    assert sorted(p.name for p in folder.skipped) == ["cat.broken.jpg", "dog.truncated.jpg"]
    assert len(folder.files["train"]) == 12 and "skipping unreadable image" in caplog.text


def test_catsdogs_trains_from_a_folder_and_is_cached(tmp_path: Path) -> None:
    make_image_folder(tmp_path / "data", per_class=8, corrupt=True)
    config_path = write_config(tmp_path, "    source: builtin\n    builtin: catsdogs_cnn\n    data: {dir: data}\n"
                                         "    train: {epochs: 2, batch_size: 8}", "dense_4")
    summary = build.run(config_path, tmp_path / "site", tmp_path / "cache")
    assert summary.rendered == 1
    page = (tmp_path / "site" / "net" / "index.html").read_text()
    assert "test accuracy" in page and "val_accuracy" in page
    assert len(list((tmp_path / "cache" / "models").glob("catsdogs_cnn-*.keras"))) == 1
    loaded = config.load(config_path)
    again = models.load(loaded.config.models[0], loaded, tmp_path / "cache")  # from the cache
    assert len(again.history["accuracy"]) == 2 and again.test_images is not None


@pytest.mark.skipif(not SHARED_CATSDOGS.is_dir(), reason="../shared/data/cats_and_dogs_small is not present")
def test_catsdogs_config_on_the_report_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """configs/catsdogs.yaml via CATSDOGS_DIR, 1 epoch on 40 images per class, 5 steps per image."""
    monkeypatch.setenv("CATSDOGS_DIR", str(SHARED_CATSDOGS))
    source = offline_copy(REPO / "configs" / "catsdogs.yaml", tmp_path)
    text = source.read_text().replace("epochs: 30", "epochs: 1")
    import yaml

    data = yaml.safe_load(text)
    data["models"][0]["data"] = {"dir": "${CATSDOGS_DIR}", "limit": 40}
    data["settings"] = {name: {**(values or {}), "steps": 5} for name, values in data["settings"].items()}
    data["settings"]["default"] = {"steps": 5}
    source.write_text(yaml.safe_dump(data))
    summary = build.run(source, tmp_path / "site", tmp_path / "cache")
    assert summary.rendered == 82 + 3  # and the cat photo's feature maps, attribution and sanity check
    assert "test accuracy" in (tmp_path / "site" / "catsdogs" / "index.html").read_text()


def test_data_error_type() -> None:
    with pytest.raises(GalleryError, match="data folder not found"):
        datasets.image_folder(Path("/nonexistent/$UNSET_VARIABLE"), ("a", "b"))


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


def test_start_from_errors(tmp_path: Path) -> None:
    base = "models:\n  - {id: net, source: builtin, builtin: mnist_cnn}\nsettings:\n"
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(base + "  second:\n    start_from: frist\n")
    assert one_line_error(unknown).endswith("settings.second.start_from: no setting 'frist' (known: default, second)")
    loop = tmp_path / "loop.yaml"
    loop.write_text(base + "  a: {start_from: b}\n  b: {start_from: a}\n")
    assert "start_from loops: a -> b -> a" in one_line_error(loop)
