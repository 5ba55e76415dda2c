"""Receptive fields: sizes, windows, and the window unit against the full-input centre unit."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_conv

from gallery.renderers import receptive_field
from gallery.renderers.activation_max import ActivationMaximizer
from gallery.renderers.objectives import truncated

VGG_FIELDS = {"block1_conv1": 3, "block1_conv2": 5, "block1_pool": 6, "block2_conv1": 10,
              "block2_conv2": 14, "block2_pool": 16, "block3_conv1": 24, "block3_conv3": 40}


def test_receptive_field_sizes_of_vgg16(vgg16: keras.Model) -> None:
    for layer, size in VGG_FIELDS.items():
        assert receptive_field.Graph(vgg16, vgg16.get_layer(layer).output).size() == (size, size), layer
    cut = truncated(vgg16, "block2_conv1")
    assert receptive_field.window(cut, cut.outputs[0]) == receptive_field.Window((10, 10), (2, 2))
    # block3's units sit at input offsets 4u - 18: 2 leading pixels are outside the field.
    cut = truncated(vgg16, "block3_conv3")
    assert receptive_field.window(cut, cut.outputs[0]) == receptive_field.Window((42, 42), (5, 5))


def test_layers_that_see_everything_have_no_window() -> None:
    model = tiny_conv()
    graph = receptive_field.Graph(model, model.get_layer("out").output)
    assert not graph.local and graph.size() is None
    assert receptive_field.window(model, model.get_layer("out").output) is None
    assert receptive_field.Graph(model, model.get_layer("conv2").output).size() == (8, 8)  # 3 + 1 + 2*2


def residual(size: int) -> keras.Model:
    """Two branches with different padding, strides 2 'same' (which pads by input parity) and a merge."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((size, size, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="stem")(inputs)
    main = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="main")(x)
    short = keras.layers.Conv2D(4, 1, strides=2, padding="same", name="short")(x)
    y = keras.layers.Add(name="add")([main, short])
    y = keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same", name="depthwise")(y)
    return keras.Model(inputs, keras.layers.ReLU(name="relu")(y))


@pytest.mark.parametrize("model_name, layer", [("vgg16", "block3_conv3"), ("residual", "depthwise")])
def test_the_window_unit_computes_the_full_input_centre_unit(model_name: str, layer: str,
                                                             request: pytest.FixtureRequest) -> None:
    network = request.getfixturevalue("vgg16") if model_name == "vgg16" else residual(32)
    cut = truncated(network, layer)
    graph = receptive_field.Graph(cut, cut.outputs[0])
    window = receptive_field.window(cut, cut.outputs[0])
    height, width, channels = cut.inputs[0].shape[1:]
    assert window is not None and window.shape[0] < height and window.shape[1] < width
    rng = np.random.default_rng(7)
    full = rng.random((1, height, width, channels)).astype(np.float32) * 255
    values = cut(full)[0].numpy()
    row, col = values.shape[1] // 2, values.shape[2] // 2
    (top, bottom), (left, right) = graph.reads(row, height, 0), graph.reads(col, width, 1)
    assert top >= 0 and left >= 0 and bottom < height and right < width
    (s_top, s_bottom), (s_left, s_right) = (graph.reads(window.unit[a], window.shape[a], a) for a in (0, 1))
    assert (s_bottom - s_top, s_right - s_left) == (bottom - top, right - left)
    small = rng.random((1, *window.shape, channels)).astype(np.float32) * 255  # outside the field: anything
    small[0, s_top:s_bottom + 1, s_left:s_right + 1] = full[0, top:bottom + 1, left:right + 1]
    engine = ActivationMaximizer(network, layer, "channel")
    view = engine.network("neuron")
    assert view.shape == (*window.shape, channels)
    filters = [0, 3, values.shape[-1] - 1]  # computed channel by channel (objectives.own_units)
    maps = engine.select(view.model(np.repeat(small, 3, axis=0)), tf.constant(filters))
    np.testing.assert_allclose(view.reduce(maps).numpy(), values[0, row, col, filters], rtol=1e-4, atol=1e-3)
