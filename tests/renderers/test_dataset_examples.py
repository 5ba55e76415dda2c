"""Dataset examples against direct computations of the reported values and planted images."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import tiny_conv

from gallery.renderers.dataset_examples import Examples, examples_grid, top_examples


def test_references_for_neuron_and_negated_settings() -> None:
    """The bar a picture is measured against: the best test image's value, read as the setting reads it."""
    model = tiny_conv()
    images = np.random.default_rng(9).random((5, 16, 16, 3)).astype(np.float32)
    features = keras.Model(model.inputs, model.get_layer("conv2").output)(images).numpy()
    filters = list(range(features.shape[-1]))

    def best(measure: str, negate: bool = False) -> np.ndarray:
        found = top_examples(model, "conv2", filters, images, (0.0, 1.0), measure, k=1, negate=negate)
        return np.array([examples.values[0] for examples in found])

    np.testing.assert_allclose(best("channel"), features.mean(axis=(1, 2)).max(axis=0), rtol=1e-5)
    np.testing.assert_allclose(best("neuron"), features.max(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(best("channel", negate=True), features.mean(axis=(1, 2)).min(axis=0), rtol=1e-5)


RANGE = (0.0, 1.0)


def tiny(activation: str = "relu") -> keras.Model:
    """12x12 gray -> conv(4) -> pool -> dense(3, softmax): the dense unit is reported pre-softmax."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, activation=activation, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x))


def noise(count: int = 50, shape: tuple[int, ...] = (12, 12, 1), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, *shape)).astype(np.float32)


def conv_maps(network: keras.Model, images: np.ndarray) -> np.ndarray:
    return keras.Model(network.inputs, network.get_layer("conv").output).predict(images, verbose=0)


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("objective, negate", [("channel", False), ("channel", True), ("neuron", False),
                                               ("neuron", True)])
def test_conv_examples_match_direct_values(activation: str, objective: str, negate: bool) -> None:
    network, images = tiny(activation), noise()
    found = top_examples(network, "conv", [0, 1, 2, 3], images, RANGE, objective, negate=negate)
    maps = conv_maps(network, images)  # [50, 10, 10, 4]
    direct = maps.mean(axis=(1, 2)) if objective == "channel" else (maps.min if negate else maps.max)(axis=(1, 2))
    reference = direct.min(axis=0) if negate else direct.max(axis=0)  # the best over all images
    assert [e.filter for e in found] == [0, 1, 2, 3]
    for examples in found:
        f = examples.filter
        assert len(examples.indices) == len(examples.values) == len(examples.crops) == len(examples.boxes) == 9
        assert examples.values[0] == pytest.approx(reference[f], abs=1e-6)
        np.testing.assert_allclose(examples.values, direct[examples.indices, f], atol=1e-6)
        steps = np.diff(examples.values)
        assert np.all(steps >= 0) if negate else np.all(steps <= 0)
        expected = np.argsort(direct[:, f] if negate else -direct[:, f], kind="stable")[:9]
        # The same images as a full sort, but for near ties in float rounding.
        np.testing.assert_allclose(direct[examples.indices, f], direct[expected, f], atol=1e-6)
        assert len(set(examples.indices.tolist())) == 9


def test_neuron_boxes_are_the_receptive_field_of_the_best_position() -> None:
    network, images = tiny("linear"), noise()
    maps = conv_maps(network, images)
    for examples in top_examples(network, "conv", [1, 3], images, RANGE, "neuron"):
        assert examples.crops.shape == (9, 3, 3, 1)
        for index, box, crop in zip(examples.indices, examples.boxes, examples.crops):
            row, col = np.unravel_index(np.argmax(maps[index, :, :, examples.filter]), (10, 10))
            np.testing.assert_array_equal(box, [row, col, row + 3, col + 3])  # valid padding: unit (r, c) reads r..r+2
            np.testing.assert_array_equal(crop, np.round(images[index, row:row + 3, col:col + 3] * 255))


def test_neuron_field_through_pooling_in_a_sequential_model() -> None:
    """conv(3, same) -> pool(2) -> conv(3, valid): unit (r, c) reads input rows 2r-1 .. 2r+6, 8 in all."""
    keras.utils.set_random_seed(1)
    network = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(3, 3, padding="same", name="a"),
                                keras.layers.MaxPooling2D(), keras.layers.Conv2D(2, 3, name="b")])
    images = noise(count=30)
    maps = keras.Model(network.inputs, network.get_layer("b").output).predict(images, verbose=0)  # [30, 4, 4, 2]
    reference = maps.max(axis=(0, 1, 2))  # a channel's best single unit over all images and positions
    for examples in top_examples(network, "b", [0, 1], images, RANGE, "neuron", k=4):
        assert examples.values[0] == pytest.approx(reference[examples.filter], abs=1e-6)
        assert examples.crops.shape == (4, 8, 8, 1)
        for index, box in zip(examples.indices, examples.boxes):
            row, col = np.unravel_index(np.argmax(maps[index, :, :, examples.filter]), (4, 4))
            np.testing.assert_array_equal(box, [max(2 * row - 1, 0), max(2 * col - 1, 0),
                                                min(2 * row + 7, 12), min(2 * col + 7, 12)])


def test_channel_crops_are_whole_images_in_pixels() -> None:
    network = tiny()
    images = noise() * 2 - 1
    examples = top_examples(network, "conv", [2], images, (-1.0, 1.0), k=4)[0]
    assert examples.crops.dtype == np.uint8 and examples.crops.shape == (4, 12, 12, 1)
    np.testing.assert_array_equal(examples.crops, np.round((images[examples.indices] + 1) / 2 * 255))
    np.testing.assert_array_equal(examples.boxes, [[0, 0, 12, 12]] * 4)


def test_dense_unit_is_ranked_on_the_pre_softmax_score() -> None:
    network, images = tiny(), noise()
    found = top_examples(network, "out", [0, 1, 2], images, RANGE, "unit", k=5)
    dense = network.get_layer("out")
    kernel, bias = dense.get_weights()
    logits = conv_maps(network, images).mean(axis=(1, 2)) @ kernel + bias
    reference = logits.max(axis=0)
    for examples in found:
        assert examples.values[0] == pytest.approx(reference[examples.filter], abs=1e-6)
        np.testing.assert_allclose(examples.values, np.sort(logits[:, examples.filter])[::-1][:5], atol=1e-5)
        np.testing.assert_allclose(examples.values, logits[examples.indices, examples.filter], atol=1e-5)
        np.testing.assert_array_equal(examples.boxes, [[0, 0, 12, 12]] * 5)
        assert examples.crops.shape == (5, 12, 12, 1)


@pytest.mark.parametrize("objective", ["channel", "neuron"])
def test_batches_do_not_change_the_running_top_k(objective: str) -> None:
    network, images = tiny("linear"), noise(count=53)
    small = top_examples(network, "conv", [0, 1, 2, 3], images, RANGE, objective, batch_size=7)
    whole = top_examples(network, "conv", [0, 1, 2, 3], images, RANGE, objective, batch_size=256)
    for a, b in zip(small, whole):
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.values, b.values, atol=1e-6)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.crops, b.crops)
    fewer = top_examples(network, "conv", [0], images[:4], RANGE, objective, k=9, batch_size=3)[0]
    assert sorted(fewer.indices.tolist()) == [0, 1, 2, 3] and fewer.crops.shape[0] == 4


def spot_model() -> keras.Model:
    """Two stacked 'same' 3x3 convs with centre-heavy kernels on filter 0: a bright-spot detector
    whose strongest unit sits on the spot; filter 1 of each is a dark-spot detector."""
    inputs = keras.Input((12, 12, 1))
    c1 = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="c1")
    c2 = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="c2")
    network = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(c2(c1(inputs))))
    peak = np.full((3, 3), 0.25, np.float32)
    peak[1, 1] = 1.0
    k1 = np.stack([peak, -peak], axis=-1)[:, :, None, :]  # [3, 3, 1, 2]
    k2 = np.zeros((3, 3, 2, 2), np.float32)
    k2[:, :, 0, 0] = peak
    k2[:, :, 1, 1] = peak
    c1.set_weights([k1, np.zeros(2, np.float32)])
    c2.set_weights([k2, np.zeros(2, np.float32)])
    return network


def spotted() -> np.ndarray:
    images = noise(count=20, seed=1) * 0.02
    images[7, 5, 6] = 1.0  # interior
    images[13, 0, 11] = 0.7  # top-right corner
    return images


def test_planted_spot_ranks_first_for_the_channel() -> None:
    examples = top_examples(spot_model(), "c1", [0], spotted(), RANGE, "channel", k=3)[0]
    assert examples.indices[:2].tolist() == [7, 13]
    np.testing.assert_array_equal(examples.boxes[0], [0, 0, 12, 12])


@pytest.mark.parametrize("layer, field", [("c1", 3), ("c2", 5)])
def test_planted_spot_neuron_crop_is_its_receptive_field_clipped_at_borders(layer: str, field: int) -> None:
    images = spotted()
    examples = top_examples(spot_model(), layer, [0], images, RANGE, "neuron", k=2)[0]
    half = field // 2
    assert examples.indices.tolist() == [7, 13]
    np.testing.assert_array_equal(examples.boxes, [[5 - half, 6 - half, 5 + half + 1, 6 + half + 1],
                                                   [0, 11 - half, half + 1, 12]])
    assert examples.crops.shape == (2, field, field, 1)
    assert examples.crops[0, half, half, 0] == 255  # the spot sits at the centre of its field
    # The corner crop: the image in the bottom-left (rows 0..half, columns ..11), gray above and to the right.
    corner = examples.crops[1, :, :, 0]
    np.testing.assert_array_equal(corner[half:, :half + 1], np.round(images[13, :half + 1, 11 - half:, 0] * 255))
    assert corner[half, half] == round(0.7 * 255)
    assert np.all(corner[:half] == 128) and np.all(corner[:, half + 1:] == 128)


def test_negated_neuron_finds_the_dark_spot() -> None:
    inputs = keras.Input((12, 12, 1))
    conv = keras.layers.Conv2D(1, 3, name="conv")
    network = keras.Model(inputs, conv(inputs))
    peak = np.full((3, 3, 1, 1), 0.25, np.float32)
    peak[1, 1] = 1.0
    conv.set_weights([peak, np.zeros(1, np.float32)])
    images = 0.9 + noise(count=20, seed=3) * 0.02  # bright everywhere ...
    images[4, 6, 2] = 0.0  # ... but one dark pixel: the unit centred on it, (5, 1), is the lowest
    examples = top_examples(network, "conv", [0], images, RANGE, "neuron", k=3, negate=True)[0]
    assert examples.indices[0] == 4
    assert examples.values[0] == pytest.approx(conv_maps(network, images).min(), abs=1e-6)
    assert examples.values[1] > examples.values[0] + 0.5
    np.testing.assert_array_equal(examples.boxes[0], [5, 1, 8, 4])
    assert examples.crops[0, 1, 1, 0] == 0


def test_neuron_after_a_non_local_layer_shows_the_whole_image() -> None:
    keras.utils.set_random_seed(2)
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.UpSampling2D(2)(inputs)  # unknown to receptive_field.py: counts as global
    network = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(x))
    images = noise(count=10)
    examples = top_examples(network, "conv", [1], images, RANGE, "neuron", k=3)[0]
    np.testing.assert_array_equal(examples.boxes, [[0, 0, 12, 12]] * 3)
    np.testing.assert_array_equal(examples.crops, np.round(images[examples.indices] * 255))


def hand_made(count: int, shape: tuple[int, int, int]) -> Examples:
    crops = np.stack([np.full(shape, 10 * i + 5, np.uint8) for i in range(count)])
    boxes = np.zeros((count, 4), np.int64)
    return Examples(0, np.arange(count), np.linspace(1, 0, count, dtype=np.float32), crops, boxes)


def test_grid_lays_out_crops_row_major_with_gray_gaps() -> None:
    grid = examples_grid(hand_made(9, (4, 4, 1)), size=8, gap=2)
    assert grid.shape == (28, 28, 1) and grid.dtype == np.uint8
    for i in range(9):
        top, left = (i // 3) * 10, (i % 3) * 10
        assert np.all(grid[top:top + 8, left:left + 8] == 10 * i + 5)
    assert np.all(grid[8:10] == 128) and np.all(grid[:, 18:20] == 128)


def test_grid_keeps_aspect_fills_empty_cells_and_scales_colour_crops() -> None:
    examples = hand_made(4, (2, 4, 3))
    examples.crops[0, :, :2] = 250  # left half of the first crop: nearest-neighbour keeps a sharp edge
    grid = examples_grid(examples, size=8, columns=3, gap=1)
    assert grid.shape == (17, 26, 3)
    first = grid[:8, :8]
    assert np.all(first[:2] == 128) and np.all(first[6:] == 128)  # 2x4 -> 4x8, centred in its cell
    assert np.all(first[2:6, :4] == 250) and np.all(first[2:6, 4:] == 5)
    assert np.all(grid[9:17, 9:17] == 128) and np.all(grid[9:17, 18:] == 128)  # cells 5 and 6: empty
    assert np.all(grid[11:15, 0:8] == 35)  # the fourth crop starts the second row
    big = examples_grid(hand_made(1, (32, 32, 1)), size=8, columns=1)
    assert big.shape == (8, 8, 1) and np.all(big == 5)
