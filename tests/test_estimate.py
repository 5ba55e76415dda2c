"""The cost model against hand-counted FLOPs on a tiny network, and validate's line."""

from __future__ import annotations

import keras
import pytest
from click.testing import CliRunner

from gallery import estimate
from gallery.cli import main
from gallery.config import Setting
from gallery.models import describe


def tiny() -> keras.Model:
    inputs = keras.Input((8, 8, 1), name="image")
    conv = keras.layers.Conv2D(4, 3, name="conv")(inputs)  # 6x6x4
    depthwise = keras.layers.DepthwiseConv2D(3, name="depthwise")(conv)  # 4x4x4
    flat = keras.layers.Flatten(name="flat")(depthwise)
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(flat))


def test_flops_are_two_per_multiply_add_and_add_up_to_a_layer() -> None:
    info = describe("tiny", tiny(), {})
    assert {layer.name: layer.flops for layer in info.layers} == {
        "image": 0, "conv": 2 * 3 * 3 * 1 * 4 * 36, "depthwise": 2 * 3 * 3 * 4 * 16, "flat": 0,
        "out": 2 * 64 * 3}
    setting = Setting(steps=10, diversity=2)
    one = estimate.picture_cost(info, "depthwise", setting)  # the layers up to it: conv and depthwise
    assert (one.images, one.image_steps) == (1, 20)
    assert one.flops == 20 * estimate.STEP_FLOPS * (2592 + 1152)
    assert one.peak_equivalent_flops == pytest.approx(20 * estimate.STEP_FLOPS * (2592 / estimate.DEFAULT_SHARE
                                                                   + 1152 / estimate.PEAK_SHARE["DepthwiseConv2D"]))


def test_cost_seconds_split_the_work_and_add_compiling_per_layer() -> None:
    found = estimate.Cost(images=10, image_steps=2000, flops=4e12, peak_equivalent_flops=8e12, layers=3)
    assert found.seconds(1e9) == pytest.approx(8000)
    assert found.seconds(1e9, workers=8, compile_seconds=5) == pytest.approx(1000 + 15)
    assert found.seconds(1e9, workers=8) == pytest.approx(1000)  # compile_seconds unknown: none
    assert [estimate.duration(s) for s in (40, 600, 7200, 4 * 86400)] == ["40 s", "10 min", "2.0 h", "4.0 days"]


def test_compiling_is_estimated_by_each_layers_depth_once_per_layer_and_setting() -> None:
    info = describe("tiny", tiny(), {})
    one = estimate.picture_cost(info, "depthwise", Setting(steps=10))  # image, conv, depthwise: 3 layers
    assert one.compile_seconds == pytest.approx(estimate.compile_seconds(3)) and one.compile_seconds < 2
    assert one.times(50).compile_seconds == one.compile_seconds  # more pictures of it: still one trace
    assert estimate.compile_seconds(130) == pytest.approx(10.1)  # EfficientNet-Lite0's stage6: about 10 s
    assert [estimate.flops(f) for f in (4.1e8, 2.37e13, 2.93e15)] == ["0.4 GFLOP", "23.7 TFLOP", "2.9 PFLOP"]


def test_validate_prints_the_work_and_its_time_here_and_on_a_cluster(tmp_path) -> None:
    config = tmp_path / "atlas.yaml"
    config.write_text("models:\n  - {id: mnist, source: builtin, builtin: mnist_cnn, data: {source: bundled}}\n"
                      "activation_max:\n  - {model: mnist, layer: conv2d_1, filters: [0, 1]}\n")
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[1]
    assert line.startswith("  activation maximization: 2 pictures, 400 image-steps at most, ")
    assert "on this machine (" in line and " on 8, " in line and " on 64 nodes like it (--executor ray)" in line
