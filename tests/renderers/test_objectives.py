"""Objectives: each image's own channel computed alone, and the diversity penalty against Lucid's formula."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gallery.renderers import objectives


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


def lucid_diversity(features: np.ndarray) -> float:
    """Lucid's `objectives.diversity` for one batch: sum over ordered pairs of Gram cosines / batch."""
    flat = features.reshape(len(features), -1, features.shape[-1])
    grams = np.einsum("bpc,bpd->bcd", flat, flat).reshape(len(features), -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    cosines = grams @ grams.T
    return float((cosines.sum() - np.trace(cosines)) / len(features))


def test_identical_copies_score_one_and_orthogonal_gram_matrices_zero() -> None:
    one = np.random.default_rng(0).random((1, 5, 4, 3)).astype(np.float32)
    identical = tf.constant(np.repeat(one, 3, axis=0))
    np.testing.assert_allclose(objectives.diversity(identical, 3).numpy(), [1, 1, 1], rtol=1e-5)
    # One copy uses only channel 0, the other only channel 1: diag(a, 0, 0) and diag(0, b, 0).
    apart = np.zeros((2, 5, 4, 3), np.float32)
    apart[0, ..., 0], apart[1, ..., 1] = one[0, ..., 0], one[0, ..., 1]
    np.testing.assert_allclose(objectives.diversity(tf.constant(apart), 2).numpy(), [0, 0], atol=1e-6)
    # Filters are scored among their own copies only: the first pair is identical, the second apart.
    both = tf.constant(np.concatenate([np.repeat(one, 2, axis=0), apart]))
    np.testing.assert_allclose(objectives.diversity(both, 2).numpy(), [1, 1, 0, 0], atol=1e-5)


def test_vectors_are_compared_by_their_own_cosine() -> None:
    vectors = tf.constant([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 5.0], [3.0, 0.0, 4.0]])
    np.testing.assert_allclose(objectives.diversity(vectors, 2).numpy(), [1, 1, 0.8, 0.8], rtol=1e-5)


def test_a_filter_sums_to_lucids_value_scaled_to_any_number_of_copies() -> None:
    features = np.random.default_rng(1).random((4, 6, 6, 5)).astype(np.float32)
    ours = objectives.diversity(tf.constant(features), 4).numpy()
    assert ours.sum() == pytest.approx(lucid_diversity(features) * 4 / 3, rel=1e-5)


def _two_spellings_of_softmax() -> tuple[keras.Model, keras.Model]:
    """The same classifier ending in Dense(softmax) and in Dense + a Softmax layer of its own."""
    inputs = keras.Input((4,))
    own = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="scores")(inputs))
    inputs = keras.Input((4,))
    separate = keras.Model(inputs, keras.layers.Softmax(name="probs")(keras.layers.Dense(3, name="scores")(inputs)))
    separate.get_layer("scores").set_weights([w * 50 for w in own.get_layer("scores").get_weights()])
    own.get_layer("scores").set_weights(separate.get_layer("scores").get_weights())
    return own, separate


def test_a_softmax_layer_of_its_own_is_reported_linear_like_a_softmax_activation() -> None:
    own, separate = _two_spellings_of_softmax()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    logits = x @ own.get_layer("scores").get_weights()[0] + own.get_layer("scores").get_weights()[1]
    for network, layer in ((own, "scores"), (separate, "probs")):
        pre_activation, reported = objectives.truncated(network, layer)(x)
        np.testing.assert_allclose(pre_activation, logits, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(reported, logits, rtol=1e-5, atol=1e-5)  # not the probabilities
        np.testing.assert_array_equal(objectives.reported(network, layer)(tf.constant(logits)), logits)
