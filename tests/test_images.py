"""Input images: read once, fed to each model as it was trained."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import MnistAtlas
from PIL import Image

from gallery import config, images, models
from gallery.output import MARKER


def test_model_input_maps_pixels_onto_the_input_range(mnist_atlas: MnistAtlas) -> None:
    loaded = config.load(mnist_atlas.config)
    model = models.LoadedModel(loaded.config.models[0], models.network(loaded.config.models[0], loaded),
                               "", (0.0, 1.0), "")
    pixels = np.zeros((56, 56, 3), np.uint8)
    pixels[:28] = 255
    seen = model.input_of(pixels)
    assert seen.shape == (28, 28, 1) and seen[0, 0, 0] == pytest.approx(1.0) and seen[-1, 0, 0] == pytest.approx(0.0)


def test_a_folder_of_images_skips_hidden_folders_and_sites_gallery_wrote(tmp_path: Path) -> None:
    for name in ("b.png", "a/c.jpg", ".thumbs/d.png", ".e.png", ".gallery-cache/renders/f.png",
                 "site/bin/g.png", "notes/h.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "site" / MARKER).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in images.image_files(tmp_path)] == ["a/c.jpg", "b.png"]


def test_reference_images_take_every_class_in_turn_and_say_what_they_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for index in range(4):
        for label, shade in (("cats", 0), ("dogs", 255)):
            (tmp_path / label).mkdir(exist_ok=True)
            Image.new("L", (8, 8), shade).save(tmp_path / label / f"{index}.png")
    (tmp_path / "cats" / "0.png").write_bytes(b"truncated")
    with caplog.at_level(logging.WARNING, logger="gallery.images"):
        pictures = images.read_folder(tmp_path, 4)
    assert [int(picture.mean()) for _, picture in pictures] == [255, 0, 255, 0]  # dogs/0, cats/1, dogs/1, cats/2
    assert [path.relative_to(tmp_path).as_posix() for path, _ in pictures] == ["dogs/0.png", "cats/1.png",
                                                                              "dogs/1.png", "cats/2.png"]
    assert "skipping 1 unreadable image in" in caplog.text and "cats/0.png" in caplog.text


def test_a_photo_is_read_upright_and_a_16_bit_png_keeps_its_gray_levels(tmp_path: Path) -> None:
    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:, :10] = 255  # stored sideways: the bar on the left is the top once turned (EXIF orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    upright = images._pixels(tmp_path / "turned.jpg")
    assert upright.shape == (80, 40, 3) and upright[:10].mean() > 240 and upright[20:].mean() < 15
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    gray = images._pixels(tmp_path / "deep.png")
    assert gray.dtype == np.uint8 and gray.min() == 0 and gray.max() == 255 and abs(gray.mean() - 127.5) < 1
