"""Training data for the builtins: image folders checked before TensorFlow sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_image_folder, one_line_error, write_config

from gallery import datasets
from gallery.errors import GalleryError
from gallery.models import builtins


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
    folder = datasets.image_folder(root, builtins.CATSDOGS_CLASSES)
    assert sorted(p.name for p in folder.skipped) == ["cat.broken.jpg", "dog.truncated.jpg"]
    assert len(folder.files["train"]) == 12 and "unreadable image" in caplog.text and len(caplog.records) == 1


def test_data_error_type() -> None:
    with pytest.raises(GalleryError, match="data folder not found"):
        datasets.image_folder(Path("/nonexistent/$UNSET_VARIABLE"), ("a", "b"))
