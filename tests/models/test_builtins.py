"""The builtin networks: the report's cats-vs-dogs CNN from a folder, EfficientNet-Lite0's labels, cached training."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO, make_image_folder, offline_copy, write_config

from gallery import build, config, models
from gallery.cli import main

SHARED_CATSDOGS = REPO.parent / "shared" / "data" / "cats_and_dogs_small"


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
    data = yaml.safe_load(text)
    data["models"][0]["data"] = {"dir": "${CATSDOGS_DIR}", "limit": 40}
    data["settings"] = {name: {**(values or {}), "steps": 5} for name, values in data["settings"].items()}
    data["settings"]["default"] = {"steps": 5}
    source.write_text(yaml.safe_dump(data))
    summary = build.run(source, tmp_path / "site", tmp_path / "cache")
    assert summary.rendered == 82 + 3  # and the cat photo's feature maps, attribution and sanity check
    assert "test accuracy" in (tmp_path / "site" / "catsdogs" / "index.html").read_text()


def test_imagenet_offline_config_labels_units_with_class_names(tmp_path: Path) -> None:
    """configs/imagenet-offline.yaml, cut to its output units and 2 steps, builds with no network."""
    source = REPO / "configs" / "imagenet-offline.yaml"
    assert CliRunner().invoke(main, ["validate", str(source)]).exit_code == 0
    data = yaml.safe_load(source.read_text())
    data["settings"] = {"default": {"steps": 2}}
    data["activation_max"] = [{**entry, "settings": ["default"]} for entry in data["activation_max"]
                              if entry["layer"] == "logits"]
    data["feature_maps"], data["attribution"], data["compare"] = [], [], []  # tested elsewhere
    config_path = tmp_path / "imagenet-offline.yaml"
    config_path.write_text(yaml.safe_dump(data))
    summary = build.run(config_path, tmp_path / "site", tmp_path / "cache")
    assert summary.rendered == 5
    page = (tmp_path / "site" / "efficientnet_lite0" / "logits" / "filter-282.html").read_text()
    assert "unit 282 tiger cat" in page
    layer_page = (tmp_path / "site" / "efficientnet_lite0" / "logits" / "index.html").read_text()
    assert "967 espresso" in layer_page
