"""The engine's parts against closed forms, and the engine itself on tiny models."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gallery.config import Setting
from gallery.renderers import objectives, regularizers, transforms
from gallery.renderers.activation_max import LOSS_NAMES, ActivationMaximizer
from gallery.renderers.param import Pixel


def test_total_variation_closed_forms() -> None:
    flat = tf.fill([1, 5, 5, 1], 0.7)
    assert float(regularizers.total_variation(flat, 2.0)[0]) == pytest.approx(0.0, abs=1e-9)
    # A horizontal ramp with slope 0.1: every (dx^2 + dy^2) over the 4x4 inner grid is 0.01.
    ramp = tf.constant(np.tile(np.arange(5) * 0.1, (5, 1))[None, :, :, None], tf.float32)
    expected = 16 * 0.01 / 25
    assert float(regularizers.total_variation(ramp, 2.0)[0]) == pytest.approx(expected, rel=1e-4)
    # beta = 1 sums gradient magnitudes instead: 16 * 0.1 / 25.
    assert float(regularizers.total_variation(ramp, 1.0)[0]) == pytest.approx(16 * 0.1 / 25, rel=1e-4)


@pytest.mark.parametrize("beta", [1.0, 2.0, 3.0, 2.5])
def test_total_variation_of_colour_images_against_numpy(beta: float) -> None:
    images = np.random.default_rng(2).random((2, 6, 5, 3)).astype(np.float32)
    down = images[:, 1:, :-1] - images[:, :-1, :-1]
    right = images[:, :-1, 1:] - images[:, :-1, :-1]
    expected = ((down**2 + right**2) ** (beta / 2)).sum(axis=(1, 2, 3)) / (6 * 5 * 3)
    np.testing.assert_allclose(regularizers.total_variation(tf.constant(images), beta).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.5, 3.0, 6.0, 2.7, 10.0])
def test_power_by_multiplication_matches_pow(exponent: float) -> None:
    values = np.random.default_rng(3).uniform(0, 2, 50).astype(np.float32)
    np.testing.assert_allclose(regularizers.power(tf.constant(values), exponent).numpy(), values**exponent, rtol=1e-5)


def test_lp_norm_closed_form() -> None:
    image = tf.fill([2, 4, 4, 3], 0.5)
    n = 4 * 4 * 3
    expected = (n * 0.5 ** 6) ** (1 / 6) / n
    np.testing.assert_allclose(regularizers.lp_norm(image, 6.0).numpy(), [expected, expected], rtol=1e-5)


def test_jitter_is_a_per_image_roll() -> None:
    images = tf.constant(np.random.default_rng(0).random((3, 6, 7, 2)), tf.float32)
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]], tf.int64)
    shifted = transforms.jitter(images, 2, seeds).numpy()
    for i in range(3):
        shift = tf.random.stateless_uniform([2], seeds[i], -2, 3, dtype=tf.int32).numpy()
        np.testing.assert_array_equal(shifted[i], np.roll(images[i].numpy(), shift, axis=(0, 1)))
    np.testing.assert_array_equal(transforms.jitter(images, 0, seeds).numpy(), images.numpy())


def tiny_classifier(sequential: bool = False, shape: tuple[int, int, int] = (12, 10, 3)) -> keras.Model:
    keras.utils.set_random_seed(3)
    layers = [keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
              keras.layers.GlobalAveragePooling2D(name="pool"),
              keras.layers.Dense(3, activation="softmax", name="out")]
    if sequential:
        model = keras.Sequential([keras.Input(shape), *layers])
        model(np.zeros((1, *shape), np.float32))
        return model
    inputs = keras.Input(shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("sequential", [False, True])
def test_dense_unit_is_raised_and_reported_pre_softmax(sequential: bool) -> None:
    model = tiny_classifier(sequential)
    engine = ActivationMaximizer(model, "out", "unit")
    setting = Setting(steps=60, lp_norm_weight=0, tv_weight=0)
    results = list(engine.render([0, 2], setting, (0.0, 1.0)))
    features = keras.Model(model.inputs, model.get_layer("out").input)
    kernel, bias = model.get_layer("out").get_weights()

    def logits(images: np.ndarray) -> np.ndarray:
        return features.predict(images, verbose=0) @ kernel + bias

    for unit, result in zip([0, 2], results):
        final = logits(result.image[None].astype(np.float32) / 255.0)[0]
        start = logits(Pixel((12, 10, 3), (0.0, 1.0)).start(setting.seed, unit)[None])[0]
        assert result.activation == pytest.approx(final[unit], rel=0.02, abs=0.02)  # uint8 rounding
        assert final[unit] > start[unit] + 0.1
        assert len(result.losses["total"]) == 60 and set(result.losses) == set(LOSS_NAMES)
        # The activation loss is the negated objective (in noise-response units), so it must fall.
        assert result.losses["activation"][-1] < result.losses["activation"][0]


def test_conv_channel_beats_start_and_stays_in_range() -> None:
    model = tiny_classifier()
    engine = ActivationMaximizer(model, "conv", "channel")
    results = list(engine.render([0, 1, 2, 3], Setting(steps=80), (-1.0, 2.0)))
    start = np.stack([Pixel((12, 10, 3), (-1.0, 2.0)).start(0, f) for f in range(4)])
    start_means = keras.Model(model.inputs, model.get_layer("conv").output).predict(start, verbose=0).mean(axis=(1, 2))
    for f, result in enumerate(results):
        assert result.image.shape == (12, 10, 3) and result.image.dtype == np.uint8
        assert result.activation > start_means[f, f]


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    engine = ActivationMaximizer(tiny_classifier(), "conv", "channel")
    setting = Setting(steps=30, jitter=2)
    first = [r.image for r in engine.render([1, 2], setting, (0.0, 1.0))]
    again = [r.image for r in engine.render([1, 2], setting, (0.0, 1.0))]
    alone = next(iter(engine.render([2], setting, (0.0, 1.0)))).image
    other = [r.image for r in engine.render([1, 2], Setting(steps=30, jitter=2, seed=5), (0.0, 1.0))]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert np.abs(alone.astype(int) - first[1].astype(int)).max() <= 1  # batch-mates do not matter
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_grayscale_input_of_any_size() -> None:
    inputs = keras.Input((9, 17, 1))
    outputs = keras.layers.Conv2D(2, 3, activation="relu", name="c")(inputs)
    engine = ActivationMaximizer(keras.Model(inputs, outputs), "c", "channel")
    (result,) = engine.render([1], Setting(steps=10), (0.0, 255.0))
    assert result.image.shape == (9, 17, 1)


@pytest.mark.parametrize("layer, shape", [
    (keras.layers.Conv2D(5, 3, strides=2, padding="same"), (9, 8, 3)),
    (keras.layers.Conv2D(4, (3, 2), dilation_rate=2, use_bias=False), (10, 9, 2)),
    (keras.layers.Dense(6), (7,)),
])
def test_own_units_compute_the_whole_layer_one_channel_at_a_time(layer: keras.layers.Layer, shape: tuple) -> None:
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape)
    keras.Model(inputs, layer(inputs))
    if layer.use_bias:
        layer.bias.assign(np.random.default_rng(0).normal(size=layer.bias.shape))
    images = np.random.default_rng(1).normal(size=(4, *shape)).astype(np.float32)
    filters = [2, 0, 3, 2]
    whole = layer(images).numpy()
    own = objectives.own_units(layer)(tf.constant(images), tf.constant(filters)).numpy()
    np.testing.assert_allclose(own, np.stack([whole[i, ..., f] for i, f in enumerate(filters)]), rtol=1e-5, atol=1e-5)


def test_layers_without_own_units_run_whole() -> None:
    inputs = keras.Input((6, 6, 2))
    depthwise = keras.layers.DepthwiseConv2D(3)
    keras.Model(inputs, depthwise(inputs))
    assert objectives.own_units(depthwise) is None
    features = tf.random.normal([2, 4, 4, 3])
    np.testing.assert_array_equal(objectives.own_channel(features, tf.constant([2, 0])).numpy(),
                                  features.numpy()[[0, 1], :, :, [2, 0]])
