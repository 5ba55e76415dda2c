"""The store keeps what is put under a key and gives it back typed; a damaged entry counts as absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from gallery.results import AttributionMeta, CellMeta, ClassEntry, RenderMeta
from gallery.store import Store, png_bytes

META = RenderMeta(2.5, {"activation": [-1.0, -2.5], "total": [-1.0, -2.5]}, 0.1, "converged", None, 4, 3)


def test_a_result_comes_back_with_its_pixels_and_numbers(tmp_path: Path) -> None:
    store = Store(tmp_path)
    image = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
    put = store.put("ab" * 12, image, META)
    got = store.get("ab" * 12)
    assert got == put and got.meta == META
    np.testing.assert_array_equal(np.asarray(Image.open(got.png)), image)


def test_png_bytes_depend_on_pixels_only() -> None:
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 1), dtype=np.uint8)
    assert png_bytes(image) == png_bytes(image.copy())
    assert np.asarray(Image.open(__import__("io").BytesIO(png_bytes(image)))).shape == (5, 7)


def test_missing_half_written_or_damaged_entries_are_absent(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.get("cd" * 12) is None
    put = store.put("cd" * 12, np.zeros((2, 2, 1), np.uint8), META)
    meta = put.png.with_suffix(".json")
    meta.write_text("{not json")
    assert store.get("cd" * 12) is None
    meta.write_text(json.dumps({"activation": 1.0}))  # a record of another shape
    assert store.get("cd" * 12) is None
    meta.unlink()  # the PNG alone: the JSON is written last, so this entry never finished
    assert store.get("cd" * 12) is None


def test_bundles_keep_their_files_and_typed_metadata(tmp_path: Path) -> None:
    store = Store(tmp_path)
    meta = AttributionMeta("conv", ["gradcam"], [ClassEntry(3, 0.75)], {"gradcam-3": CellMeta(False)})
    put = store.put_bundle("ef" * 12, {"gradcam-3.png": b"png", "input.png": b"in"}, meta)
    got = store.get_bundle("ef" * 12, AttributionMeta)
    assert got is not None and got.meta == meta and got.file("gradcam-3.png").read_bytes() == b"png"
    assert put.folder == got.folder
    assert store.get_bundle("ef" * 12, RenderMeta) is None  # the wrong record type is not trusted


def test_non_finite_numbers_are_stored_as_null(tmp_path: Path) -> None:
    store = Store(tmp_path)
    put = store.put("aa" * 12, np.zeros((1, 1, 1), np.uint8), RenderMeta(float("nan"), {}, 0.0, "failed", None, 1, 1))
    assert json.loads(put.png.with_suffix(".json").read_text())["activation"] is None
