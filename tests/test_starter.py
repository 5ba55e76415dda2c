"""`gallery init`: starter configs from a model's real layers that validate and build."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
from click.testing import CliRunner
from conftest import MnistAtlas

from gallery import config
from gallery.cli import main


def init(folder: Path, model: str, name: str = "atlas.yaml") -> Path:
    result = CliRunner().invoke(main, ["init", model, "-o", str(folder / name)], catch_exceptions=False)
    assert result.exit_code == 0 and result.output.startswith(f"wrote {folder / name}: "), result.output
    return folder / name


def build(path: Path, cache: Path) -> str:
    result = CliRunner().invoke(main, ["build", str(path), "--site", str(path.parent / "site"), "--cache", str(cache)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if line.strip()][-1]


def test_init_of_the_builtin_mnist_cnn_draws_each_stage_and_the_digits(mnist_atlas: MnistAtlas,
                                                                      tmp_path: Path) -> None:
    path = init(tmp_path, "mnist_cnn")
    loaded = config.load(path)
    assert [(job.layer, job.filters) for job in loaded.config.activation_max] == [
        ("conv2d_1", config.RandomFilters(random=6)), ("conv2d_2", config.RandomFilters(random=6)), ("preds", "all")]
    assert "# " in path.read_text() and loaded.config.images == {"photo": "sample:camera"}
    # trained as the session's MNIST atlas, so nothing is trained again
    text = path.read_text().replace("builtin: mnist_cnn", "builtin: mnist_cnn\n    data: {source: bundled}\n"
                                    "    train: {epochs: 12, batch_size: 128}")
    path.write_text(text)
    assert "rendered" in build(path, mnist_atlas.cache)


def test_init_of_a_saved_model_reads_its_layers(tmp_path: Path) -> None:
    inputs = keras.Input((20, 20, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="early")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="late")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(3, name="out")(x)).save(tmp_path / "mine.keras")
    path = init(tmp_path / "configs", str(tmp_path / "mine.keras"))
    loaded = config.load(path)
    assert loaded.config.models[0].path == "../mine.keras"
    assert [job.layer for job in loaded.config.activation_max] == ["early", "late", "out"]
    assert list(loaded.config.settings) == ["default", "clear"]  # a small input: keras-vis's recipe
    path.write_text(path.read_text().replace("settings:\n", "settings:\n  default: {steps: 3}\n", 1))
    assert "rendered" in build(path, tmp_path / "cache")


def test_init_picks_lucid_for_a_large_rgb_application(tmp_path: Path) -> None:
    loaded = config.load(init(tmp_path, "MobileNetV2"))
    assert loaded.config.settings["lucid"].param == "fourier"
    assert {job.settings[0] for job in loaded.config.activation_max} == {"lucid"}
    assert loaded.config.activation_max[-1].layer == "predictions"


def test_init_writes_only_a_new_file_and_names_what_it_takes(tmp_path: Path) -> None:
    (tmp_path / "atlas.yaml").write_text("mine")
    result = CliRunner().invoke(main, ["init", "mnist_cnn", "-o", str(tmp_path / "atlas.yaml")])
    assert result.exit_code == 2 and "exists" in result.output and (tmp_path / "atlas.yaml").read_text() == "mine"
    result = CliRunner().invoke(main, ["init", "ResNet51", "-o", str(tmp_path / "other.yaml")])
    assert result.exit_code == 2 and "keras.applications" in result.output and not (tmp_path / "other.yaml").exists()


@pytest.mark.slow
def test_init_of_an_application_builds(tmp_path: Path) -> None:
    path = init(tmp_path, "MobileNetV2")
    path.write_text(path.read_text().replace("weights: imagenet", "weights: null").replace(
        "preset: lucid", "preset: lucid\n    steps: 2"))
    assert "rendered" in build(path, tmp_path / "cache")


def test_layer_names_yaml_would_read_as_numbers_or_booleans_are_quoted(tmp_path: Path) -> None:
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(2, 3, name="true")(inputs)
    x = keras.layers.Conv2D(2, 3, strides=2, name="123")(x)
    x = keras.layers.Conv2D(2, 3, name="conv é: #1")(keras.layers.Conv2D(2, 3, strides=2, name="nul\x85l")(x))
    keras.Model(inputs, keras.layers.Dense(2, name="no")(keras.layers.GlobalAveragePooling2D()(x))).save(
        tmp_path / "net.keras")
    loaded = config.load(init(tmp_path, str(tmp_path / "net.keras")))
    assert [job.layer for job in loaded.config.activation_max] == ["true", "123", "nul\x85l", "conv é: #1", "no"]
