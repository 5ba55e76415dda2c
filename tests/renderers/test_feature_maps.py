"""Feature-map grids: layout, the report's scaling, dead channels and colours, on constructed models."""

from __future__ import annotations

import keras
import matplotlib
import numpy as np
import pytest

from gallery.renderers.feature_maps import (
    BACKGROUND,
    dead_color,
    feature_maps,
    spatial_layers,
    standardize,
    tile_grid,
)


def known_channels(shape: tuple[int, int, int] = (6, 9, 2)) -> keras.Model:
    """A 1x1 conv whose 4 channels are: input channel 0 as is, a constant 0.5, dead (ReLU of a
    negative), and input channel 1 times 3; then a pooling layer and a dense head."""
    inputs = keras.Input(shape)
    conv = keras.layers.Conv2D(4, 1, activation="relu", name="conv")
    x = conv(inputs)
    kernel = np.zeros((1, 1, shape[-1], 4), np.float32)
    kernel[0, 0, 0, 0], kernel[0, 0, 1, 3] = 1.0, 3.0
    conv.set_weights([kernel, np.array([0.0, 0.5, -1.0, 0.0], np.float32)])
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def report_scaling(channel: np.ndarray) -> np.ndarray:
    """The seed report's formula, spelled out."""
    channel = channel.astype(np.float64)
    scaled = (channel - channel.mean()) / channel.std() * 64 + 128
    return np.clip(scaled, 0, 255).astype(np.uint8)


def viridis(value: int) -> np.ndarray:
    return np.array(matplotlib.colormaps["viridis"](value, bytes=True)[:3])


def test_standardize_is_the_report_formula_and_constants_are_mid_gray() -> None:
    rng = np.random.default_rng(0)
    channel = rng.normal(5, 2, (7, 8))
    channel[0, 0], channel[0, 1] = 40.0, -40.0  # beyond 2 std: clipped to 255 and 0
    features = np.stack([channel, np.full((7, 8), 0.3), np.zeros((7, 8))], axis=-1)
    scaled = standardize(features)
    assert scaled.dtype == np.uint8
    np.testing.assert_array_equal(scaled[..., 0], report_scaling(channel))
    assert scaled[0, 0, 0] == 255 and scaled[0, 1, 0] == 0
    assert (scaled[..., 1] == 128).all() and (scaled[..., 2] == 128).all()


def test_default_layers_are_the_conv_and_pooling_layers() -> None:
    assert spatial_layers(known_channels()) == ["conv", "pool"]
    with pytest.raises(ValueError, match="flat"):
        feature_maps(known_channels(), np.zeros((6, 9, 2), np.float32), ["conv", "flat"])


def test_tiles_are_the_report_scaling_through_the_colormap_and_dead_is_marked() -> None:
    model = known_channels()
    image = np.random.default_rng(1).random((6, 9, 2)).astype(np.float32)
    conv, pool = feature_maps(model, image)
    assert (conv.layer, conv.type, conv.channels) == ("conv", "Conv2D", 4)
    assert (pool.layer, pool.type, pool.channels) == ("pool", "MaxPooling2D", 4)
    np.testing.assert_array_equal(conv.dead, [False, False, True, False])
    assert conv.dead_share == pool.dead_share == 0.25
    assert conv.tiles.shape == (4, 6, 9, 3) and pool.tiles.shape == (4, 3, 4, 3)
    expected = report_scaling(image[..., 0])
    for row, col in [(0, 0), (2, 5), (5, 8)]:
        np.testing.assert_array_equal(conv.tiles[0, row, col], viridis(expected[row, col]))
    assert (conv.tiles[1] == viridis(128)).all()  # constant but alive: the colormap's middle
    marker = dead_color("viridis")
    assert (conv.tiles[2] == marker).all() and (pool.tiles[2] == marker).all()
    table = matplotlib.colormaps["viridis"](np.arange(256), bytes=True)[:, :3]
    assert np.abs(table.astype(int) - marker.astype(int)).sum(axis=1).min() > 100  # no viridis colour is near it


def test_layers_can_be_named_and_each_channel_is_scaled_on_its_own() -> None:
    model = known_channels()
    image = np.random.default_rng(2).random((6, 9, 2)).astype(np.float32)
    (conv,) = feature_maps(model, image, ["conv"])
    expected = report_scaling(3 * image[..., 1])
    np.testing.assert_array_equal(conv.tiles[3], matplotlib.colormaps["viridis"](expected, bytes=True)[..., :3])


def test_grid_geometry_gaps_and_order() -> None:
    inputs = keras.Input((7, 5, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(20, 3, padding="same", name="wide")(inputs))
    image = np.random.default_rng(3).random((7, 5, 1)).astype(np.float32)
    (maps,) = feature_maps(model, image, per_row=6)
    assert (maps.rows, maps.cols) == (4, 6)
    assert maps.grid.shape == (4 * 7 + 3, 6 * 5 + 5, 3) and maps.grid.dtype == np.uint8
    for index in range(20):
        top, left = (index // 6) * 8, (index % 6) * 6
        np.testing.assert_array_equal(maps.grid[top:top + 7, left:left + 5], maps.tiles[index])
    for gap in (7, 15, 23):
        assert (maps.grid[gap] == BACKGROUND).all()
    for gap in (5, 11, 17, 23, 29):
        assert (maps.grid[:, gap] == BACKGROUND).all()
    assert (maps.grid[24:, 2 * 6:] == BACKGROUND).all()  # the last row holds 2 channels, the rest is blank
    (one_row,) = feature_maps(model, image)
    assert (one_row.rows, one_row.cols) == (2, 16) and one_row.grid.shape == (2 * 7 + 1, 16 * 5 + 15, 3)


def test_tile_grid_with_fewer_channels_than_a_row() -> None:
    tiles = np.zeros((3, 2, 2, 3), np.uint8)
    assert tile_grid(tiles, 16).shape == (2, 3 * 3 - 1, 3)


@pytest.mark.parametrize("colormap", ["magma", "gray"])
def test_any_colormap_and_its_dead_marker(colormap: str) -> None:
    model = known_channels()
    image = np.random.default_rng(4).random((6, 9, 2)).astype(np.float32)
    conv, _ = feature_maps(model, image, colormap=colormap)
    expected = report_scaling(image[..., 0])
    np.testing.assert_array_equal(conv.tiles[0], matplotlib.colormaps[colormap](expected, bytes=True)[..., :3])
    table = matplotlib.colormaps[colormap](np.arange(256), bytes=True)[:, :3].astype(int)
    marker = conv.tiles[2, 0, 0].astype(int)
    assert np.abs(table - marker).sum(axis=1).min() > 100
    assert tuple(marker) != (BACKGROUND,) * 3


def test_sequential_model_works_too() -> None:
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(3, 3, name="c"),
                              keras.layers.AveragePooling2D(2, name="p"), keras.layers.Flatten(), keras.layers.Dense(2)])
    maps = feature_maps(model, np.random.default_rng(5).random((8, 8, 3)).astype(np.float32))
    assert [(m.layer, m.channels, m.tiles.shape[1:3]) for m in maps] == [("c", 3, (6, 6)), ("p", 3, (3, 3))]
