"""Deletion and insertion (gallery.renderers.attribution.faithfulness) against a case worked by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from gallery.renderers.attribution import probabilities
from gallery.renderers.attribution.baselines import gaussian_blur
from gallery.renderers.attribution.faithfulness import REFERENCE_SHARE, area, curves, sequences


def test_area_is_the_trapezoid_rule_over_the_share_moved() -> None:
    assert area(np.array([1.0, 0.0])) == 0.5
    assert area(np.array([1.0, 1.0, 0.0, 0.0, 0.0])) == pytest.approx((1 + 0.5) / 4)


def test_sequences_move_the_pixels_in_the_maps_order() -> None:
    image = np.arange(4, dtype=np.float32).reshape(1, 4, 1) + 10
    reference = np.zeros_like(image)
    deleted, inserted = sequences(image, reference, np.array([2, 0, 3, 1]), steps=4)
    assert deleted[:, 0, :, 0].tolist() == [[10, 11, 12, 13], [10, 11, 0, 13], [0, 11, 0, 13], [0, 11, 0, 0],
                                             [0, 0, 0, 0]]
    assert inserted[:, 0, :, 0].tolist() == [[0, 0, 0, 0], [0, 0, 12, 0], [10, 0, 12, 0], [10, 0, 12, 13],
                                              [10, 11, 12, 13]]


def test_deletion_and_insertion_of_a_tiny_sigmoid_model_by_hand() -> None:
    """p(x) = sigmoid(w . x) on a 1x4 gray image: each step moves one pixel between the image and its
    blur, so each point of the curves is one sum worked out here."""
    inputs = keras.Input((1, 4, 1))
    output = keras.layers.Dense(1, activation="sigmoid", use_bias=False)(keras.layers.Flatten()(inputs))
    network = keras.Model(inputs, output)
    weights = np.array([3.0, -1.0, 2.0, 0.5])
    network.layers[-1].set_weights([weights[:, None].astype(np.float32)])
    image = np.array([0.9, 0.1, 0.8, 0.3], np.float32).reshape(1, 4, 1)
    blurred = gaussian_blur(image, 4 * REFERENCE_SHARE).reshape(4).astype(np.float64)
    pixels = image.reshape(4).astype(np.float64)
    order = [0, 2, 3, 1]  # the map's ranking: its largest value first

    def sigmoid(z: float) -> float:
        return 1 / (1 + np.exp(-z))

    deletion, insertion = [], []
    for moved in range(5):
        gone = set(order[:moved])
        deletion.append(sigmoid(sum(w * (b if i in gone else x) for i, (w, x, b) in enumerate(zip(weights, pixels,
                                                                                                 blurred)))))
        insertion.append(sigmoid(sum(w * (x if i in gone else b) for i, (w, x, b) in enumerate(zip(weights, pixels,
                                                                                                  blurred)))))
    ranking = np.zeros((1, 1, 4))
    ranking[0, 0, order] = [4, 3, 2, 1]
    [found], [chance] = curves(lambda batch: probabilities(network, batch), image, ranking, np.array([1]),
                               np.array([1]), steps=4)  # class 1: the unit itself (class 0 is its opposite)
    np.testing.assert_allclose(found.deletion, deletion, rtol=1e-5)
    np.testing.assert_allclose(found.insertion, insertion, rtol=1e-5)
    assert found.deletion_auc == pytest.approx((deletion[0] + 2 * sum(deletion[1:4]) + deletion[4]) / 8, rel=1e-5)
    assert found.insertion_auc == pytest.approx((insertion[0] + 2 * sum(insertion[1:4]) + insertion[4]) / 8,
                                                rel=1e-5)
    assert chance.deletion[0] == pytest.approx(deletion[0]) and chance.deletion[-1] == pytest.approx(deletion[-1])
    assert chance.insertion[0] == pytest.approx(insertion[0])  # every order starts and ends at the same two images
