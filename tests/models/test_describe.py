"""gallery.models.describe: the kernels of conv layers that read the input, as they weigh its channels."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from gallery.models.describe import input_kernels
from gallery.models.flatten import flatten


def kernel(network: keras.Model, name: str) -> np.ndarray:
    return keras.ops.convert_to_numpy(network.get_layer(name).kernel).astype(np.float64)


def test_a_first_conv_shows_its_own_kernels_and_later_convs_none() -> None:
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="first")(inputs)
    x = keras.layers.Conv2D(2, 3, name="second")(x)
    network = keras.Model(inputs, x)
    found = input_kernels(network)
    assert list(found) == ["first"]
    np.testing.assert_allclose(found["first"], kernel(network, "first"), rtol=1e-6)


def test_preprocessing_in_the_graph_is_folded_into_the_kernels() -> None:
    """Rescaling, a BGR flip and a per-channel normalization: the kernel as it weighs RGB pixels."""
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = x[..., ::-1]
    x = keras.layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.04, 0.09, 0.16])(x)
    x = keras.layers.Conv2D(5, 3, name="conv")(x)
    network = keras.Model(inputs, x)
    found = input_kernels(network)["conv"]
    expected = kernel(network, "conv")[:, :, ::-1, :] / 255.0 / np.array([0.2, 0.3, 0.4])[::-1, None]
    np.testing.assert_allclose(found, expected, rtol=1e-4)


@pytest.mark.parametrize("between", [
    keras.layers.MaxPooling2D(),  # moves positions
    keras.layers.ReLU(),  # not affine
    keras.layers.Cropping2D(1),
    keras.layers.DepthwiseConv2D(3),  # weighted
])
def test_a_conv_after_anything_but_per_pixel_affine_steps_reads_no_input(between: keras.layers.Layer) -> None:
    inputs = keras.Input((12, 12, 3))
    network = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(between(inputs)))
    assert input_kernels(network) == {}


def test_a_sequential_and_a_nested_backbone_show_their_first_conv() -> None:
    backbone = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(3, 5, name="stem"),
                                 keras.layers.Conv2D(3, 3, name="block")], name="backbone")
    head = keras.Sequential([backbone, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    found = input_kernels(flatten(head, None, None))
    assert list(found) == ["backbone/stem"]
    np.testing.assert_allclose(found["backbone/stem"], kernel(backbone, "stem"), rtol=1e-6)
