"""Diversity (Olah et al. 2017): N images per filter, pushed apart by their Gram matrices' similarity."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gallery.config import Setting
from gallery.renderers import objectives
from gallery.renderers.activation_max import LOSS_NAMES, ActivationMaximizer, copy_seeds, strip_panels
from gallery.renderers.param import Pixel

RANGE = (0.0, 1.0)
SHAPE = (16, 16, 3)
COPIES = 4
FILTERS = [0, 3]  # two channels whose copies converge to one picture without the penalty


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


def test_copy_seeds_keep_the_seed_for_one_copy_and_differ_between_copies() -> None:
    np.testing.assert_array_equal(copy_seeds(Setting(seed=7), [3, 5]), [[7, 3], [7, 5]])
    seeds = copy_seeds(Setting(seed=7, diversity=3), [3, 5])
    np.testing.assert_array_equal(seeds, [[21, 3], [22, 3], [23, 3], [21, 5], [22, 5], [23, 5]])
    other_seed = copy_seeds(Setting(seed=8, diversity=3), [3, 5])
    assert not {tuple(s) for s in seeds} & {tuple(s) for s in other_seed}


def test_strip_panels_from_the_aspect_ratio() -> None:
    assert strip_panels(np.zeros((16, 64, 3)), SHAPE) == 4
    assert strip_panels(np.zeros((16, 16, 3)), SHAPE) == 1
    assert strip_panels(np.zeros((10, 10)), SHAPE) == 1  # another size, e.g. a receptive-field window
    assert strip_panels(np.zeros((16, 47, 3)), SHAPE) == 1  # 47 px do not split into 3 equal panels


def tiny_network() -> keras.Model:
    """Conv + ReLU, max pooling, conv: the target conv computes its own channels (objectives.own_units),
    so the Gram matrices are those of the pooled ReLU maps feeding it."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    return keras.Model(inputs, keras.layers.Conv2D(6, 3, padding="same", name="conv2")(x))


@pytest.fixture(scope="module")
def engine() -> ActivationMaximizer:
    return ActivationMaximizer(tiny_network(), "conv2", "channel")


def panels(image: np.ndarray, copies: int = COPIES) -> np.ndarray:
    return np.stack(np.split(image, copies, axis=1))


def gram_similarity(engine: ActivationMaximizer, strip: np.ndarray) -> float:
    """Mean pairwise Gram cosine of a strip's panels, measured where the engine measures it."""
    images = panels(strip).astype(np.float32) / 255.0
    return float(np.mean(objectives.diversity(engine.view("channel").model([images]), COPIES)))


def test_copies_come_back_as_one_strip_of_different_panels(engine: ActivationMaximizer) -> None:
    setting = Setting(steps=60, diversity=COPIES)
    results = list(engine.render(FILTERS, setting, RANGE))
    for result in results:
        assert result.image.shape == (16, 16 * COPIES, 3) and result.image.dtype == np.uint8
        pieces = panels(result.image).astype(int)
        differences = [np.abs(pieces[i] - pieces[j]).mean() for i in range(COPIES) for j in range(i + 1, COPIES)]
        assert min(differences) > 10, differences  # in 0-255 levels
        assert set(result.losses) == set(LOSS_NAMES) and all(len(v) == 60 for v in result.losses.values())
        assert min(result.losses["diversity"]) > 0
        # The total is the sum of the named terms, each the mean over the copies.
        terms = np.sum([result.losses[name] for name in LOSS_NAMES if name != "total"], axis=0)
        np.testing.assert_allclose(result.losses["total"], terms, rtol=1e-4, atol=1e-5)
    # The reported activation is the copies' mean: measure each panel of the strip.
    images = np.concatenate([panels(r.image) for r in results]).astype(np.float32) / 255.0
    maps = keras.Model(engine.model.inputs, engine.model.outputs[1])([images]).numpy()
    per_copy = maps.mean(axis=(1, 2))[np.arange(len(maps)), np.repeat(FILTERS, COPIES)]
    np.testing.assert_allclose([r.activation for r in results], per_copy.reshape(-1, COPIES).mean(axis=1),
                               rtol=0.02, atol=0.02)  # uint8 rounding


def test_the_penalty_lowers_similarity_and_keeps_the_activation(engine: ActivationMaximizer) -> None:
    """The default weight against weight 0, same seeds: the Gram matrices move apart (measured: cosine
    1.0 -> 0.3), while each filter keeps most of its gain over the start (measured: 94% and 80%),
    more than a noise standard deviation."""
    free = list(engine.render(FILTERS, Setting(steps=60, diversity=COPIES, diversity_weight=0), RANGE))
    pushed = list(engine.render(FILTERS, Setting(steps=60, diversity=COPIES), RANGE))
    assert all(not any(r.losses["diversity"]) for r in free)
    pixel = Pixel(SHAPE, RANGE)
    starts = np.stack([pixel.start(seed, f) for seed, f in copy_seeds(Setting(diversity=COPIES), FILTERS)])
    start_maps = keras.Model(engine.model.inputs, engine.model.outputs[1])([starts]).numpy().mean(axis=(1, 2))
    start = start_maps[np.arange(len(starts)), np.repeat(FILTERS, COPIES)].reshape(-1, COPIES).mean(axis=1)
    noise = engine.unit_scale(RANGE)[FILTERS]
    for f, before, spread, a, b in zip(FILTERS, start, noise, free, pushed):
        assert gram_similarity(engine, b.image) < gram_similarity(engine, a.image) - 0.5, f
        assert b.activation - before > max(spread, 0.7 * (a.activation - before)), (f, a.activation, b.activation)


def test_one_copy_has_no_diversity_term(engine: ActivationMaximizer) -> None:
    plain = next(iter(engine.render([1], Setting(steps=30), RANGE)))
    weighted = next(iter(engine.render([1], Setting(steps=30, diversity_weight=5), RANGE)))
    assert plain.image.shape == SHAPE and not any(plain.losses["diversity"])
    np.testing.assert_array_equal(plain.image, weighted.image)  # the weight of a missing term changes nothing


def test_a_strip_start_is_split_into_its_copies_and_an_image_starts_them_all(engine: ActivationMaximizer) -> None:
    """One step keeps the start (the returned image is the lowest-total step's input: the first)."""
    one_step = Setting(steps=1, diversity=COPIES)
    strip = np.random.default_rng(2).integers(0, 256, (16, 16 * COPIES, 3), dtype=np.uint8)
    image = strip[:, :16]
    again, tiled = engine.render([1, 2], one_step, RANGE, starts=[strip, image])
    np.testing.assert_array_equal(again.image, strip)
    np.testing.assert_array_equal(tiled.image, np.tile(image, (1, COPIES, 1)))
    # One copy per filter from a strip: its first panel.
    (first,) = engine.render([1], Setting(steps=1), RANGE, starts=[strip])
    np.testing.assert_array_equal(first.image, image)


def test_retry_re_renders_a_whole_strip(engine: ActivationMaximizer) -> None:
    strong_tv = Setting(steps=20, tv_weight=100, diversity=2, retry="auto")
    results = list(engine.render(FILTERS, strong_tv, RANGE))
    assert any(r.retried_because for r in results)
    for result in results:
        assert result.image.shape == (16, 32, 3)
        expected = 40 if result.retried_because else 20  # both stages' steps
        assert all(len(values) == expected for values in result.losses.values())


def test_batches_hold_whole_groups_of_copies(engine: ActivationMaximizer) -> None:
    view = engine.view("channel")
    assert 1 <= engine.batch_size(view, COPIES) <= engine.batch_size(view) // COPIES
    assert engine.batch_size(view, 10**9) == 1
